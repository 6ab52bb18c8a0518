// The bench, start to end: Corral on the embedded default (TLS, generated cluster), the same
// measures against real Ganeti when it answers, the bare Node HTTPS ceiling, a seeded large
// cluster, optional CPU profiles; results as JSON and Markdown in bench/results/.
// Run it with `bash bench/run.sh [options]` (see bench/README.md); `--help` lists options.

import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ha1Password } from "../src/api/http/users.ts";
import { dataPaths } from "../src/master/datadir.ts";
import { SqliteJobStore } from "../src/jobs/writer.ts";
import { calcJobStatus } from "../src/model/job.ts";
import { openDatabase } from "../src/store/sqlite.ts";
import { startCeiling, startHostile, runNodeScript } from "./lib/children.ts";
import { connectGaneti, GANETI_BASE, stopGaneti, type GanetiHandle } from "./lib/ganeti.ts";
import { Client, sleep, type Target } from "./lib/http.ts";
import { createInstancesViaApi } from "./lib/instances.ts";
import { removeTags, singleJobs, tagBurst, tagBurstSeries, type BurstResult, type JobClientKind, type SingleResult } from "./lib/jobs.ts";
import type { EngineResult } from "./lib/engine.ts";
import { describeMachine, loadAverage } from "./lib/machine.ts";
import { cpuSecondsOf, memoryOf, startMasterProc, type RunningMaster } from "./lib/master.ts";
import { summarizeProfile, type ProfileSummary } from "./lib/profile.ts";
import {
  checkTargets, isAvailable, markdown, profileMarkdown, unavailable, vmMarkdown, migrateMarkdown,
  type BenchResult, type BigCluster, type ClusterBuild, type Durability, type HostileRun, type Maybe, type TimedRequests,
} from "./lib/report.ts";
import { MASTER_NODE, instanceName } from "./lib/seed.ts";
import { percentiles } from "./lib/stats.ts";
import { migrateMeasure, type MigrateMeasure } from "./lib/migrate.ts";
import { eventsMeasure, type EventsMeasure } from "./lib/events.ts";
import { eventsMarkdown } from "./lib/events-report.ts";
import { vmMeasure, type VmMeasure } from "./lib/vm.ts";
import { runWrk, type WrkResult } from "./lib/wrk.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const REPO = resolve(BENCH_DIR, "..");
const WRITER = { name: "writer", password: "writerpass" };
/** The hostile run's fuzz also speaks as a read-only user and as one with no access option. */
const READER = { name: "reader", password: "readerpass" };
const NOBODY = { name: "nobody", password: "nobodypass" };

const HELP = `Usage: bash bench/run.sh [options]

  --tiny                 a seconds-long run at toy sizes (what bench/bench.test.ts runs)
  --duration S           wrk duration per HTTP measure (default 20)
  --connections N        wrk connections (default 8)
  --threads N            wrk threads (default 1; the machine has few cores)
  --instances N          instances of the small cluster (default 24, as the Ganeti reference)
  --build seed|api       how the small cluster gets its instances (default seed; api uses
                         POST /2/instances when it exists and falls back to seeding)
  --jobs N --clients N   tag-job burst (default 50 jobs from 8 clients)
  --job-client lean|node how the job measures' clients speak HTTP: lean (default) one
                         hand-written keep-alive connection each; node node:https's Agent
                         (what the bench used before; it costs the bench more CPU)
  --bursts N             measured bursts after one unmeasured first burst (default 3; the
                         median counts, the first is reported as "first burst")
  --single N             one-at-a-time jobs on an idle master (default 30, after 3 warm-up)
  --hostile-seconds S    the hostile run (issue 9): an attacker process holds slow clients
                         and sends a seeded fuzz stream for S seconds (default 20) while the
                         tag-job bursts run again; jobs/s under attack vs quiet
  --slow-clients N       slow-body sockets of the attack (default 300: half anonymous
                         GET /version, half PUT /2/tags as the write user)
  --slow-header-clients N  sockets that trickle their headers (default slow clients / 10)
  --fuzz-concurrency N   fuzz requests in flight (default 4)
  --hostile-seed N       the fuzz generator's seed (default 9)
  --fuzz-who LIST        who the fuzz speaks as (default writer,reader,anonymous; e.g.
                         reader,anonymous leaves out the write user's jobs)
  --no-hostile           skip the hostile run
  --big-nodes N --big-instances N
                         the large seeded cluster (default 2000 nodes, 100000 instances)
  --big-disk-template T  diskless or file (default file: one 1 GiB disk each)
  --no-big               skip the large cluster
  --vm-runs N            the VM measure (issue 10): N kvm starts through Corral alternating
                         with N raw QEMU starts of the same command line, test guest, TCG
                         (default 3; each boot is ~10-15 s); then the master's memory with
                         0, 1 and 2 VMs. Needs QEMU and the test guest (scripts/test-guest.sh)
  --no-vm                skip the VM measure (always skipped in --tiny runs)
  --only-vm              only the VM measure (results/<time>-vm.json and .md)
  --migrate-runs N       the migration measure (issue 11): per case, N live migrations each
                         way of a 256 MiB guest between two agents in two network namespaces
                         through Corral's migrate job, then N each way of the same QEMU command
                         line driven raw over QMP (default 2). Needs root, QEMU and the test guest
  --migrate-cases LIST   only these migration cases (ids: idle-defaults, idle-ganeti, dirty-defaults,
                         dirty-240ms, dirty-postcopy, dirty-ganeti, and the later ones of bench/lib/migrate.ts)
  --no-migrate           skip the migration measure (always skipped in --tiny runs)
  --only-migrate         only the migration measure (results/<time>-migrate.json and .md)
  --listeners N          the event stream measure: on a master of its own, tag-job bursts of
                         --events-jobs (default 500) with no listener, with N listeners on
                         GET /corral/1/events (default 1000; a process of their own), and
                         with none again; jobs/s ratio, CPU per job, every job's end delivered
  --listeners-nice N     the listeners' process's nice value (default 19: it stands in for
                         clients on other machines; 0 lets it compete with the master)
  --listeners-encoding E gzip (default: what browsers ask for) or identity
  --listeners-query Q    the listeners' filter, e.g. kinds=network (default: none, all events)
  --no-events            skip the event stream measure
  --only-events          only the event stream measure (results/<time>-events.json and .md)
  --with-ganeti          start the Ganeti reference (shared/tools/ganeti-reference/up.sh) if
                         its RAPI does not answer, and stop it again afterwards
  --no-ganeti            do not measure Ganeti even if it answers
  --ganeti-url URL       Ganeti's RAPI (default ${GANETI_BASE})
  --profile              also run each Corral measure under node --cpu-prof and summarize
  --profile-only         only the profiled runs (results/<time>-profile.md and .json)
  --port N               Corral's port (default 15080; 0 = any free port)
  --ceiling-port N       the bare Node server's port (default 15081; 0 = any)
  --out DIR              where results go (default bench/results)
  --no-readme            do not update the table in bench/README.md
  --keep                 keep the data directories (bench/.work/...)
  --render FILE.json     only rewrite FILE.md from a result file (after the report changed);
                         for results/latest.json also the table in this README
`;

interface Options {
  mode: string;
  duration: number;
  connections: number;
  threads: number;
  instances: number;
  build: "seed" | "api";
  jobs: number;
  clients: number;
  jobClient: JobClientKind;
  bursts: number;
  single: number;
  warmup: number;
  hostile: boolean;
  hostileSeconds: number;
  slowClients: number;
  slowHeaderClients: number;
  fuzzConcurrency: number;
  hostileSeed: number;
  fuzzWho: string[];
  bigNodes: number;
  bigInstances: number;
  bigDiskTemplate: "diskless" | "file";
  bigStarts: number;
  bigLists: number;
  noBig: boolean;
  vm: boolean;
  vmRuns: number;
  onlyVm: boolean;
  migrate: boolean;
  migrateRuns: number;
  migrateCases: string[] | undefined;
  onlyMigrate: boolean;
  events: boolean;
  listeners: number;
  listenersNice: number;
  listenersEncoding: "gzip" | "identity";
  listenersQuery: string | undefined;
  eventsJobs: number;
  onlyEvents: boolean;
  withGaneti: boolean;
  noGaneti: boolean;
  ganetiUrl: string;
  profile: boolean;
  profileOnly: boolean;
  profileJobs: number;
  port: number;
  ceilingPort: number;
  out: string;
  readme: boolean;
  keep: boolean;
}

function jobClientKind(value: string | undefined): JobClientKind {
  if (value === undefined || value === "lean" || value === "node") return value ?? "lean";
  throw new Error(`--job-client: lean or node, not ${value}`);
}

function parseOptions(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      tiny: { type: "boolean" },
      duration: { type: "string" },
      connections: { type: "string" },
      threads: { type: "string" },
      instances: { type: "string" },
      build: { type: "string" },
      jobs: { type: "string" },
      clients: { type: "string" },
      "job-client": { type: "string" },
      bursts: { type: "string" },
      single: { type: "string" },
      "hostile-seconds": { type: "string" },
      "slow-clients": { type: "string" },
      "slow-header-clients": { type: "string" },
      "fuzz-concurrency": { type: "string" },
      "hostile-seed": { type: "string" },
      "fuzz-who": { type: "string" },
      "no-hostile": { type: "boolean" },
      "big-nodes": { type: "string" },
      "big-instances": { type: "string" },
      "big-disk-template": { type: "string" },
      "no-big": { type: "boolean" },
      "vm-runs": { type: "string" },
      "no-vm": { type: "boolean" },
      "only-vm": { type: "boolean" },
      "migrate-runs": { type: "string" },
      "migrate-cases": { type: "string" },
      "no-migrate": { type: "boolean" },
      "only-migrate": { type: "boolean" },
      listeners: { type: "string" },
      "listeners-nice": { type: "string" },
      "listeners-encoding": { type: "string" },
      "listeners-query": { type: "string" },
      "events-jobs": { type: "string" },
      "no-events": { type: "boolean" },
      "only-events": { type: "boolean" },
      "with-ganeti": { type: "boolean" },
      "no-ganeti": { type: "boolean" },
      "ganeti-url": { type: "string" },
      profile: { type: "boolean" },
      "profile-only": { type: "boolean" },
      port: { type: "string" },
      "ceiling-port": { type: "string" },
      out: { type: "string" },
      "no-readme": { type: "boolean" },
      keep: { type: "boolean" },
      render: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (v.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  if (v.render) {
    renderResult(v.render, !(v["no-readme"] ?? false));
    process.exit(0);
  }
  const tiny = v.tiny ?? false;
  const num = (name: string, value: string | undefined, fallback: number, min = 0): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} needs a whole number ≥ ${min}, not '${value}'`);
    return n;
  };
  const template = v["big-disk-template"] ?? "file";
  if (template !== "diskless" && template !== "file") throw new Error(`--big-disk-template: diskless or file, not '${template}'`);
  const listenersEncoding = v["listeners-encoding"] ?? "gzip";
  if (listenersEncoding !== "gzip" && listenersEncoding !== "identity") throw new Error(`--listeners-encoding: gzip or identity, not '${listenersEncoding}'`);
  const build = v.build ?? "seed";
  if (build !== "seed" && build !== "api") throw new Error(`--build: seed or api, not '${build}'`);
  const slowClients = num("slow-clients", v["slow-clients"], tiny ? 40 : 300);
  const custom = argv.some((a) => !["--tiny", "--with-ganeti", "--no-ganeti", "--profile", "--profile-only", "--no-readme", "--keep"].includes(a));
  return {
    mode: v["profile-only"] ? "profile" : v["only-vm"] ? "vm" : v["only-migrate"] ? "migrate" : v["only-events"] ? "events" : tiny ? "tiny" : custom ? "custom" : "full",
    duration: num("duration", v.duration, tiny ? 1 : 20, 1),
    connections: num("connections", v.connections, 8, 1),
    threads: num("threads", v.threads, 1, 1),
    instances: num("instances", v.instances, tiny ? 4 : 24),
    build,
    jobs: num("jobs", v.jobs, tiny ? 10 : 50, 1),
    clients: num("clients", v.clients, tiny ? 4 : 8, 1),
    jobClient: jobClientKind(v["job-client"]),
    bursts: num("bursts", v.bursts, tiny ? 1 : 3, 1),
    single: num("single", v.single, tiny ? 5 : 30, 1),
    warmup: tiny ? 1 : 3,
    hostile: !(v["no-hostile"] ?? false),
    hostileSeconds: num("hostile-seconds", v["hostile-seconds"], tiny ? 4 : 20, 1),
    slowClients,
    slowHeaderClients: num("slow-header-clients", v["slow-header-clients"], Math.round(slowClients / 10)),
    fuzzConcurrency: num("fuzz-concurrency", v["fuzz-concurrency"], 4),
    hostileSeed: num("hostile-seed", v["hostile-seed"], 9),
    fuzzWho: (v["fuzz-who"] ?? "writer,reader,anonymous").split(","),
    bigNodes: num("big-nodes", v["big-nodes"], tiny ? 20 : 2000, 1),
    bigInstances: num("big-instances", v["big-instances"], tiny ? 200 : 100_000),
    bigDiskTemplate: template,
    bigStarts: tiny ? 1 : 3,
    bigLists: tiny ? 2 : 5,
    noBig: v["no-big"] ?? false,
    // A TCG boot takes ~10 s: far too long for the seconds-long --tiny run inside the test suite.
    vm: !(v["no-vm"] ?? tiny),
    vmRuns: num("vm-runs", v["vm-runs"], 3, 1),
    onlyVm: v["only-vm"] ?? false,
    // Live migrations of TCG guests take minutes in all: not for the seconds-long --tiny run.
    migrate: !(v["no-migrate"] ?? tiny),
    migrateRuns: num("migrate-runs", v["migrate-runs"], 2, 1),
    migrateCases: v["migrate-cases"]?.split(",").filter((c) => c !== ""),
    onlyMigrate: v["only-migrate"] ?? false,
    events: !(v["no-events"] ?? false),
    listeners: num("listeners", v.listeners, tiny ? 20 : 1000, 1),
    listenersNice: num("listeners-nice", v["listeners-nice"], 19),
    listenersEncoding,
    listenersQuery: v["listeners-query"],
    eventsJobs: num("events-jobs", v["events-jobs"], tiny ? 10 : 500, 1),
    onlyEvents: v["only-events"] ?? false,
    withGaneti: v["with-ganeti"] ?? false,
    noGaneti: v["no-ganeti"] ?? tiny,
    ganetiUrl: v["ganeti-url"] ?? GANETI_BASE,
    profile: (v.profile ?? false) || (v["profile-only"] ?? false),
    profileOnly: v["profile-only"] ?? false,
    profileJobs: tiny ? 20 : 500,
    port: num("port", v.port, tiny ? 0 : 15080),
    ceilingPort: num("ceiling-port", v["ceiling-port"], tiny ? 0 : 15081),
    out: resolve(v.out ?? join(BENCH_DIR, "results")),
    readme: !(v["no-readme"] ?? tiny),
    keep: v.keep ?? false,
  };
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function usersFileText(): string {
  return [
    "# bench users (the Ganeti reference cluster's writer, same {HA1} scheme; the hostile run's reader and no-access user)",
    `${WRITER.name} ${ha1Password(WRITER.name, WRITER.password)} write,read`,
    `${READER.name} ${ha1Password(READER.name, READER.password)} read`,
    `${NOBODY.name} ${ha1Password(NOBODY.name, NOBODY.password)}`,
    "",
  ].join("\n");
}

/** A fresh data directory seeded by the separate seed script (the master is not running). */
async function seed(dir: string, nodes: number, instances: number, template: "diskless" | "file"): Promise<ClusterBuild> {
  const out = await runNodeScript("./seed.ts", ["--data-dir", dir, "--nodes", String(nodes), "--instances", String(instances), "--disk-template", template], 30 * 60_000);
  const r = JSON.parse(out) as { nodes: number; instances: number; disk_template: string; seconds: number };
  writeFileSync(join(dir, "bench-users"), usersFileText(), { mode: 0o600 });
  return { nodes: r.nodes, instances: r.instances, disk_template: r.disk_template, build: "seeded", build_s: r.seconds };
}

function startCorral(dir: string, port: number, cpuProfDir?: string): Promise<RunningMaster> {
  return startMasterProc({ dataDir: dir, port, usersFile: join(dir, "bench-users"), nodeName: MASTER_NODE, cpuProfDir });
}

const corralTarget = (m: RunningMaster): Target => ({ base: m.base, auth: `${WRITER.name}:${WRITER.password}` });

/** Whether a route answers at all (404: no such resource; 501: no such method on it). */
async function routeExists(t: Target, method: string, path: string, body?: unknown): Promise<{ ok: boolean; status: number }> {
  const c = new Client(t, 1);
  try {
    const r = await c.request(method, path, body);
    return { ok: r.status !== 404 && r.status !== 501, status: r.status };
  } finally {
    c.close();
  }
}

/** The small cluster, running: seeded, or built through the API when asked and possible. */
async function smallCluster(o: Options, dir: string): Promise<{ master: RunningMaster; cluster: ClusterBuild }> {
  if (o.build === "api") {
    const base = await seed(dir, 1, 0, "diskless");
    const master = await startCorral(dir, o.port);
    let probe: { ok: boolean; status: number };
    try {
      probe = await routeExists(corralTarget(master), "POST", "/2/instances?dry-run=1", { __version__: 1 });
      if (probe.ok) {
        const t0 = performance.now();
        await createInstancesViaApi(corralTarget(master), o.instances, MASTER_NODE);
        return { master, cluster: { ...base, instances: o.instances, build: "api", build_s: (performance.now() - t0) / 1000 } };
      }
    } catch (err) {
      await master.stop();
      throw err;
    }
    log(`POST /2/instances answered ${probe.status}: not available yet, seeding the store instead`);
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
    const cluster = await seed(dir, 1, o.instances, "diskless");
    cluster.note = `POST /2/instances not available yet (answered ${probe.status})`;
    return { master: await startCorral(dir, o.port), cluster };
  }
  const cluster = await seed(dir, 1, o.instances, "diskless");
  cluster.note = "POST /2/instances not used";
  return { master: await startCorral(dir, o.port), cluster };
}

async function wrk(o: Options, base: string, path: string, auth?: string, durationS = o.duration): Promise<WrkResult> {
  return await runWrk({ url: base + path, connections: o.connections, threads: o.threads, durationS, auth, timeoutS: 30 });
}

/** wrk on a path, or why not: a route that does not exist yet is "not available yet". */
async function wrkIfAvailable(o: Options, t: Target, path: string, who: string): Promise<Maybe<WrkResult>> {
  const probe = await routeExists(t, "GET", path);
  if (!probe.ok) return unavailable(`not available yet (${who} answers ${probe.status})`);
  if (probe.status !== 200) return unavailable(`${who} answers ${probe.status}`);
  return await wrk(o, t.base, path);
}

/**
 * Issue 9's hostile run: lib/hostile.ts attacks the master from a process of its own (slow
 * clients and a fuzz stream, bounded by --hostile-seconds, stopping by itself) and, once the
 * attack is at full strength, the tag-job bursts of the quiet measure run again, spread over
 * the attack's window. The attacker, the master and this process share the machine's cores.
 */
async function hostileMeasure(o: Options, m: RunningMaster, quietJobsPerS: number): Promise<HostileRun> {
  const t = corralTarget(m);
  log(
    `hostile: ${o.slowClients} slow-body and ${o.slowHeaderClients} slow-header clients, fuzz ${o.fuzzConcurrency} in flight, ` +
      `${o.hostileSeconds} s; ${o.bursts} burst(s) of ${o.jobs} tag jobs under it`,
  );
  const lastJobBefore = Math.max(0, ...(await jobList(t)).map((j) => j.id));
  const masterCpu0 = cpuSecondsOf(m.pid);
  const benchCpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const attack = await startHostile({
    base: m.base,
    seconds: o.hostileSeconds,
    slow: o.slowClients,
    slowHeaders: o.slowHeaderClients,
    concurrency: o.fuzzConcurrency,
    seed: o.hostileSeed,
    who: o.fuzzWho,
    users: Object.fromEntries([WRITER, READER, NOBODY].map((u) => [u.name, `${u.name}:${u.password}`])),
    existing: { instance_name: instanceName(0), node_name: MASTER_NODE, group_name: "default", job_id: "1", disk_index: "0", network_name: "nosuch", filter_uuid: "nosuch" },
  });
  const attackEnd = attack.endsAt;
  const ready = performance.now();
  // Burst i starts at ready + i × step: the bursts sample the attack at different moments
  // (slow sockets reconnecting, fuzz jobs queued) and all start before its last fifth.
  const step = (0.8 * Math.max(0, attackEnd - ready)) / o.bursts;
  const runs: BurstResult[] = [];
  const ends: number[] = [];
  try {
    for (let i = 0; i < o.bursts; i++) {
      await sleep(Math.max(0, ready + i * step - performance.now()));
      runs.push(await tagBurst(t, { jobs: o.jobs, clients: o.clients, tagPrefix: "bench-h-", timeoutS: 300, client: o.jobClient }));
      ends.push(performance.now());
    }
  } catch (err) {
    attack.kill();
    throw err;
  }
  const memory = memoryOf(m.pid);
  const summary = await attack.finished;
  const benchCpu = process.cpuUsage(benchCpu0);
  const cpu = {
    wall_s: round2((performance.now() - wall0) / 1000),
    master_s: round2(cpuSecondsOf(m.pid) - masterCpu0),
    attacker_s: summary.cpu_s,
    bench_s: round2((benchCpu.user + benchCpu.system) / 1e6),
  };
  const byRate = [...runs].sort((a, b) => a.jobs_per_s - b.jobs_per_s);
  const median = byRate[Math.floor((byRate.length - 1) / 2)];
  // Jobs the attack made the master submit (the fuzz's writer, and public GETs that are jobs).
  const ours = new Set(runs.flatMap((r) => r.job_ids));
  const others = (await jobList(t, true)).filter((j) => j.id > lastJobBefore && !ours.has(j.id));
  const byOp: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  for (const j of others) {
    const op = String(j.summary?.[0] ?? "?").replace(/\(.*$/s, "");
    byOp[op] = (byOp[op] ?? 0) + 1;
    byStatus[String(j.status)] = (byStatus[String(j.status)] ?? 0) + 1;
  }
  return {
    cores: availableParallelism(),
    attack_ready_ms: attack.readyMs,
    attack: summary,
    quiet_jobs_per_s: quietJobsPerS,
    burst: median,
    runs_jobs_per_s: runs.map((r) => r.jobs_per_s),
    ratio: Math.round((median.jobs_per_s / quietJobsPerS) * 1000) / 1000,
    all_under_attack: ends.every((e) => e <= attackEnd),
    memory_after_attack: memory,
    cpu,
    attack_jobs: { count: others.length, by_op: byOp, by_status: byStatus },
    job_ids: runs.flatMap((r) => r.job_ids),
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** The master's job list (ids; with `bulk`, status and summary too). */
async function jobList(t: Target, bulk = false): Promise<{ id: number; status?: string; summary?: string[] }[]> {
  const c = new Client(t, 1);
  try {
    return (await c.json("GET", bulk ? "/2/jobs?bulk=1" : "/2/jobs", undefined, 120_000)) as { id: number; status?: string; summary?: string[] }[];
  } finally {
    c.close();
  }
}

/** After SIGKILL: every acknowledged job is in the database, finished with success. */
function checkDurable(dir: string, ids: number[]): Durability {
  const db = openDatabase(dataPaths(dir).database);
  try {
    const jobs = new Map(new SqliteJobStore(db).loadAll().map((j) => [j.id, j]));
    const missing = ids.filter((id) => !jobs.has(id));
    const notSuccess = ids.filter((id) => jobs.has(id) && calcJobStatus(jobs.get(id)!) !== "success");
    return { checked: ids.length, missing, not_success: notSuccess, ok: missing.length === 0 && notSuccess.length === 0 };
  } finally {
    db.close();
  }
}

async function timedRequests(t: Target, path: string, count: number, budgetS: number): Promise<TimedRequests> {
  const c = new Client(t, 1);
  const times: number[] = [];
  let bytes = 0;
  let rows = 0;
  const stopAt = Date.now() + budgetS * 1000;
  try {
    for (let i = 0; i < count && (i === 0 || Date.now() < stopAt); i++) {
      const t0 = performance.now();
      const r = await c.request("GET", path, undefined, 120_000);
      times.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}`);
      bytes = r.bytes;
      if (i === 0) rows = (JSON.parse(r.text) as unknown[]).length;
    }
  } finally {
    c.close();
  }
  return { path, ms: percentiles(times), bytes, rows };
}

async function bigCluster(o: Options, dir: string): Promise<BigCluster> {
  log(`seeding ${o.bigInstances} instances on ${o.bigNodes} nodes (${o.bigDiskTemplate})`);
  const cluster = await seed(dir, o.bigNodes, o.bigInstances, o.bigDiskTemplate);
  cluster.note = "seeded through the ConfigStore before the master started";
  const db = dataPaths(dir).database;
  const dbMib = (statSync(db).size + (existsSync(db + "-wal") ? statSync(db + "-wal").size : 0)) / 2 ** 20;
  log("large cluster: the query engine's bulk instance encoder, in a process of its own");
  const engine = JSON.parse(await runNodeScript("./engine.ts", ["--data-dir", dir, "--repeat", String(o.bigLists)], 10 * 60_000)) as Maybe<EngineResult>;
  const startups: { listening_ms: number; ready_ms: number }[] = [];
  let master: RunningMaster | undefined;
  try {
    for (let i = 0; i < o.bigStarts; i++) {
      if (master) await master.stop();
      master = await startCorral(dir, o.port);
      startups.push({ listening_ms: master.listeningMs, ready_ms: master.readyMs });
      log(`large cluster: master ready in ${master.readyMs} ms`);
    }
    const m = master!;
    const t = corralTarget(m);
    const memoryAfterStart = memoryOf(m.pid);
    const lists: Maybe<TimedRequests>[] = [];
    for (const path of ["/2/instances?bulk=1", "/2/instances"]) {
      const probe = await routeExists(t, "GET", "/2/instances");
      lists.push(probe.ok ? await timedRequests(t, path, o.bigLists, 120) : unavailable(`not available yet (Corral answers ${probe.status})`));
    }
    const memoryAfterLists = memoryOf(m.pid);
    const info = await wrk(o, m.base, "/2/info", undefined, Math.min(o.duration, 5));
    const single = await singleJobs(t, { jobs: Math.min(o.single, 10), warmup: 1, tag: "bench-big", timeoutS: 300, client: o.jobClient });
    await removeTags(t, ["bench-big"]);
    const sorted = startups.map((s) => s.ready_ms).sort((a, b) => a - b);
    return {
      cluster,
      db_mib: Math.round(dbMib * 10) / 10,
      startups,
      startup_ms: sorted[Math.floor((sorted.length - 1) / 2)],
      memory_after_start: memoryAfterStart,
      engine,
      bulk_list: lists[0],
      name_list: lists[1],
      memory_after_lists: memoryAfterLists,
      info,
      single_job: single,
    };
  } finally {
    await master?.stop();
  }
}

/** Each Corral measure again, alone, under node --cpu-prof; summaries by measure. */
async function profiles(o: Options, smallDir: string, bigDir: string | undefined, profDir: string): Promise<Record<string, ProfileSummary>> {
  const out: Record<string, ProfileSummary> = {};
  /** `body` returns false when the measure does not exist (yet): no summary then. */
  const profiled = async (name: string, dir: string, body: (m: RunningMaster) => Promise<boolean | void>) => {
    // (NODE_OPTIONS is split at spaces: the directory name must have none.)
    const d = join(profDir, name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, ""));
    mkdirSync(d, { recursive: true });
    log(`profiling: ${name}`);
    const m = await startCorral(dir, o.port, d);
    let ran: boolean | void;
    try {
      ran = await body(m);
    } finally {
      await m.stop();
    }
    if (ran === false) {
      log(`${name}: not available yet, no profile`);
      return;
    }
    // The master's main thread wrote the largest profile; bin/corral's short-lived helper
    // processes and the job writer's thread write their own small ones.
    const file = readdirSync(d)
      .filter((f) => f.endsWith(".cpuprofile"))
      .sort((a, b) => statSync(join(d, b)).size - statSync(join(d, a)).size)[0];
    if (file) out[name] = summarizeProfile(join(d, file));
    else log(`no profile written for ${name}`);
  };
  await profiled("GET /2/info (wrk)", smallDir, async (m) => void (await wrk(o, m.base, "/2/info")));
  await profiled("GET /2/instances?bulk=1 (wrk)", smallDir, async (m) => {
    const probe = await routeExists(corralTarget(m), "GET", "/2/instances");
    if (!probe.ok) return false;
    await wrk(o, m.base, "/2/instances?bulk=1");
  });
  await profiled(`${o.profileJobs} tag jobs from ${o.clients} clients`, smallDir, async (m) => {
    await tagBurst(corralTarget(m), { jobs: o.profileJobs, clients: o.clients, tagPrefix: "bench-prof-", timeoutS: 600, client: o.jobClient });
    await removeTags(corralTarget(m), Array.from({ length: o.clients }, (_, k) => `bench-prof-${k}`));
  });
  if (o.hostile) {
    // The attack's whole window is in this profile: the bursts, the fuzz and the slow clients.
    await profiled(`${o.bursts} bursts of ${o.jobs} tag jobs under attack (${o.hostileSeconds} s)`, smallDir, async (m) => {
      const quiet = await tagBurstSeries(corralTarget(m), { jobs: o.jobs, clients: o.clients, tagPrefix: "bench-prof-", timeoutS: 300, repeats: o.bursts, client: o.jobClient });
      await hostileMeasure(o, m, quiet.median.jobs_per_s);
      await removeTags(corralTarget(m), Array.from({ length: o.clients }, (_, k) => [`bench-prof-${k}`, `bench-h-${k}`]).flat());
    });
  }
  await profiled(`${o.profileJobs / 2} single jobs, idle master`, smallDir, async (m) => {
    await singleJobs(corralTarget(m), { jobs: o.profileJobs / 2, warmup: 0, tag: "bench-prof-single", timeoutS: 600, client: o.jobClient });
    await removeTags(corralTarget(m), ["bench-prof-single"]);
  });
  if (bigDir) {
    const big = `${o.bigInstances} instances on ${o.bigNodes} nodes`;
    await profiled(`${big}: start-up, then the bulk list`, bigDir, async (m) => {
      const probe = await routeExists(corralTarget(m), "GET", "/2/instances");
      if (probe.ok) await timedRequests(corralTarget(m), "/2/instances?bulk=1", o.bigLists, 120);
    });
  }
  return out;
}

async function ganetiMeasures(o: Options, g: GanetiHandle) {
  const t = g.target;
  log("Ganeti: GET /2/info");
  const info = await wrk(o, t.base, "/2/info");
  log("Ganeti: GET /2/instances?bulk=1");
  const bulk = await wrkIfAvailable(o, t, "/2/instances?bulk=1", "Ganeti");
  log(`Ganeti: ${o.jobs} tag jobs from ${o.clients} clients, ${o.bursts + 1} times`);
  const burst = await tagBurstSeries(t, { jobs: o.jobs, clients: o.clients, tagPrefix: "bench-", timeoutS: 900, repeats: o.bursts, client: o.jobClient });
  log(`Ganeti: ${o.single} single jobs`);
  const single = await singleJobs(t, { jobs: o.single, warmup: o.warmup, tag: "bench-single", timeoutS: 900, client: o.jobClient });
  await removeTags(t, [...Array.from({ length: o.clients }, (_, k) => `bench-${k}`), "bench-single"]);
  return { info, bulk, burst, single };
}

/** The VM measure on a master of its own (a fresh data directory, kvm enabled over RAPI). */
async function vmRun(o: Options, work: string): Promise<Maybe<VmMeasure>> {
  if (!o.vm) return unavailable(o.mode === "tiny" ? "skipped in --tiny runs (one TCG boot takes ~10 s)" : "skipped (--no-vm)");
  return inOwnDir(join(work, "vm"), "VM measure", (dir, usersFile) => vmMeasure({
    runs: o.vmRuns, workDir: dir, auth: `${WRITER.name}:${WRITER.password}`, log,
    startMaster: (dataDir) => startMasterProc({ dataDir, port: 0, usersFile, nodeName: MASTER_NODE }),
  }));
}

/** Runs a measure in a directory of its own with the bench's users file; a failure is recorded, not thrown. */
async function inOwnDir<T extends object>(dir: string, what: string, measure: (dir: string, usersFile: string) => Promise<Maybe<T>>): Promise<Maybe<T>> {
  mkdirSync(dir, { recursive: true });
  const usersFile = join(dir, "bench-users");
  writeFileSync(usersFile, usersFileText(), { mode: 0o600 });
  try {
    return await measure(dir, usersFile);
  } catch (err) {
    log(`${what} failed: ${(err as Error).stack ?? String(err)}`);
    return unavailable(`failed: ${(err as Error).message.split("\n")[0]}`);
  }
}

/**
 * --only-vm, --only-migrate, --only-events: one measure alone, written as <time>-<kind>.json and .md; the
 * Markdown's text (with the run's header line) is returned for the README.
 */
async function onlyOne<T extends object>(o: Options, stamp: string, work: string, kind: "vm" | "migrate" | "events", title: string, run: () => Promise<Maybe<T>>, render: (m: Maybe<T>) => string): Promise<string> {
  const machine = describeMachine(work, REPO);
  const started = new Date().toISOString();
  const measure = await run();
  const result = { schema: 1, mode: o.mode, started_at: started, finished_at: new Date().toISOString(), machine: { ...machine, loadavg_end: loadAverage() }, options: { ...o, out: undefined }, [kind]: measure };
  const text = render(measure);
  const header = `Run of ${started.slice(0, 16).replace("T", " ")} UTC, Corral ${machine.corral_commit}, ${machine.nproc} × ${machine.cpu_model}, load average ${machine.loadavg_start} at the start, ${loadAverage()} at the end.`;
  writeFileSync(join(o.out, `${stamp}-${kind}.json`), JSON.stringify(result, null, 1) + "\n");
  writeFileSync(join(o.out, `${stamp}-${kind}.md`), `# ${title} ${stamp}\n\n${header}\n\n${text}`);
  process.stdout.write(text);
  log(`results: ${join(o.out, `${stamp}-${kind}.json`)} and .md`);
  return `${header} [results/${stamp}-${kind}.md](results/${stamp}-${kind}.md)\n\n${text}`;
}

/** --only-vm: the VM measure alone. */
async function onlyVm(o: Options, stamp: string, work: string): Promise<void> {
  await onlyOne(o, stamp, work, "vm", "VM measure", () => vmRun(o, work), vmMarkdown);
}

/** The migration measure on a two-node cluster of its own (two namespaces, a veth pair). */
async function migrateRun(o: Options, work: string): Promise<Maybe<MigrateMeasure>> {
  if (!o.migrate) return unavailable(o.mode === "tiny" ? "skipped in --tiny runs (TCG boots and migrations take minutes)" : "skipped (--no-migrate)");
  return inOwnDir(join(work, "migrate"), "migration measure", (dir, usersFile) =>
    migrateMeasure({ runs: o.migrateRuns, cases: o.migrateCases, workDir: dir, usersFile, user: WRITER.name, password: WRITER.password, log }));
}

/** --only-migrate: the migration measure alone; its table also goes into the README's "Live migration" section. */
async function onlyMigrate(o: Options, stamp: string, work: string): Promise<void> {
  const text = await onlyOne(o, stamp, work, "migrate", "Migration measure", () => migrateRun(o, work), migrateMarkdown);
  if (o.readme) updateReadme(undefined, undefined, text);
}

/** The event stream measure on a master of its own (a new cluster). */
async function eventsRun(o: Options, work: string): Promise<Maybe<EventsMeasure>> {
  if (!o.events) return unavailable("skipped (--no-events)");
  return inOwnDir(join(work, "events"), "event stream measure", (dir, usersFile) => eventsMeasure({
    listeners: o.listeners, listenersNice: o.listenersNice, listenersEncoding: o.listenersEncoding, listenersQuery: o.listenersQuery, jobs: o.eventsJobs, clients: o.clients, bursts: o.bursts, jobClient: o.jobClient, auth: `${WRITER.name}:${WRITER.password}`, log,
    startMaster: () => startMasterProc({ dataDir: join(dir, "data"), port: 0, usersFile, nodeName: MASTER_NODE }),
  }));
}

/** --only-events: the event stream measure alone; its table also goes into the README's "Event stream" section. */
async function onlyEvents(o: Options, stamp: string, work: string): Promise<void> {
  const text = await onlyOne(o, stamp, work, "events", "Event stream measure", () => eventsRun(o, work), eventsMarkdown);
  if (o.readme) updateReadme(undefined, undefined, undefined, text);
}

/** --profile-only: seed both clusters, profile each measure, write the summaries. */
async function profileOnly(o: Options, stamp: string, smallDir: string, bigDir: string): Promise<void> {
  await seed(smallDir, 1, o.instances, "diskless");
  if (!o.noBig) {
    log(`seeding ${o.bigInstances} instances on ${o.bigNodes} nodes (${o.bigDiskTemplate})`);
    await seed(bigDir, o.bigNodes, o.bigInstances, o.bigDiskTemplate);
  }
  const profs = await profiles(o, smallDir, o.noBig ? undefined : bigDir, join(BENCH_DIR, ".work", `profiles-${stamp}`));
  const text = profileMarkdown(profs);
  const machine = describeMachine(smallDir, REPO);
  writeFileSync(join(o.out, `${stamp}-profile.json`), JSON.stringify({ machine, options: { ...o, out: undefined }, profiles: profs }, null, 1) + "\n");
  writeFileSync(join(o.out, `${stamp}-profile.md`), `# CPU profiles ${stamp}\n\nCorral ${machine.corral_commit}, ${machine.nproc} × ${machine.cpu_model}, Node ${machine.node}.\n\n${text}`);
  process.stdout.write(text);
}

/** Rewrites the Markdown of a recorded result from its JSON (same name, .md). */
function renderResult(jsonPath: string, readme: boolean): void {
  const r = JSON.parse(readFileSync(jsonPath, "utf8")) as BenchResult;
  r.targets = checkTargets(r);
  const name = jsonPath.replace(/^.*\//, "").replace(/\.json$/, "");
  const profText = r.profiles ? profileMarkdown(r.profiles) : undefined;
  writeFileSync(jsonPath.replace(/\.json$/, ".md"), `# Bench run ${name}\n\n${markdown(r)}${profText ? `\n## CPU profiles\n\n${profText}` : ""}`);
  // results/latest.json is the README's table.
  if (readme && resolve(jsonPath) === join(BENCH_DIR, "results", "latest.json")) updateReadme(markdown(r), undefined);
}

function updateReadme(table: string | undefined, profileText: string | undefined, migrateText?: string, eventsText?: string): void {
  const path = join(BENCH_DIR, "README.md");
  if (!existsSync(path)) return;
  let text = readFileSync(path, "utf8");
  const put = (name: string, body: string) => {
    const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (re.test(text)) text = text.replace(re, (_m, a: string, b: string) => `${a}${body}${b}`);
  };
  if (table !== undefined) put("latest-results", table);
  if (profileText) put("latest-profile", profileText);
  if (migrateText) put("latest-migrate", migrateText);
  if (eventsText) put("latest-events", eventsText);
  writeFileSync(path, text);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const work = join(BENCH_DIR, ".work", `run-${stamp}-${process.pid}`);
  mkdirSync(work, { recursive: true });
  mkdirSync(o.out, { recursive: true });
  const smallDir = join(work, "small");
  const bigDir = join(work, "big");
  const machine = describeMachine(work, REPO);
  log(`mode ${o.mode}; work in ${work}`);

  if (o.onlyVm || o.onlyMigrate || o.onlyEvents) {
    try {
      if (o.onlyMigrate) await onlyMigrate(o, stamp, work);
      if (o.onlyVm) await onlyVm(o, stamp, work);
      if (o.onlyEvents) await onlyEvents(o, stamp, work);
    } finally {
      if (!o.keep) rmSync(work, { recursive: true, force: true });
    }
    return;
  }

  if (o.profileOnly) {
    try {
      await profileOnly(o, stamp, smallDir, bigDir);
    } finally {
      if (!o.keep) rmSync(work, { recursive: true, force: true });
    }
    return;
  }

  let ganeti: GanetiHandle | undefined;
  let ganetiNote: string | undefined;
  let master: RunningMaster | undefined;
  try {
    // ---- Corral, small cluster
    const small = await smallCluster(o, smallDir);
    master = small.master;
    const t = corralTarget(master);
    const startup = { listening_ms: master.listeningMs, ready_ms: master.readyMs };
    log(`Corral ready in ${master.readyMs} ms with ${small.cluster.instances} instances (${small.cluster.build})`);

    log("Corral: GET /2/info");
    const info = await wrk(o, master.base, "/2/info");
    log("Corral: GET /2/instances?bulk=1");
    const bulk = await wrkIfAvailable(o, t, "/2/instances?bulk=1", "Corral");

    log("bare Node HTTPS ceiling with the same /2/info bytes");
    const c = new Client(t, 1);
    const infoBytes = await c.request("GET", "/2/info");
    c.close();
    const bodyFile = join(work, "info.json");
    writeFileSync(bodyFile, infoBytes.text);
    const ceilingProc = await startCeiling({ port: o.ceilingPort, pem: dataPaths(smallDir).rapiPem, body: bodyFile, server: "Corral/0.1.0" });
    let ceiling: WrkResult;
    try {
      ceiling = await wrk(o, `https://127.0.0.1:${ceilingProc.port}`, "/2/info");
    } finally {
      await ceilingProc.stop();
    }

    log(`Corral: ${o.jobs} tag jobs from ${o.clients} clients, ${o.bursts + 1} times`);
    const burst = await tagBurstSeries(t, { jobs: o.jobs, clients: o.clients, tagPrefix: "bench-", timeoutS: 300, repeats: o.bursts, client: o.jobClient });
    log(`Corral: ${o.single} single jobs on an idle master`);
    const single: SingleResult = await singleJobs(t, { jobs: o.single, warmup: o.warmup, tag: "bench-single", timeoutS: 300, client: o.jobClient });
    const memory = memoryOf(master.pid);
    const hostile: Maybe<HostileRun> = o.hostile ? await hostileMeasure(o, master, burst.median.jobs_per_s) : unavailable("skipped (--no-hostile)");
    if (isAvailable(hostile)) log(`hostile: ${hostile.burst.jobs_per_s} jobs/s under attack, ${hostile.quiet_jobs_per_s} quiet (ratio ${hostile.ratio})`);
    const tags = Array.from({ length: o.clients }, (_, k) => [`bench-${k}`, `bench-h-${k}`]).flat();
    await removeTags(t, [...tags, "bench-single"]);
    log("durability: SIGKILL the master, look up every acknowledged job in its database");
    await master.kill();
    master = undefined;
    const durability = checkDurable(smallDir, [...burst.job_ids, ...single.job_ids, ...(isAvailable(hostile) ? hostile.job_ids : [])]);

    // ---- the event stream, on a master of its own
    const events = await eventsRun(o, work);

    // ---- real Ganeti
    let g: Awaited<ReturnType<typeof ganetiMeasures>> | undefined;
    if (o.noGaneti) ganetiNote = o.mode === "tiny" ? "skipped in --tiny runs" : "skipped (--no-ganeti)";
    else {
      try {
        ganeti = await connectGaneti({ base: o.ganetiUrl, start: o.withGaneti, instances: o.instances, log });
        if (!ganeti) ganetiNote = `no RAPI answering at ${o.ganetiUrl} (pass --with-ganeti to start the reference)`;
        else g = await ganetiMeasures(o, ganeti);
      } catch (err) {
        ganetiNote = `failed: ${(err as Error).message.split("\n")[0]}`;
        log(`Ganeti: ${ganetiNote}`);
      }
    }
    const notMeasured = unavailable(ganetiNote ?? "not measured");

    // ---- large cluster
    let big: Maybe<BigCluster> = unavailable("skipped (--no-big)");
    if (!o.noBig) big = await bigCluster(o, bigDir);

    // ---- VMs (issue 10)
    const vm = await vmRun(o, work);

    // ---- live migration (issue 11)
    const migrate = await migrateRun(o, work);

    // ---- profiles
    let profs: Record<string, ProfileSummary> | undefined;
    if (o.profile) profs = await profiles(o, smallDir, o.noBig ? undefined : bigDir, join(BENCH_DIR, ".work", `profiles-${stamp}`));

    const partial: Omit<BenchResult, "targets"> = {
      schema: 1,
      mode: o.mode,
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      machine: { ...machine, loadavg_end: loadAverage() },
      options: { ...o, out: undefined },
      ganeti: g && ganeti
        ? { used: true, url: o.ganetiUrl, version: ganeti.version, instances: ganeti.instances, started_by_bench: ganeti.startedByBench }
        : { used: false, url: o.ganetiUrl, note: ganetiNote },
      small: {
        cluster: small.cluster,
        startup,
        memory_after_measures: memory,
        info: { corral: info, ceiling, ganeti: g?.info ?? notMeasured },
        instances_bulk: { corral: bulk, ganeti: g?.bulk ?? notMeasured },
        tag_burst: {
          corral: burst.median,
          ganeti: g?.burst.median ?? notMeasured,
          corral_first: burst.first,
          ganeti_first: g?.burst.first ?? notMeasured,
          corral_runs_jobs_per_s: burst.runs_jobs_per_s,
          ganeti_runs_jobs_per_s: g?.burst.runs_jobs_per_s ?? [],
          durability,
        },
        single_job: { corral: single, ganeti: g?.single ?? notMeasured },
        hostile,
      },
      big,
      vm,
      migrate,
      events,
      profiles: profs,
    };
    const result: BenchResult = { ...partial, targets: checkTargets(partial) };
    const table = markdown(result);
    const profText = profs ? profileMarkdown(profs) : undefined;
    const name = `${stamp}-${o.mode}`;
    writeFileSync(join(o.out, `${name}.json`), JSON.stringify(result, null, 1) + "\n");
    writeFileSync(join(o.out, `${name}.md`), `# Bench run ${name}\n\n${table}${profText ? `\n## CPU profiles\n\n${profText}` : ""}`);
    writeFileSync(join(o.out, "latest.json"), JSON.stringify(result, null, 1) + "\n");
    writeFileSync(join(o.out, "latest.md"), `# Latest bench run (${name})\n\n${table}`);
    if (o.readme && o.mode !== "tiny") {
      updateReadme(table, profText ? `The profile tables of the latest profiled run: [results/${name}.md](results/${name}.md).\n` : undefined);
    }
    process.stdout.write(table + (profText ? `\n${profText}` : ""));
    log(`results: ${join(o.out, `${name}.json`)} and .md`);
    if (!isAvailable(result.small.instances_bulk.corral)) log("note: GET /2/instances is not available yet in Corral; recorded as such");
  } finally {
    await master?.stop();
    if (ganeti) await stopGaneti(ganeti, log).catch((err: unknown) => log(`down.sh: ${(err as Error).message}`));
    if (!o.keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});


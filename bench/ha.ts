// The bench in etcd mode beside SQLite mode (issue 17; goal: etcd ≥ 50% of SQLite's job
// throughput, reads equal), and the failover times, in one run on this machine. The same small
// cluster (--instances diskless fake instances, created through POST /2/instances on each) is
// served by (a) a SQLite-mode master and (b) an etcd-mode leader on 3 etcd members started here
// (bench's temp dir, stopped by pid), with a second etcd-mode master standing by. Alternating
// rounds (ABBA…, bench/lib/ab.ts), each side: the tag-job burst (bench/lib/jobs.ts: one
// unmeasured burst and --bursts measured ones), one tag job at a time on the idle master, wrk on
// GET /2/info and GET /2/instances?bulk=1 — and on the etcd side the same reads on the standby.
// Then --kills times, while --kill-clients clients (default --clients; 0: idle) submit tag jobs
// round-robin over the running masters (bench/lib/tagload.ts): kill -9 of the leading master,
// standby running → first PUT /2/tags accepted through the standby (as
// test/e2e/etcd-masters.test.ts measures it); the killed master is started again and stands by
// for the next kill. The load's acknowledged jobs must all be found final on the last leader.
//
//   source scripts/node-env.sh && node bench/ha.ts [--jobs 500] [--clients 8] [--bursts 3]
//     [--rounds 2] [--wrk-seconds 10] [--single 30] [--instances 24] [--kills 10] [--kill-clients 8]
//     [--tiny] [--out DIR]
//     [--profile DIR] [--members 3]
//
// --tiny: seconds-long toy sizes (bench/bench.test.ts). --profile DIR: CPU profiles of the SQLite
// master and the etcd leader (whole run; no kills then). --members 1: one etcd member instead of
// three (what the masters cost when etcd's members do not share their cores, as far as one
// machine can show it; not the issue's measure). Writes <time>-ha.json and .md to
// bench/results/ (or --out).

import { join } from "node:path";
import { parseArgs } from "node:util";
import { EtcdCluster } from "../test/support/etcd.ts";
import { abRun, alternating, BURST_OPTIONS, log, median, medianRatio, pairedRatio, round2, type AbSide } from "./lib/ab.ts";
import { Client, sleep, type Target } from "./lib/http.ts";
import { createInstancesViaApi } from "./lib/instances.ts";
import { singleJobs, tagBurstSeries, waitJob } from "./lib/jobs.ts";
import { TagLoad } from "./lib/tagload.ts";
import { describeMachine, loadAverage } from "./lib/machine.ts";
import { cpuSecondsOf, startMasterProc, type RunningMaster } from "./lib/master.ts";
import { percentiles } from "./lib/stats.ts";
import { runWrk } from "./lib/wrk.ts";

const { values: v } = parseArgs({
  options: {
    ...BURST_OPTIONS,
    rounds: { type: "string", default: "2" },
    "wrk-seconds": { type: "string", default: "10" },
    single: { type: "string", default: "30" },
    instances: { type: "string", default: "24" },
    kills: { type: "string", default: "10" },
    "kill-clients": { type: "string" },
    tiny: { type: "boolean" },
    out: { type: "string" },
    profile: { type: "string" },
    members: { type: "string", default: "3" },
  },
});
if (v.members !== "1" && v.members !== "3") throw new Error(`--members is 1 or 3, not ${v.members}`);
const MEMBERS = v.members === "1" ? 1 : 3;
const MEMBER_INDEXES = Array.from({ length: MEMBERS }, (_, i) => i);
const tiny = v.tiny ?? false;
const sizes = tiny
  ? { jobs: 10, clients: 2, bursts: 1, rounds: 1, wrkSeconds: 1, single: 3, instances: 2, kills: 2, killClients: 2 }
  : { jobs: Number(v.jobs), clients: Number(v.clients), bursts: Number(v.bursts), rounds: Number(v.rounds), wrkSeconds: Number(v["wrk-seconds"]), single: Number(v.single), instances: Number(v.instances), kills: Number(v.kills), killClients: Number(v["kill-clients"] ?? v.clients) };
const CLUSTER = "bench-ha";

/** What one side measured, a value per round. */
interface Measured {
  jobsPerS: number[];
  burstP50Ms: number[];
  singleP50Ms: number[];
  masterCpuMsPerJob: number[];
  infoPerS: number[];
  bulkPerS: number[];
  /** etcd side only: the members' CPU and raft proposals per job of the bursts. */
  etcdCpuMsPerJob: number[];
  proposalsPerJob: number[];
  /** The standby master's CPU per job of the bursts (it follows every commit). */
  standbyCpuMsPerJob: number[];
  /** etcd member 0's WAL fsync, mean ms over the bursts. */
  walFsyncMs: number[];
  /** gRPC bytes per job the masters sent etcd · etcd sent the masters (all members). */
  clientInKbPerJob: number[];
  clientOutKbPerJob: number[];
  standbyInfoPerS: number[];
  standbyBulkPerS: number[];
}
interface Side extends AbSide {
  m: Measured;
  etcd?: EtcdCluster;
  standby?: { target: Target; pid: number };
}
const measured = (): Measured => ({ jobsPerS: [], burstP50Ms: [], singleP50Ms: [], masterCpuMsPerJob: [], infoPerS: [], bulkPerS: [], etcdCpuMsPerJob: [], proposalsPerJob: [], standbyCpuMsPerJob: [], walFsyncMs: [], clientInKbPerJob: [], clientOutKbPerJob: [], standbyInfoPerS: [], standbyBulkPerS: [] });

const run = abRun("ha", v.out);
const usersFile = join(run.work, "bench-users");
const restarted: RunningMaster[] = [];
const loadStart = loadAverage();

async function getJson(t: Target, path: string): Promise<unknown> {
  const c = new Client(t, 1);
  try {
    return await c.json("GET", path, undefined, 5000);
  } finally {
    c.close();
  }
}
/** GET /corral/1/store on a master: its role and whom it names as leader. */
const storeView = async (t: Target) => (await getJson(t, "/corral/1/store")) as { backend: string; role: string; leader: { name: string } | null };

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** A counter of etcd's Prometheus metrics (by default member 0's client port), summed over its labels and the members asked. */
async function etcdCounter(etcd: EtcdCluster, name: string, members: readonly number[] = [0]): Promise<number> {
  let sum = 0;
  for (const m of members) {
    const text = await (await fetch(`http://${etcd.endpoints[m]}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    for (const line of text.split("\n")) if (line.split(/[{ ]/)[0] === name) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
async function etcdCounters(etcd: EtcdCluster) {
  return {
    cpu: MEMBER_INDEXES.reduce((s, i) => s + cpuSecondsOf(etcd.pid(i) as number), 0),
    proposals: await etcdCounter(etcd, "etcd_server_proposals_committed_total"),
    fsyncS: await etcdCounter(etcd, "etcd_disk_wal_fsync_duration_seconds_sum"),
    fsyncs: await etcdCounter(etcd, "etcd_disk_wal_fsync_duration_seconds_count"),
    // What the masters sent to etcd and etcd sent them (txns, and the watches' events), every member.
    clientInBytes: await etcdCounter(etcd, "etcd_network_client_grpc_received_bytes_total", MEMBER_INDEXES),
    clientOutBytes: await etcdCounter(etcd, "etcd_network_client_grpc_sent_bytes_total", MEMBER_INDEXES),
  };
}

const etcdArgs = (etcd: EtcdCluster, name: string) => ["--store", `etcd://${etcd.endpoints.join(",")}`, "--cluster-name", CLUSTER, "--node-name", name];
const targetOf = (m: RunningMaster): Target => ({ base: m.base, auth: "writer:writerpass" });

async function build(s: AbSide): Promise<void> {
  const info = (await getJson(s.target, "/2/info")) as { master: string };
  const t0 = performance.now();
  await createInstancesViaApi(s.target, sizes.instances, info.master);
  log(`ha bench: ${s.name}: ${sizes.instances} instances created through the API in ${Math.round(performance.now() - t0)} ms`);
}

const wrkRead = async (t: Target, path: string) => (await runWrk({ url: t.base + path, connections: 8, threads: 1, durationS: sizes.wrkSeconds, timeoutS: 30 })).req_per_s;

async function measureRound(s: Side, r: number): Promise<void> {
  const cpu0 = cpuSecondsOf(s.master.pid);
  const etcd0 = s.etcd ? await etcdCounters(s.etcd) : undefined;
  const standbyCpu0 = s.standby ? cpuSecondsOf(s.standby.pid) : 0;
  const series = await tagBurstSeries(s.target, { jobs: sizes.jobs, clients: sizes.clients, tagPrefix: `bench-ha-${r}-`, timeoutS: 300, repeats: sizes.bursts });
  const jobCount = series.job_ids.length;
  const bad = series.median.jobs - (series.median.statuses.success ?? 0);
  if (bad > 0) throw new Error(`${s.name}: ${bad} burst jobs did not succeed: ${JSON.stringify(series.median.statuses)}`);
  s.m.jobsPerS.push(series.median.jobs_per_s);
  s.m.burstP50Ms.push(series.median.latency_ms.p50);
  s.m.masterCpuMsPerJob.push(round2(((cpuSecondsOf(s.master.pid) - cpu0) * 1000) / jobCount));
  if (s.etcd && etcd0) {
    const etcd1 = await etcdCounters(s.etcd);
    if (s.standby) s.m.standbyCpuMsPerJob.push(round2(((cpuSecondsOf(s.standby.pid) - standbyCpu0) * 1000) / jobCount));
    s.m.etcdCpuMsPerJob.push(round2(((etcd1.cpu - etcd0.cpu) * 1000) / jobCount));
    s.m.proposalsPerJob.push(round2((etcd1.proposals - etcd0.proposals) / jobCount));
    s.m.walFsyncMs.push(round2(((etcd1.fsyncS - etcd0.fsyncS) * 1000) / (etcd1.fsyncs - etcd0.fsyncs)));
    s.m.clientInKbPerJob.push(round2((etcd1.clientInBytes - etcd0.clientInBytes) / 1024 / jobCount));
    s.m.clientOutKbPerJob.push(round2((etcd1.clientOutBytes - etcd0.clientOutBytes) / 1024 / jobCount));
  }
  const single = await singleJobs(s.target, { jobs: sizes.single, warmup: 3, tag: `bench-ha-single`, timeoutS: 120 });
  s.m.singleP50Ms.push(single.latency_ms.p50);
  s.m.infoPerS.push(await wrkRead(s.target, "/2/info"));
  s.m.bulkPerS.push(await wrkRead(s.target, "/2/instances?bulk=1"));
  if (s.standby) {
    s.m.standbyInfoPerS.push(await wrkRead(s.standby.target, "/2/info"));
    s.m.standbyBulkPerS.push(await wrkRead(s.standby.target, "/2/instances?bulk=1"));
  }
  log(`ha bench: round ${r + 1} ${s.name}: ${series.median.jobs_per_s} jobs/s (bursts ${series.runs_jobs_per_s.join(", ")}), ${s.m.masterCpuMsPerJob.at(-1)} ms master CPU/job${s.etcd ? `, ${s.m.etcdCpuMsPerJob.at(-1)} ms etcd CPU/job, ${s.m.proposalsPerJob.at(-1)} proposals/job, ${s.m.clientInKbPerJob.at(-1)}/${s.m.clientOutKbPerJob.at(-1)} KiB in/out per job` : ""}; single p50 ${single.latency_ms.p50} ms; /2/info ${s.m.infoPerS.at(-1)}/s, bulk ${s.m.bulkPerS.at(-1)}/s${s.standby ? `; standby ${s.m.standbyInfoPerS.at(-1)}/s, ${s.m.standbyBulkPerS.at(-1)}/s` : ""}`);
}

interface Kill {
  /** kill -9 of the leader (its exit seen) → first PUT /2/tags answered 200 by the standby, ms. */
  write_accepted_ms: number;
  /** That write's job, seen final on the new leader. */
  job_status: string;
  /** Attempts answered otherwise, by status (or error): 503 while no leader is known, 502. */
  refused: Record<string, number>;
}

/** The load of the kills: its clients, the jobs they had acknowledged and those jobs' final statuses on the last leader. */
interface KillLoad {
  clients: number;
  acked: number;
  statuses: Record<string, number>;
  refused: Record<string, number>;
}

/** kill -9 of `leader` with `standby` running, `kills` times, under sizes.killClients clients' jobs; the killed one comes back as standby. */
async function failovers(etcd: EtcdCluster, first: { leader: RunningMaster; name: string }, second: { standby: RunningMaster; name: string }): Promise<{ kills: Kill[]; load: KillLoad }> {
  let leader = { master: first.leader, name: first.name };
  let standby = { master: second.standby, name: second.name };
  const out: Kill[] = [];
  const load = new TagLoad(sizes.killClients, "bench-kill-load-");
  load.setTargets([targetOf(leader.master), targetOf(standby.master)]);
  for (let k = 0; k < sizes.kills; k++) {
    if (sizes.killClients > 0) await sleep(tiny ? 200 : 1000); // load on both masters before the kill
    await until(`${standby.name} stands by behind ${leader.name}`, 20_000, async () => (await storeView(targetOf(standby.master))).leader?.name === leader.name);
    load.setTargets([targetOf(standby.master)]);
    await leader.master.kill();
    const killedAt = performance.now();
    const c = new Client(targetOf(standby.master), 1);
    const refused: Record<string, number> = {};
    let job: number | undefined;
    try {
      while (job === undefined) {
        if (performance.now() - killedAt > 30_000) throw new Error(`no write accepted by ${standby.name} within 30 s of the kill`);
        const r = await c.request("PUT", `/2/tags?tag=bench-failover-${k}`, undefined, 15_000).catch((err: Error) => err);
        if (!(r instanceof Error) && r.status === 200) job = Number(JSON.parse(r.text));
        else {
          const why = r instanceof Error ? r.message.slice(0, 60) : String(r.status);
          refused[why] = (refused[why] ?? 0) + 1;
          await sleep(20); // as the e2e test polls
        }
      }
      const ms = Math.round(performance.now() - killedAt);
      out.push({ write_accepted_ms: ms, job_status: await waitJob(c, job, Date.now() + 30_000), refused });
      log(`ha bench: kill ${k + 1}: ${leader.name} killed → write accepted by ${standby.name} in ${ms} ms (refused before: ${JSON.stringify(refused)})`);
    } finally {
      c.close();
    }
    // The killed master, started again on its data directory, stands by for the next kill.
    const again = await startMasterProc({ dataDir: join(run.work, leader.name), port: 0, usersFile, nodeName: leader.name, args: etcdArgs(etcd, leader.name) });
    restarted.push(again);
    [leader, standby] = [standby, { master: again, name: leader.name }];
    load.setTargets([targetOf(leader.master), targetOf(standby.master)]);
  }
  await load.stop();
  const statuses = await load.finalStatuses(targetOf(leader.master), Date.now() + 120_000);
  return { kills: out, load: { clients: sizes.killClients, acked: load.acked.length, statuses, refused: load.refused } };
}

/** --profile DIR: the SQLite master and the etcd leader write V8 CPU profiles (node --cpu-prof) there when stopped. */
const profileDir = (name: string) => (v.profile === undefined ? undefined : join(v.profile, name));
const sqlite: Side = { ...(await run.side("sqlite", [], profileDir("sqlite"))), m: measured() };
let etcd: EtcdCluster | undefined;
// However the bench ends (bench/lib/master.ts turns SIGINT and SIGTERM into an exit), no etcd member outlives it.
process.once("exit", () => {
  for (const i of MEMBER_INDEXES) {
    const pid = etcd?.pid(i);
    if (pid !== undefined) process.kill(pid, "SIGKILL"); // its exit clears the pid, so it is still ours
  }
});
try {
  etcd = await EtcdCluster.start(MEMBERS);
  const etcdCluster = etcd;
  const leaderSide = await run.side("etcd-a", etcdArgs(etcdCluster, "etcd-a"), profileDir("etcd-a"));
  await until("etcd-a leads", 20_000, async () => (await storeView(leaderSide.target)).role === "leader");
  const standbySide = await run.side("etcd-b", etcdArgs(etcdCluster, "etcd-b"));
  const sb = await storeView(standbySide.target);
  if (sb.backend !== "etcd" || sb.role !== "standby") throw new Error(`etcd-b is not an etcd standby: ${JSON.stringify(sb)}`);
  const etcdSide: Side = { ...leaderSide, m: measured(), etcd: etcdCluster, standby: { target: standbySide.target, pid: standbySide.master.pid } };
  await build(sqlite);
  await build(etcdSide);
  await until("the instances on the standby", 10_000, async () => ((await getJson(standbySide.target, "/2/instances")) as unknown[]).length === sizes.instances);
  for (let r = 0; r < sizes.rounds; r++) for (const s of alternating(r, sqlite, etcdSide)) await measureRound(s, r);
  // A killed master writes no profile: with --profile, no kills.
  const { kills, load } = v.profile !== undefined ? { kills: [], load: undefined } : await failovers(etcdCluster, { leader: leaderSide.master, name: "etcd-a" }, { standby: standbySide.master, name: "etcd-b" });
  const e = etcdSide.m;
  const q = sqlite.m;
  const failover = percentiles(kills.map((x) => x.write_accepted_ms));
  const result = {
    measure: `etcd mode (${MEMBERS} member${MEMBERS === 1 ? "" : "s"}, leader + standby) beside SQLite mode; failover times`,
    machine: { ...describeMachine(run.work, join(import.meta.dirname, "..")), loadavg_start: loadStart, loadavg_end: loadAverage() },
    sizes,
    etcd_members: MEMBERS,
    sqlite: q,
    etcd: e,
    ratios: {
      jobs_per_s: pairedRatio(e.jobsPerS, q.jobsPerS),
      jobs_per_s_of_medians: medianRatio(e.jobsPerS, q.jobsPerS),
      single_p50: pairedRatio(e.singleP50Ms, q.singleP50Ms),
      master_cpu_per_job: pairedRatio(e.masterCpuMsPerJob, q.masterCpuMsPerJob),
      info: pairedRatio(e.infoPerS, q.infoPerS),
      bulk: pairedRatio(e.bulkPerS, q.bulkPerS),
      standby_info: pairedRatio(e.standbyInfoPerS, q.infoPerS),
      standby_bulk: pairedRatio(e.standbyBulkPerS, q.bulkPerS),
    },
    failover: { kills, load, write_accepted_ms: { min: failover.n === 0 ? 0 : Math.min(...kills.map((x) => x.write_accepted_ms)), median: failover.p50, max: failover.max } },
  };
  const cell = (xs: number[]) => `${round2(median(xs))} (${xs.map(round2).join(", ")})`;
  const md = [
    `${sizes.rounds} rounds ABBA, medians (each round's value in brackets); ${sizes.instances} instances created through the API on each; etcd: ${MEMBERS} member${MEMBERS === 1 ? "" : "s"} on loopback, data on the same disk as SQLite's. Load average ${result.machine.loadavg_start} at the start, ${result.machine.loadavg_end} at the end.`,
    "",
    "| measure | SQLite master | etcd leader | etcd standby | etcd ÷ SQLite (median of the rounds' ratios) |",
    "|---|---|---|---|---|",
    `| ${sizes.jobs} tag jobs from ${sizes.clients} clients, jobs/s (median of ${sizes.bursts} bursts) | ${cell(q.jobsPerS)} | ${cell(e.jobsPerS)} | | **${result.ratios.jobs_per_s}** (goal ≥ 0.5) |`,
    `| the same, latency p50 ms | ${cell(q.burstP50Ms)} | ${cell(e.burstP50Ms)} | | |`,
    `| master CPU ms per job (bursts) | ${cell(q.masterCpuMsPerJob)} | ${cell(e.masterCpuMsPerJob)} | ${cell(e.standbyCpuMsPerJob)} | ${result.ratios.master_cpu_per_job} |`,
    `| etcd CPU ms per job (${MEMBERS} member${MEMBERS === 1 ? "" : "s"}) · raft proposals per job · WAL fsync mean ms (member 0) | | ${cell(e.etcdCpuMsPerJob)} · ${cell(e.proposalsPerJob)} · ${cell(e.walFsyncMs)} | | |`,
    `| KiB per job the masters sent etcd · etcd sent the masters (gRPC, all members) | | ${cell(e.clientInKbPerJob)} · ${cell(e.clientOutKbPerJob)} | | |`,
    `| one tag job, idle master, p50 ms (n=${sizes.single}) | ${cell(q.singleP50Ms)} | ${cell(e.singleP50Ms)} | | ${result.ratios.single_p50} |`,
    `| GET /2/info req/s (wrk -t1 -c8 -d${sizes.wrkSeconds}s, TLS) | ${cell(q.infoPerS)} | ${cell(e.infoPerS)} | ${cell(e.standbyInfoPerS)} | ${result.ratios.info} · standby ${result.ratios.standby_info} |`,
    `| GET /2/instances?bulk=1 req/s | ${cell(q.bulkPerS)} | ${cell(e.bulkPerS)} | ${cell(e.standbyBulkPerS)} | ${result.ratios.bulk} · standby ${result.ratios.standby_bulk} |`,
    "",
    kills.length === 0
      ? "Failover: not measured (--profile: a killed master writes no profile)."
      : `Failover, ${kills.length} × kill -9 of the leading master (standby running, ${load?.clients ? `under ${load.clients} clients' tag jobs round-robin over the running masters` : "idle"}) → first PUT /2/tags accepted through the standby: **min ${result.failover.write_accepted_ms.min} ms · median ${result.failover.write_accepted_ms.median} ms · max ${result.failover.write_accepted_ms.max} ms** (${kills.map((x) => x.write_accepted_ms).join(", ")}); jobs ${kills.map((x) => x.job_status).join(", ")}.` +
        (load?.clients ? ` The load: ${load.acked} jobs acknowledged, on the last leader ${JSON.stringify(load.statuses)}; answered otherwise ${JSON.stringify(load.refused)}.` : ""),
    "",
  ].join("\n");
  run.write(result, md);
  process.stdout.write(md);
} finally {
  for (const m of restarted) await m.stop();
  await run.close();
  await etcd?.stop();
}

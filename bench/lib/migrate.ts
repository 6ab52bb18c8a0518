// The migration measure (issue 11): a 256 MiB kvm guest (TCG, the test guest) moved live by
// Corral's `PUT /2/instances/X/migrate` between two agents whose QEMUs run in two network
// namespaces joined by a veth pair, side by side with the same guest, QEMU command line,
// capabilities and parameters migrated by the bench itself over QMP (`-incoming defer` +
// `migrate-incoming` on the target, `migrate` on the source, `query-migrate` polled to the
// end). One guest runs at a time: Corral's cases, then the raw ones, per guest kind.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dataPaths } from "../../src/master/datadir.ts";
import type { DiskSlot } from "../../src/node/hypervisor/kvm/cmdline.ts";
import { migrationCapabilities, migrationDeadlineMs } from "../../src/node/hypervisor/kvm/migration.ts";
import { DiskMirrors, exportDisks, stopExports } from "../../src/node/hypervisor/kvm/mirror.ts";
import { addMigrationCreds, TLS_CREDS_ID, TLS_HOSTNAME, writeMigrationCreds, type ClusterCertPems } from "../../src/node/hypervisor/kvm/tls.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { instanceFiles, isAlive, readPid, signalQemu, type InstanceFiles } from "../../src/node/hypervisor/kvm/process.ts";
import { QmpClient } from "../../src/node/hypervisor/qmp.ts";
import { findTestGuest, type TestGuest } from "../../test/support/test-guest.ts";
import { findTool } from "../../test/support/tools.ts";
import { Client, sleep } from "./http.ts";
import { waitJob } from "./jobs.ts";
import type { ClusterSpec } from "./migrate-cluster.ts";
import { unavailable, type Maybe } from "./report.ts";

const LAUNCHER = fileURLToPath(new URL("./migrate-cluster.ts", import.meta.url));
const MiB = 1024 * 1024;
const BOOT_TIMEOUT_MS = 120_000;
/** A migrate job: the longest case is a cancel at the deadline (24 s here) plus a target start. */
const JOB_TIMEOUT_MS = 180_000;
/** How often the bench's raw driver looks at query-migrate (Corral's policy looks every 250 ms). */
const RAW_POLL_MS = 50;
/** The agents' deadline floor: Ganeti's 32 MiB/s gives 3 × 256 MiB / 32 = 24 s, as in the e2e test. */
const DEADLINE_FLOOR_MS = 10_000;
const MIGRATION_PORT = 8102;
const NODE_A = { name: "node1.corral.bench", ip: "10.213.79.1" };
const NODE_B = { name: "node2.corral.bench", ip: "10.213.79.2" };
const IDLE = "mig-idle";
const BUSY = "mig-busy";
const LOCAL = "mig-local";
/** The local-disk guest's file disk, MiB: filled with random data, so that the mirror copies every byte. */
const LOCAL_DISK_MIB = 1024;
const DIRTY_ARGS = "corral.dirty=128 corral.rate=0";
type GuestKind = "idle" | "local" | "dirty";
const GUESTS: Record<GuestKind, { name: string; marker: RegExp; kernelArgs: string; template: "sharedfile" | "file" }> = {
  idle: { name: IDLE, marker: /CORRAL_HB n=1 /, kernelArgs: "", template: "sharedfile" },
  local: { name: LOCAL, marker: /CORRAL_HB n=1 /, kernelArgs: "", template: "file" },
  dirty: { name: BUSY, marker: /CORRAL_DIRTY /, kernelArgs: DIRTY_ARGS, template: "sharedfile" },
};
/** The guest prints a heartbeat every 2 s; a loaded machine may slow it. */
const HEARTBEAT_WAIT_MS = 10_000;

/** One case's migration parameters, as Corral's cluster and instance hvparams say them. */
interface Params {
  /** MiB/s, 0 = unlimited (Corral's default). */
  bandwidth: number;
  downtimeMs: number;
  caps: string[];
  /** Encrypted (Corral: migrate_tls; raw: the same tls-creds-x509 objects). */
  tls?: boolean;
  /** The file disk moves too (Corral: migrate_storage; raw: the same NBD export and blockdev-mirror). */
  storage?: boolean;
}

interface CaseDef {
  id: string;
  label: string;
  guest: GuestKind;
  params: Params;
  /** Migrations per direction; the Ganeti-like dirtying case runs once (a cancel costs the deadline, and is last). */
  each: boolean;
  /** The raw runs get the downtime limit Corral's policy ended with ("tuned raw"); else Corral's parameters as given. */
  tuned?: boolean;
}

const CASES: CaseDef[] = [
  { id: "idle-defaults", label: "idle, Corral's defaults", guest: "idle", params: { bandwidth: 0, downtimeMs: 30, caps: [] }, each: true },
  { id: "idle-ganeti", label: "idle, Ganeti-like", guest: "idle", params: { bandwidth: 32, downtimeMs: 30, caps: [] }, each: true },
  { id: "idle-tls", label: "idle, Corral's defaults, TLS (migrate_tls)", guest: "idle", params: { bandwidth: 0, downtimeMs: 30, caps: [], tls: true }, each: true },
  { id: "local-disk", label: `idle, ${LOCAL_DISK_MIB / 1024} GiB file disk moved too (migrate_storage)`, guest: "local", params: { bandwidth: 0, downtimeMs: 30, caps: [], storage: true }, each: true },
  { id: "local-disk-tls", label: `idle, ${LOCAL_DISK_MIB / 1024} GiB file disk moved too, TLS`, guest: "local", params: { bandwidth: 0, downtimeMs: 30, caps: [], storage: true, tls: true }, each: true },
  { id: "dirty-defaults", label: "dirtying 128 MiB/s, Corral's defaults", guest: "dirty", params: { bandwidth: 0, downtimeMs: 30, caps: [] }, each: true, tuned: true },
  // Corral given as its parameter the limit its policy reached for this guest in the run of 18:58 (240 ms): no raise while the migration runs.
  { id: "dirty-240ms", label: "dirtying 128 MiB/s, migration_downtime 240 ms", guest: "dirty", params: { bandwidth: 0, downtimeMs: 240, caps: [] }, each: true },
  { id: "dirty-postcopy", label: "dirtying 128 MiB/s, postcopy allowed", guest: "dirty", params: { bandwidth: 32, downtimeMs: 30, caps: ["postcopy-ram"] }, each: true },
  { id: "dirty-ganeti", label: "dirtying 128 MiB/s, Ganeti-like (no postcopy)", guest: "dirty", params: { bandwidth: 32, downtimeMs: 30, caps: [] }, each: false },
];

export interface MigrateOptions {
  /** Migrations each way per case. */
  runs: number;
  /** Case ids to run (all when absent). */
  cases?: string[];
  workDir: string;
  usersFile: string;
  user: string;
  password: string;
  log(line: string): void;
}

/** One migration, either side. */
export interface MigrationRun {
  from: string;
  to: string;
  outcome: "completed" | "cancelled" | "failed";
  /** Corral: submit → job final; raw: target spawn → completed, target running and source quit. */
  total_ms: number;
  /** QEMU's own total-time (query-migrate), ms. */
  qemu_total_ms: number | null;
  downtime_ms: number | null;
  mib_sent: number | null;
  mode: "precopy" | "postcopy" | null;
  /** Corral: the downtime limit its policy ended with; raw: the one it was given. */
  final_downtime_limit_ms: number;
  /** raw: migrate → completed (the QMP exchange alone), ms. */
  migrate_to_completed_ms?: number;
  /** raw: target spawn → QMP ready, ms. */
  target_ready_ms?: number;
  /** With the storage: mirror start → every mirror in sync, ms (Corral: the job's figure). */
  storage_ms?: number | null;
  /** Corral: ms from submit to each step of the job (its own timestamps; see PHASES). */
  phases?: Partial<Record<Phase, number>>;
  /** The job's final log line, or the cancel message. */
  note: string;
  /** After a completed migration: "alive" (a new heartbeat on the target's console), else what the console shows. */
  guest: string;
}

/** Steps of Corral's migrate job, by the log line that starts them (src/ops/instance/migrate.ts). */
export const PHASES = {
  job_started: "",
  target_started: "* migrating instance to ",
  transfer_started: "* starting memory transfer",
  transfer_complete: "* memory transfer complete",
  done: "* done",
  job_ended: "",
} as const;
export type Phase = keyof typeof PHASES;

export interface MigrateCase {
  id: string;
  label: string;
  params: Params;
  /** What the raw runs were given (the "tuned raw": the limit Corral's policy ended with). */
  raw_params: Params;
  corral: MigrationRun[];
  raw: MigrationRun[];
  corral_total_ms: number | null;
  raw_total_ms: number | null;
  /** corral_total_ms ÷ raw_total_ms over completed runs. */
  ratio: number | null;
  corral_downtime_ms: number | null;
  corral_downtime_max_ms: number | null;
  raw_downtime_ms: number | null;
  corral_completed: number;
  raw_completed: number;
  /** Runs after which the guest did not live on (crashed, or no heartbeat). */
  corral_guest_died: number;
  raw_guest_died: number;
  /** Medians over the completed runs. */
  corral_qemu_total_ms: number | null;
  raw_qemu_total_ms: number | null;
  corral_mib_sent: number | null;
  raw_mib_sent: number | null;
  /** Medians over Corral's completed runs: submit → each step, ms. */
  corral_phases: Partial<Record<Phase, number>>;
  /** Median of the raw runs' target spawn → QMP ready, ms. */
  raw_target_ready_ms: number | null;
  /** With the storage: the disk's MiB over the median mirror time, MiB/s. */
  corral_storage_mibps?: number | null;
  raw_storage_mibps?: number | null;
}

export interface MigrateMeasure {
  qemu_version: string;
  guest: string;
  deadline_floor_ms: number;
  command: string;
  cases: MigrateCase[];
  /** Measures issue 11 asks for that Corral cannot do yet. */
  not_available: { id: string; label: string; note: string }[];
}

const median = (xs: readonly number[]): number | null => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Why the measure cannot run here, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return "needs root (two network namespaces and a veth pair)";
  if (!findTool("ip")) return "needs iproute2's ip";
  if (!findTool("qemu-system-x86_64")) return "qemu-system-x86_64 is not installed (scripts/install.sh --test-deps installs QEMU)";
  return null;
}

/** What the bench reads of Corral's runtime.json. */
interface RuntimeJson {
  binary: string;
  args: string[];
  layout: { disks: DiskSlot[] };
}

/** The file disk of a `file` instance under a node's file storage directory. */
function localDisk(fileDir: string, name: string): string {
  const dir = join(fileDir, name);
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".file.disk0")) : [];
  if (found.length !== 1) throw new Error(`no single file disk of ${name} under ${dir}`);
  return join(dir, found[0]);
}

/** Overwrites the first `mib` MiB of `file` with random data. */
function fillRandom(file: string, mib: number): void {
  const fd = openSync(file, "r+");
  try {
    for (let i = 0; i < mib; i += 16) writeSync(fd, randomBytes(16 * MiB), 0, 16 * MiB, i * MiB);
  } finally {
    closeSync(fd);
  }
}

/** The raw side's disk that moves: Corral's slot (names), its size, and each side's own file. */
interface RawStorage {
  slot: DiskSlot;
  sizeMiB: number;
  fileOf(side: RawSide): string;
}

/** Kills the QEMU of this pidfile if it still runs (checked by /proc/PID/cmdline: only the bench's own) and waits for it. */
async function killQemu(files: InstanceFiles): Promise<void> {
  const pid = readPid(files.pidfile);
  if (pid === null || !signalQemu(pid, files.pidfile, "SIGKILL")) return;
  for (let i = 0; i < 250 && isAlive(pid); i++) await sleep(20);
}

/** Corral's arguments with the raw side's instance directory and disk copies in place of Corral's. */
function rawArgs(rt: RuntimeJson, corralDir: string, raw: InstanceFiles, disks: Map<string, string>, dataDir: string): string[] {
  const args = rt.args.map((a) => [...disks].reduce((out, [from, to]) => out.split(from).join(to), a.split(corralDir + "/").join(raw.dir + "/")));
  const left = args.find((a) => a.includes(dataDir));
  if (left) throw new Error(`the raw command line still names Corral's data directory: ${left}`);
  return args;
}

/** Resolves once `pattern` appears in the file past `from` bytes. */
async function waitText(file: string, pattern: RegExp, from: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file) && pattern.test(readFileSync(file, "latin1").slice(from))) return;
    await sleep(200);
  }
  throw new Error(`no ${pattern} in ${file} within ${timeoutMs} ms`);
}

/** A kernel that died prints one of these on its console (the guest's heartbeat then stops). */
const DEATH = /Kernel panic|Oops: |BUG: [^\n]*/;

/**
 * After a migration: "alive" once a heartbeat appears on the guest's console past `from`
 * bytes, else the first line of the oops the guest printed, or that no heartbeat came.
 */
async function guestState(console: string, from: number): Promise<string> {
  const deadline = Date.now() + HEARTBEAT_WAIT_MS;
  for (;;) {
    const text = existsSync(console) ? readFileSync(console, "latin1").slice(from) : "";
    const dead = DEATH.exec(text);
    if (dead) return `crashed: ${text.slice(dead.index).split("\n")[0].trim()}`;
    if (/CORRAL_HB n=\d+/.test(text)) return "alive";
    if (Date.now() > deadline) return `no heartbeat within ${HEARTBEAT_WAIT_MS / 1000} s`;
    await sleep(200);
  }
}

const consoleSize = (file: string) => (existsSync(file) ? statSync(file).size : 0);

/** The part of query-migrate the bench reads. */
interface QueryMigrate {
  status?: string;
  "total-time"?: number;
  "expected-downtime"?: number;
  downtime?: number;
  ram?: { transferred: number; "dirty-sync-count": number };
}

/** The cluster process of migrate-cluster.ts. */
async function startCluster(spec: ClusterSpec, log: (l: string) => void): Promise<{ proc: ChildProcess; port: number; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", LAUNCHER, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-20_000)));
  const kill = () => proc.kill("SIGKILL");
  process.once("exit", kill);
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the migration cluster did not start within 120 s:\n${err}`)), 120_000);
    proc.stdout!.on("data", () => {
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the migration cluster exited with ${code}:\n${err}`));
    });
  });
  return {
    proc, port,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        const guard = setTimeout(kill, 20_000);
        await exited;
        clearTimeout(guard);
      }
      process.off("exit", kill);
      if (proc.exitCode !== 0) log(`migration cluster exited with ${proc.exitCode}: ${err.slice(-2000)}`);
    },
  };
}

/** One oplog entry of Ganeti's job: [serial, [seconds, microseconds], type, message]. */
type LogEntry = [number, [number, number], string, string];

/** A Corral migration: submit → job final, and what its log says. */
async function corralMigrate(c: Client, name: string, from: string, to: string, p: Params): Promise<MigrationRun> {
  const t0 = Date.now();
  const extensions = { ...(p.storage ? { migrate_storage: true } : {}), ...(p.tls ? { migrate_tls: true } : {}) };
  const id = Number(await c.json("PUT", `/2/instances/${name}/migrate`, { mode: "live", target_node: to, ...extensions }));
  const status = await waitJob(c, id, Date.now() + JOB_TIMEOUT_MS);
  const total = Date.now() - t0;
  const job = (await c.json("GET", `/2/jobs/${id}`)) as { oplog: LogEntry[][]; opresult: unknown; start_ts: unknown; end_ts: unknown };
  const entries = job.oplog[0] ?? [];
  const lines = entries.map((e) => e[3]);
  const at = (ts: unknown) => (Array.isArray(ts) && ts.length === 2 ? Math.round(Number(ts[0]) * 1000 + Number(ts[1]) / 1000 - t0) : undefined);
  const phases: Partial<Record<Phase, number>> = { job_started: at(job.start_ts), job_ended: at(job.end_ts) };
  for (const [phase, prefix] of Object.entries(PHASES) as [Phase, string][]) {
    const e = prefix ? entries.find((x) => x[3].startsWith(prefix)) : undefined;
    if (e) phases[phase] = at(e[1]);
  }
  let limit = p.downtimeMs;
  for (const l of lines) {
    const m = /^\* raising the downtime limit from \d+ to (\d+) ms/.exec(l);
    if (m) limit = Number(m[1]);
  }
  const done = lines.find((l) => l.startsWith("* memory transfer complete"));
  const run: MigrationRun = {
    from, to, outcome: status === "success" ? "completed" : "failed", total_ms: total, qemu_total_ms: null, downtime_ms: null, mib_sent: null,
    mode: null, final_downtime_limit_ms: limit, phases, note: done ?? JSON.stringify(job.opresult).slice(0, 600), guest: "",
  };
  const m = done ? /: (precopy|postcopy), total time ([\d.]+) s(?:, downtime (\d+) ms)?(?:, (\d+) MiB sent)?/.exec(done) : null;
  if (m) {
    run.mode = m[1] as "precopy" | "postcopy";
    run.qemu_total_ms = Math.round(Number(m[2]) * 1000);
    run.downtime_ms = m[3] !== undefined ? Number(m[3]) : null;
    run.mib_sent = m[4] !== undefined ? Number(m[4]) : null;
  }
  const mirrored = done ? /; disks mirrored in ([\d.]+) s/.exec(done) : null;
  if (mirrored) run.storage_ms = Math.round(Number(mirrored[1]) * 1000);
  if (status !== "success" && /cancelled/.test(run.note)) run.outcome = "cancelled";
  return run;
}

/** Spawns QEMU daemonized inside a namespace; resolves when the daemonizing parent exits 0. */
async function spawnQemu(ip: string, netns: string, binary: string, args: string[], f: InstanceFiles): Promise<void> {
  mkdirSync(f.dir, { recursive: true });
  for (const file of [f.console, f.pidfile, f.qmp, f.serial, f.log]) rmSync(file, { force: true });
  const out = openSync(f.startLog, "w");
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(ip, ["netns", "exec", netns, binary, ...args], { stdio: ["ignore", out, out], detached: true });
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000); // the daemonizing parent, our child
      child.once("error", (err) => (clearTimeout(timer), reject(err)));
      child.once("exit", (c) => (clearTimeout(timer), resolve(c)));
    });
  } finally {
    closeSync(out);
  }
  if (code !== 0) throw new Error(`raw QEMU exited with ${code}: ${readFileSync(f.startLog, "utf8").trim().slice(-500)}`);
}

const openQmp = async (f: InstanceFiles): Promise<QmpClient> => {
  const q = new QmpClient(f.qmp, { connectTimeoutMs: 10_000, commandTimeoutMs: 10_000 });
  await q.open();
  return q;
};

/** A side of the raw run: its namespace, its address and its QEMU's files. */
interface RawSide {
  node: string;
  netns: string;
  ip: string;
  files: InstanceFiles;
}

/**
 * One raw migration of the guest running on `src` to `dst`, as a minimal manager does it:
 * the target spawned with -incoming defer, capabilities on both, parameters on the source,
 * migrate-incoming, migrate, query-migrate every 50 ms; the postcopy switch at the same point
 * as Corral's policy (pass ≥ 2, expected downtime over the limit), a cancel at the same deadline.
 */
async function rawMigrate(
  ipPath: string, binary: string, targetArgs: (side: RawSide) => string[], src: RawSide, dst: RawSide, p: Params, srcQmp: QmpClient,
  env: { storage?: RawStorage; cluster: ClusterCertPems },
): Promise<{ run: MigrationRun; qmp: QmpClient | null }> {
  const t0 = Date.now();
  const storage = p.storage ? env.storage : undefined;
  if (p.storage && !storage) throw new Error("a storage case needs a file-disk guest");
  if (storage) {
    // The target's own disk, new and empty, as Corral's target agent creates it.
    rmSync(storage.fileOf(dst), { force: true });
    closeSync(openSync(storage.fileOf(dst), "w"));
    truncateSync(storage.fileOf(dst), storage.sizeMiB * MiB);
  }
  await spawnQemu(ipPath, dst.netns, binary, targetArgs(dst), dst.files);
  const tq = await openQmp(dst.files);
  const targetReady = Date.now() - t0;
  const uri = `tcp:${dst.ip}:${MIGRATION_PORT}`;
  const caps = migrationCapabilities(p.caps, storage !== undefined);
  await tq.execute("migrate-set-capabilities", caps);
  await srcQmp.execute("migrate-set-capabilities", caps);
  if (p.tls) {
    await writeMigrationCreds(join(dst.files.dir, "tls"), env.cluster, "server");
    await addMigrationCreds(tq, join(dst.files.dir, "tls"), "server");
    await tq.execute("migrate-set-parameters", { "tls-creds": TLS_CREDS_ID });
    await writeMigrationCreds(join(src.files.dir, "tls"), env.cluster, "client");
    await addMigrationCreds(srcQmp, join(src.files.dir, "tls"), "client");
  }
  await tq.execute("migrate-incoming", { uri });
  const bandwidth = p.bandwidth > 0 ? p.bandwidth : 10 * 1024; // as Corral gives QEMU "unlimited"
  await srcQmp.execute("migrate-set-parameters", {
    "max-bandwidth": bandwidth * MiB, "downtime-limit": p.downtimeMs, "tls-creds": p.tls ? TLS_CREDS_ID : "", "tls-hostname": p.tls ? TLS_HOSTNAME : "",
  });
  let mirrors: DiskMirrors | undefined;
  let storageMs: number | null = null;
  if (storage) {
    const exports = await exportDisks(tq, [storage.slot], dst.ip, MIGRATION_PORT + 1, p.tls === true);
    mirrors = new DiskMirrors(srcQmp, [storage.slot], dst.ip, exports, p.tls === true);
    const ts = Date.now();
    await mirrors.start(p.bandwidth);
    for (;;) {
      const pr = await mirrors.progress();
      if (pr.error) throw new Error(`raw mirror: ${pr.error}`);
      if (pr.ready) break;
      if (Date.now() - ts > JOB_TIMEOUT_MS) throw new Error("raw mirror not in sync in time");
      await sleep(RAW_POLL_MS);
    }
    storageMs = Date.now() - ts;
  }
  const tm = Date.now();
  await srcQmp.execute("migrate", { uri });
  const deadline = migrationDeadlineMs(256, p.bandwidth, DEADLINE_FLOOR_MS);
  let q: QueryMigrate = {};
  let postcopy = false;
  let cancelled = false;
  const hardStop = Date.now() + deadline + 60_000;
  for (;;) {
    await sleep(RAW_POLL_MS);
    q = await srcQmp.execute<QueryMigrate>("query-migrate");
    if (q.status === "completed" || q.status === "failed" || q.status === "cancelled") break;
    if (q.status === "pre-switchover" && mirrors) {
      // As Corral does: the guest is stopped; the mirrors finish, then the switch-over.
      await mirrors.complete();
      await srcQmp.execute("migrate-continue", { state: "pre-switchover" });
      continue;
    }
    if (Date.now() > hardStop) throw new Error(`raw migration still ${q.status} ${deadline + 60_000} ms after migrate`);
    const pass = q.ram?.["dirty-sync-count"] ?? 0;
    if (!postcopy && !cancelled && p.caps.includes("postcopy-ram") && q.status === "active" && pass >= 2 && (q["expected-downtime"] ?? 0) > p.downtimeMs) {
      await srcQmp.execute("migrate-start-postcopy");
      postcopy = true;
    }
    if (!postcopy && !cancelled && Date.now() - tm > deadline) {
      await srcQmp.execute("migrate_cancel");
      cancelled = true;
    }
  }
  const completedAt = Date.now();
  const run: MigrationRun = {
    from: src.node, to: dst.node, outcome: q.status === "completed" ? "completed" : q.status === "cancelled" ? "cancelled" : "failed",
    total_ms: 0, qemu_total_ms: q["total-time"] ?? null, downtime_ms: q.downtime ?? null,
    mib_sent: q.ram ? Math.round(q.ram.transferred / MiB) : null, mode: postcopy ? "postcopy" : "precopy",
    final_downtime_limit_ms: p.downtimeMs, migrate_to_completed_ms: completedAt - tm, target_ready_ms: targetReady,
    note: `${q.status}: pass ${q.ram?.["dirty-sync-count"] ?? "?"}, expected downtime ${q["expected-downtime"] ?? "?"} ms`, guest: "",
    ...(storage ? { storage_ms: storageMs } : {}),
  };
  mirrors?.close();
  if (storage) await stopExports(tq);
  if (run.outcome !== "completed") {
    // The source runs on; the target QEMU exits by itself (QEMU-FACTS §5), or is ended here.
    tq.close();
    await killQemu(dst.files);
    run.total_ms = Date.now() - t0;
    run.guest = await guestState(src.files.console, consoleSize(src.files.console));
    return { run, qmp: null };
  }
  // As Corral does: the target must run, then the source is quit.
  for (let i = 0; i < 100; i++) {
    const s = await tq.execute<{ status: string }>("query-status");
    if (s.status === "running") break;
    if (s.status === "paused" || s.status === "prelaunch") await tq.execute("cont");
    await sleep(20);
  }
  await srcQmp.execute("quit").catch(() => undefined); // the connection may close before the answer
  srcQmp.close();
  await killQemu(src.files); // normally gone already; only waits for it
  run.total_ms = Date.now() - t0;
  run.guest = await guestState(dst.files.console, 0);
  return { run, qmp: tq };
}

/** `args` with any -incoming removed and `-incoming defer` added (the target's command line). */
function incoming(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-incoming") i++;
    else out.push(args[i]);
  }
  return [...out, "-incoming", "defer"];
}

export async function migrateMeasure(o: MigrateOptions): Promise<Maybe<MigrateMeasure>> {
  const why = missing();
  if (why) return unavailable(`not measured: ${why}`);
  let guest: TestGuest;
  try {
    guest = await findTestGuest();
  } catch (err) {
    return unavailable(`not measured: the test guest is missing (${(err as Error).message.split("\n")[0]})`);
  }
  const ipPath = findTool("ip")!;
  const ip = (...args: string[]) => execFileSync(ipPath, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const qemuVersion = execFileSync("qemu-system-x86_64", ["--version"], { encoding: "utf8" }).split("\n")[0].trim();
  const tag = `${process.pid % 100_000}`;
  const nsA = `corral-bmig-${tag}-a`;
  const nsB = `corral-bmig-${tag}-b`;
  const dataDir = join(o.workDir, "data");
  const nodeBDir = join(o.workDir, "nodeB");
  const rawRoot = join(o.workDir, "raw");
  const kvmRoots: Record<string, string> = { [NODE_A.name]: join(dataPaths(dataDir).nodeState, "kvm"), [NODE_B.name]: join(nodeBDir, "kvm") };
  const fileDirs: Record<string, string> = { [NODE_A.name]: dataPaths(dataDir).fileStorage, [NODE_B.name]: join(nodeBDir, "file-storage") };
  const made: string[] = [];
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  let client: Client | undefined;
  const rawSides: RawSide[] = [
    { node: NODE_A.name, netns: nsA, ip: NODE_A.ip, files: instanceFiles(join(rawRoot, "A"), "g") },
    { node: NODE_B.name, netns: nsB, ip: NODE_B.ip, files: instanceFiles(join(rawRoot, "B"), "g") },
  ];
  try {
    for (const ns of [nsA, nsB]) {
      ip("netns", "add", ns);
      made.push(ns);
      ip("-n", ns, "link", "set", "lo", "up");
    }
    const [va, vb] = [`cbm${tag}a`, `cbm${tag}b`];
    ip("link", "add", va, "type", "veth", "peer", "name", vb);
    ip("link", "set", va, "netns", nsA);
    ip("link", "set", vb, "netns", nsB);
    ip("-n", nsA, "addr", "add", `${NODE_A.ip}/30`, "dev", va);
    ip("-n", nsB, "addr", "add", `${NODE_B.ip}/30`, "dev", vb);
    ip("-n", nsA, "link", "set", va, "up");
    ip("-n", nsB, "link", "set", vb, "up");
    o.log(`migrate: namespaces ${nsA} and ${nsB}, veth ${NODE_A.ip} ↔ ${NODE_B.ip}`);
    cluster = await startCluster({
      dataDir, usersFile: o.usersFile, nodeBDir, nodeA: { ...NODE_A, netns: nsA }, nodeB: { ...NODE_B, netns: nsB },
      deadlineFloorMs: DEADLINE_FLOOR_MS, user: o.user, password: o.password,
    }, o.log);
    const c = new Client({ base: `https://127.0.0.1:${cluster.port}`, auth: `${o.user}:${o.password}` }, 2);
    const certs = clusterCertPaths(dataDir);
    const clusterPems: ClusterCertPems = { cert: readFileSync(certs.cert, "utf8"), key: readFileSync(certs.key, "utf8") };
    client = c;
    const job = async (method: string, path: string, body?: unknown) => {
      const id = Number(await c.json(method, path, body));
      const status = await waitJob(c, id, Date.now() + JOB_TIMEOUT_MS);
      if (status !== "success") throw new Error(`${method} ${path}: job ${id} ${status}: ${JSON.stringify(((await c.json("GET", `/2/jobs/${id}`)) as { opresult: unknown }).opresult)}`);
    };
    await job("PUT", "/2/modify", {
      enabled_hypervisors: ["kvm", "fake"], enabled_disk_templates: ["sharedfile", "file", "diskless"],
      hvparams: { kvm: { kernel_path: guest.kernel, initrd_path: guest.initrd, kernel_args: "console=ttyS0 quiet", root_path: "", vnc_bind_address: "127.0.0.1", kvm_flag: "disabled" } },
    });
    // No NIC (a tap would be a device the raw side must make too): the policy's one-NIC minimum is lowered.
    const info = (await c.json("GET", "/2/info")) as { ipolicy: { minmax: { min: Record<string, number>; max: Record<string, number> }[] } & Record<string, unknown> };
    const minmax = info.ipolicy.minmax.map((mm) => ({ min: { ...mm.min, "nic-count": 0 }, max: mm.max }));
    await job("PUT", "/2/modify", { ipolicy: { ...info.ipolicy, minmax, "disk-templates": ["sharedfile", "file", "diskless"] } });

    const setParams = async (name: string, p: Params) => {
      await job("PUT", "/2/modify", { hvparams: { kvm: { migration_bandwidth: p.bandwidth, migration_downtime: p.downtimeMs } } });
      await job("PUT", `/2/instances/${name}/modify`, { hvparams: { migration_caps: p.caps.join(":") } });
    };
    const cases: MigrateCase[] = [];
    let command = "";
    for (const kind of ["idle", "local", "dirty"] as const) {
      const { name, marker, kernelArgs, template } = GUESTS[kind];
      const defs = CASES.filter((d) => d.guest === kind && (!o.cases || o.cases.includes(d.id)));
      if (defs.length === 0) continue;
      // ---- Corral
      o.log(`migrate: creating ${name} (${kind}) on ${NODE_A.name}`);
      await job("POST", "/2/instances", {
        __version__: 1, mode: "create", name, disk_template: template, disks: [{ size: template === "file" ? LOCAL_DISK_MIB : 1024 }], nics: [], pnode: NODE_A.name,
        os_type: "corral-marker+default", hypervisor: "kvm", beparams: { maxmem: 256, minmem: 256, vcpus: 1 },
        hvparams: { kernel_args: `console=ttyS0 quiet${kernelArgs ? ` ${kernelArgs}` : ""}` }, ip_check: false, name_check: false, start: template !== "file",
      });
      if (template === "file") {
        // Random data in every block: the mirror copies all of it (zeroes would move as flags).
        fillRandom(localDisk(fileDirs[NODE_A.name], name), LOCAL_DISK_MIB);
        await job("PUT", `/2/instances/${name}/startup`);
      }
      const filesOn = (node: string) => instanceFiles(kvmRoots[node], name);
      await waitText(filesOn(NODE_A.name).console, marker, 0, BOOT_TIMEOUT_MS);
      const rt = JSON.parse(readFileSync(filesOn(NODE_A.name).runtime, "utf8")) as RuntimeJson;
      if (kind === "idle") command = [rt.binary, ...rt.args].join(" ");
      let on = NODE_A.name;
      const corralRuns = new Map<string, MigrationRun[]>();
      for (const d of defs) {
        await setParams(name, d.params);
        const runs: MigrationRun[] = [];
        for (let i = 0; i < (d.each ? 2 * o.runs : 1); i++) {
          const to = on === NODE_A.name ? NODE_B.name : NODE_A.name;
          const from = consoleSize(filesOn(to).console);
          const r = await corralMigrate(c, name, on, to, d.params);
          if (r.outcome === "completed") on = to;
          r.guest = await guestState(filesOn(on).console, r.outcome === "completed" ? from : consoleSize(filesOn(on).console));
          o.log(`migrate ${d.id} Corral ${r.from} → ${r.to}: ${r.outcome} in ${r.total_ms} ms, guest ${r.guest}; ${r.note}`);
          runs.push(r);
          if (r.outcome === "failed") break; // no point repeating a failure the log names
          if (r.guest !== "alive") {
            // A dead guest would be moved as a still image: boot it again where it is (stopped at
            // once: a dead kernel ignores the ACPI button a reboot would wait on for minutes).
            const at = consoleSize(filesOn(on).console);
            await job("PUT", `/2/instances/${name}/shutdown`, { timeout: 0 });
            await job("PUT", `/2/instances/${name}/startup`);
            await waitText(filesOn(on).console, marker, at, BOOT_TIMEOUT_MS);
          }
        }
        corralRuns.set(d.id, runs);
      }
      // One guest at a time: Corral's stops before the raw one boots.
      await job("PUT", `/2/instances/${name}/shutdown`, { timeout: 5 });

      // ---- raw QEMU: Corral's command line with the raw run's files and a copy of the disk (of
      // its own on each side when the disk moves too: the copy of the disk as it is now).
      const disks = new Map<string, string>();
      const sideDisk = (side: RawSide) => join(rawRoot, `${kind}-${side.netns}.img`);
      mkdirSync(rawRoot, { recursive: true });
      for (const [k, disk] of rt.layout.disks.entries()) {
        if (disk.path === null) continue;
        const copy = join(rawRoot, `${kind}-disk${k}.img`);
        execFileSync("cp", ["--sparse=always", template === "file" ? localDisk(fileDirs[on], name) : disk.path, template === "file" ? sideDisk(rawSides[0]) : copy]);
        disks.set(disk.path, copy);
      }
      const argsFor = (side: RawSide) => {
        const own = template === "file" ? new Map([...disks.keys()].map((path) => [path, sideDisk(side)])) : disks;
        return rawArgs(rt, filesOn(NODE_A.name).dir, side.files, own, dataDir);
      };
      const storage: RawStorage | undefined = template === "file"
        ? { slot: rt.layout.disks[0], sizeMiB: LOCAL_DISK_MIB, fileOf: sideDisk }
        : undefined;
      o.log(`migrate: raw ${kind} guest booting in ${nsA}`);
      await spawnQemu(ipPath, nsA, rt.binary, argsFor(rawSides[0]), rawSides[0].files);
      let srcQmp: QmpClient | null = await openQmp(rawSides[0].files);
      let at = 0;
      try {
        await waitText(rawSides[0].files.console, marker, 0, BOOT_TIMEOUT_MS);
        for (const d of defs) {
          const cr = corralRuns.get(d.id) ?? [];
          // Tuned raw: the downtime limit Corral's policy ended with (the highest over its runs).
          const tuned: Params = d.tuned ? { ...d.params, downtimeMs: Math.max(d.params.downtimeMs, ...cr.map((r) => r.final_downtime_limit_ms)) } : d.params;
          const runs: MigrationRun[] = [];
          for (let i = 0; i < (d.each ? 2 * o.runs : 1) && srcQmp; i++) {
            const src = rawSides[at];
            const dst = rawSides[1 - at];
            const { run, qmp } = await rawMigrate(ipPath, rt.binary, (s) => incoming(argsFor(s)), src, dst, tuned, srcQmp, { storage, cluster: clusterPems });
            o.log(`migrate ${d.id} raw ${src.node} → ${dst.node}: ${run.outcome} in ${run.total_ms} ms (migrate → ${run.outcome} ${run.migrate_to_completed_ms} ms), downtime ${run.downtime_ms} ms, ${run.mib_sent} MiB, guest ${run.guest}`);
            runs.push(run);
            if (run.outcome === "completed") {
              srcQmp = qmp;
              at = 1 - at;
            } else if (run.outcome === "failed") break;
            if (run.guest !== "alive" && srcQmp) {
              // As on Corral's side: boot the guest again where it is (a reset: the QEMU stays).
              const from = consoleSize(rawSides[at].files.console);
              await srcQmp.execute("system_reset");
              await waitText(rawSides[at].files.console, marker, from, BOOT_TIMEOUT_MS);
            }
          }
          cases.push(summarize(d, tuned, cr, runs));
        }
      } finally {
        srcQmp?.close();
        for (const s of rawSides) await killQemu(s.files);
      }
    }
    return {
      qemu_version: qemuVersion, guest: guest.dir, deadline_floor_ms: DEADLINE_FLOOR_MS, command,
      cases: CASES.map((d) => cases.find((x) => x.id === d.id)!).filter((x) => x !== undefined),
      not_available: [],
    };
  } finally {
    client?.close();
    await cluster?.stop();
    // Whatever a failure left running: the QEMUs of the bench's instances and raw runs only.
    for (const node of [NODE_A.name, NODE_B.name]) for (const n of [IDLE, BUSY, LOCAL]) await killQemu(instanceFiles(kvmRoots[node], n));
    for (const s of rawSides) await killQemu(s.files);
    for (const ns of made) {
      try {
        ip("netns", "del", ns); // takes its end of the veth, and so the pair, with it
      } catch {
        // already gone
      }
    }
  }
}

const mibps = (storageMs: number | null) => (storageMs === null || storageMs <= 0 ? null : Math.round((LOCAL_DISK_MIB * 1000) / storageMs));

function summarize(d: CaseDef, tuned: Params, corral: MigrationRun[], raw: MigrationRun[]): MigrateCase {
  const ok = (rs: MigrationRun[]) => rs.filter((r) => r.outcome === "completed");
  const ct = median(ok(corral).map((r) => r.total_ms));
  const rt = median(ok(raw).map((r) => r.total_ms));
  const of = (rs: MigrationRun[], pick: (r: MigrationRun) => number | null) => ok(rs).map(pick).filter((x): x is number => x !== null);
  const cd = of(corral, (r) => r.downtime_ms);
  const rd = of(raw, (r) => r.downtime_ms);
  return {
    id: d.id, label: d.label, params: d.params, raw_params: tuned, corral, raw,
    corral_total_ms: ct, raw_total_ms: rt, ratio: ct !== null && rt !== null ? Math.round((ct / rt) * 1000) / 1000 : null,
    corral_downtime_ms: median(cd), corral_downtime_max_ms: cd.length ? Math.max(...cd) : null, raw_downtime_ms: median(rd),
    corral_completed: ok(corral).length, raw_completed: ok(raw).length,
    corral_guest_died: corral.filter((r) => r.guest !== "alive").length, raw_guest_died: raw.filter((r) => r.guest !== "alive").length,
    corral_qemu_total_ms: median(of(corral, (r) => r.qemu_total_ms)), raw_qemu_total_ms: median(of(raw, (r) => r.qemu_total_ms)),
    corral_mib_sent: median(of(corral, (r) => r.mib_sent)), raw_mib_sent: median(of(raw, (r) => r.mib_sent)),
    corral_phases: Object.fromEntries(
      (Object.keys(PHASES) as Phase[]).map((p) => [p, median(of(corral, (r) => r.phases?.[p] ?? null))]).filter(([, v]) => v !== null),
    ) as Partial<Record<Phase, number>>,
    raw_target_ready_ms: median(of(raw, (r) => r.target_ready_ms ?? null)),
    ...(d.params.storage ? { corral_storage_mibps: mibps(median(of(corral, (r) => r.storage_ms ?? null))), raw_storage_mibps: mibps(median(of(raw, (r) => r.storage_ms ?? null))) } : {}),
  };
}

// The VM measure (issue 10): a kvm instance started through Corral side by side with the same
// QEMU command line started by the bench itself, on the same test guest, alternating so both
// share the machine's noise. Corral: `PUT /2/instances/X/startup` → job success and → the
// guest's CORRAL_READY on its serial console; raw: spawn → CORRAL_READY. Corral's own overhead
// is split with the job's timestamps and the instance files' mtimes (no hooks in src/). Then
// the master's memory with 0, 1 and 2 VMs running (the node agent runs inside the master).

import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dataPaths } from "../../src/master/datadir.ts";
import { instanceFiles, isAlive, isInstanceQemu, readPid, type InstanceFiles } from "../../src/node/hypervisor/kvm/process.ts";
import { QmpClient } from "../../src/node/hypervisor/qmp.ts";
import { Client, sleep, type Target } from "./http.ts";
import { waitJob } from "./jobs.ts";
import { memoryOf, type Memory, type RunningMaster } from "./master.ts";
import { unavailable, type Maybe } from "./report.ts";

const GUEST_SCRIPT = fileURLToPath(new URL("../../scripts/test-guest.sh", import.meta.url));
const QEMU = "qemu-system-x86_64";
/** One TCG boot is ~8-15 s on two cores; a loaded machine may double it. */
const BOOT_TIMEOUT_MS = 120_000;
const JOB_TIMEOUT_MS = 120_000;
/** How often the console logs are looked at for the marker (both sides alike). */
const CONSOLE_POLL_MS = 10;
/** How often /proc/net/unix is read while a startup job runs (to see the agent's QMP connection). */
const UNIX_POLL_MS = 5;
const MARKER = "CORRAL_READY";
const VMS = ["bench-vm1", "bench-vm2"] as const;

export interface VmOptions {
  runs: number;
  /** Where the measure keeps its master's data directory and the raw QEMU's files. */
  workDir: string;
  /** Starts `bin/corral master` on a (new) data directory. */
  startMaster(dataDir: string): Promise<RunningMaster>;
  /** user:password of a write user in the master's users file. */
  auth: string;
  log(line: string): void;
}

/** One Corral start, ms from the moment the bench sent `PUT …/startup` (wall clock, same host). */
export interface CorralStart {
  /** Job success seen by the client (`/2/jobs/N/wait`). */
  success_ms: number;
  /** CORRAL_READY seen in the instance's console.log. */
  ready_ms: number;
  /** The job's own timestamps. */
  job_received_ms: number;
  job_started_ms: number;
  job_ended_ms: number;
  /** start.log opened just before QEMU is spawned (its mtime; runtime.json's when QEMU wrote into it). */
  spawn_ms: number;
  /** QEMU wrote its pidfile (mtime). */
  pidfile_ms: number;
  /** QEMU bound its QMP socket (the socket file's mtime). */
  qmp_socket_ms: number;
  /** The agent's QMP connection first seen accepted in /proc/net/unix (polled every 5 ms); null if missed. */
  qmp_connected_ms: number | null;
  /** ready_ms − spawn_ms: the guest's part, comparable with the raw run. */
  spawn_to_ready_ms: number;
  /** The guest's uptime when it printed CORRAL_READY (its kernel's start → ready), s. */
  guest_uptime_s: number | null;
  qemu_rss_mib: number;
}

/** One raw QEMU start, ms from spawn. */
export interface RawStart {
  /** The -daemonize parent exited (0). */
  daemonized_ms: number;
  /** QMP greeting read and qmp_capabilities answered (the bench's own client, as a manager would). */
  qmp_ready_ms: number;
  ready_ms: number;
  guest_uptime_s: number | null;
  qemu_rss_mib: number;
}

export interface VmRun {
  corral: CorralStart;
  raw: RawStart;
}

export interface VmMeasure {
  guest: string;
  qemu_version: string;
  /** The command line Corral used (runtime.json), as run; raw runs use it with their own paths. */
  command: string;
  /** The order the starts ran in: "corral,raw" pairs, alternating which goes first. */
  order: string[];
  runs: VmRun[];
  /** Medians of the runs. */
  corral_ready_ms: number;
  corral_success_ms: number;
  raw_ready_ms: number;
  /** corral_ready_ms ÷ raw_ready_ms (goal ≤ 1.05). */
  ratio: number;
  /** The median of each pair's own Corral ÷ raw (the two starts of a pair ran back to back); absent in older results. */
  paired_ratio?: number;
  /** Medians of Corral's own phases, ms. */
  overhead: {
    /** Submit → QEMU spawned: the only part that delays the guest's boot. */
    submit_to_spawn_ms: number;
    /** Submit → client sees success, less QEMU's own spawn → QMP connection: Corral's own work. */
    own_ms: number | null;
    submit_to_job_start_ms: number;
    job_start_to_spawn_ms: number;
    spawn_to_pidfile_ms: number;
    spawn_to_qmp_connected_ms: number | null;
    qmp_connected_to_job_end_ms: number | null;
    spawn_to_job_end_ms: number;
    job_end_to_client_ms: number;
    /** Corral's spawn → CORRAL_READY: the guest's own boot under Corral. */
    spawn_to_ready_ms: number;
  };
  /** Raw QEMU's own spawn → daemonized and spawn → QMP ready (medians), for scale. */
  raw_phases: { daemonized_ms: number; qmp_ready_ms: number };
  /** Medians of the guest's own uptime at CORRAL_READY (kernel start → ready), s: the kernel's part of the boot; absent in older results. */
  guest_uptime_s?: { corral: number | null; raw: number | null };
  memory: {
    /** The master's process (RAPI, jobs and the node agent with its kvm driver): no VM running. */
    master_no_vm: Memory;
    master_one_vm: Memory;
    master_two_vms: Memory;
    /** (two VMs − none) ÷ 2, MiB. */
    master_per_vm_mib: number;
    qemu_rss_mib: number[];
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Why the measure cannot run here, or null. */
function missing(): string | null {
  try {
    execFileSync("sh", ["-c", `command -v ${QEMU}`], { stdio: "ignore" });
  } catch {
    return `${QEMU} is not installed (scripts/install.sh --test-deps installs QEMU)`;
  }
  return null;
}

/** The test guest: CORRAL_TEST_GUEST, else what scripts/test-guest.sh builds or finds. */
function findGuest(): { kernel: string; initrd: string; dir: string } {
  const dir = process.env.CORRAL_TEST_GUEST || execFileSync("bash", [GUEST_SCRIPT], { encoding: "utf8", timeout: 600_000, stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").at(-1) || "";
  const g = { dir, kernel: join(dir, "vmlinuz"), initrd: join(dir, "initramfs.cpio.gz") };
  if (!existsSync(g.kernel) || !existsSync(g.initrd)) throw new Error(`no test guest in '${dir}'`);
  return g;
}

/** Watches a console log from `from` bytes on; resolves with Date.now() when `MARKER` appears. */
async function markerAt(file: string, from: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let offset = from;
  let carry = "";
  const buf = Buffer.alloc(64 * 1024);
  while (Date.now() < deadline) {
    let size = -1;
    try {
      size = statSync(file).size;
    } catch {
      // not created yet
    }
    if (size > offset) {
      const seen = Date.now();
      const fd = openSync(file, "r");
      try {
        // Bounded: each read advances, and the file is a boot's worth of text.
        while (offset < size) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
          if (n <= 0) break;
          offset += n;
          const text = carry + buf.subarray(0, n).toString("latin1");
          if (text.includes(MARKER)) return seen;
          carry = text.slice(-MARKER.length);
        }
      } finally {
        closeSync(fd);
      }
    }
    await sleep(CONSOLE_POLL_MS);
  }
  throw new Error(`no ${MARKER} in ${file} within ${timeoutMs} ms`);
}

/** The guest's own uptime in its CORRAL_READY line (kernel start → ready, s), after `from` bytes. */
function guestUptime(file: string, from: number): number | null {
  const m = /CORRAL_READY uptime=([\d.]+)/.exec(readFileSync(file).subarray(from).toString("latin1"));
  return m ? Number(m[1]) : null;
}

const sizeOf = (file: string) => (existsSync(file) ? statSync(file).size : 0);
const mtime = (file: string) => statSync(file).mtimeMs;

/**
 * Polls /proc/net/unix until a connected socket bound to `path` shows up: the accepted end of a
 * client's connection to QEMU's QMP listener (it carries the listener's address).
 */
function watchUnixConnect(path: string): { stop(): void; seen: Promise<number | null> } {
  let stopped = false;
  const seen = (async () => {
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    while (!stopped && Date.now() < deadline) {
      const text = readFileSync("/proc/net/unix", "latin1");
      // Num RefCount Protocol Flags Type St Inode Path; St 03 = connected.
      for (const line of text.split("\n")) {
        if (line.endsWith(` ${path}`) && line.trim().split(/\s+/)[5] === "03") return Date.now();
      }
      await sleep(UNIX_POLL_MS);
    }
    return null;
  })();
  return { stop: () => void (stopped = true), seen };
}

/** Ganeti's [seconds, microseconds] timestamps → ms. */
const tsMs = (ts: unknown): number => (Array.isArray(ts) && ts.length === 2 ? Number(ts[0]) * 1000 + Number(ts[1]) / 1000 : NaN);

interface RuntimeJson {
  binary: string;
  args: string[];
  layout: { disks: { path: string | null }[] };
}

class Vm {
  private readonly c: Client;
  readonly kvmRoot: string;
  constructor(t: Target, kvmRoot: string) {
    this.c = new Client(t, 2);
    this.kvmRoot = kvmRoot;
  }

  close(): void {
    this.c.close();
  }

  async job(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const id = Number(await this.c.json(method, path, body));
    const status = await waitJob(this.c, id, Date.now() + JOB_TIMEOUT_MS);
    const job = (await this.c.json("GET", `/2/jobs/${id}`)) as Record<string, unknown>;
    if (status !== "success") throw new Error(`${method} ${path}: job ${id} ${status}: ${JSON.stringify(job.opresult)}`);
    return job;
  }

  get(path: string): Promise<unknown> {
    return this.c.json("GET", path);
  }

  files(name: string): InstanceFiles {
    return instanceFiles(this.kvmRoot, name);
  }

  /** Starts an instance through RAPI and times it (see CorralStart). */
  async start(name: string): Promise<CorralStart> {
    const f = this.files(name);
    const from = sizeOf(f.console);
    const qmp = watchUnixConnect(f.qmp);
    const t0 = Date.now();
    const id = Number(await this.c.json("PUT", `/2/instances/${name}/startup`));
    const ready = markerAt(f.console, from, BOOT_TIMEOUT_MS);
    ready.catch(() => undefined); // awaited below; a job failure must not leave it unhandled
    let status: string;
    try {
      status = await waitJob(this.c, id, Date.now() + JOB_TIMEOUT_MS);
    } finally {
      qmp.stop();
    }
    const success = Date.now();
    const job = (await this.c.json("GET", `/2/jobs/${id}`)) as Record<string, unknown>;
    if (status !== "success") throw new Error(`startup of ${name}: job ${id} ${status}: ${JSON.stringify(job.opresult)}`);
    const readyAt = await ready;
    const qmpAt = await qmp.seen;
    // start.log is truncated when QEMU is spawned; if QEMU wrote warnings into it, its mtime is later.
    const spawn = sizeOf(f.startLog) === 0 ? mtime(f.startLog) : mtime(f.runtime);
    const pid = readPid(f.pidfile);
    return {
      success_ms: success - t0,
      ready_ms: readyAt - t0,
      job_received_ms: r1(tsMs(job.received_ts) - t0),
      job_started_ms: r1(tsMs(job.start_ts) - t0),
      job_ended_ms: r1(tsMs(job.end_ts) - t0),
      spawn_ms: r1(spawn - t0),
      pidfile_ms: r1(mtime(f.pidfile) - t0),
      qmp_socket_ms: r1(mtime(f.qmp) - t0),
      qmp_connected_ms: qmpAt === null ? null : qmpAt - t0,
      spawn_to_ready_ms: r1(readyAt - spawn),
      guest_uptime_s: guestUptime(f.console, from),
      qemu_rss_mib: pid !== null && isInstanceQemu(pid, f.pidfile) ? memoryOf(pid).rss_mib : 0,
    };
  }

  async stop(name: string): Promise<void> {
    // The guest's acpid powers it off within a second of the ACPI button, but now and then a
    // guest ignores it (seen once in a few boots right after CORRAL_READY): Corral then ends
    // QEMU after `timeout` seconds. Not measured, so not waited for long.
    await this.job("PUT", `/2/instances/${name}/shutdown`, { timeout: 5 });
  }

  runtime(name: string): RuntimeJson {
    return JSON.parse(readFileSync(this.files(name).runtime, "utf8")) as RuntimeJson;
  }
}

/** Kills a QEMU still running with this pidfile (checked by /proc/PID/cmdline): only the bench's own. */
async function killQemu(files: InstanceFiles): Promise<void> {
  const pid = readPid(files.pidfile);
  if (pid === null || !isInstanceQemu(pid, files.pidfile)) return;
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 250 && isAlive(pid); i++) await sleep(20);
}

/**
 * Corral's command line with the raw run's own files: the instance directory (pidfile, QMP,
 * serial socket and its log, QEMU's -D log) and the disk replaced by the raw run's copies.
 */
function rawCommand(rt: RuntimeJson, corral: InstanceFiles, raw: InstanceFiles, disks: Map<string, string>, dataDir: string): string[] {
  const args = rt.args.map((a) => {
    let out = a.split(corral.dir + "/").join(raw.dir + "/");
    for (const [from, to] of disks) out = out.split(from).join(to);
    return out;
  });
  const left = args.find((a) => a.includes(dataDir));
  if (left) throw new Error(`the raw command line still names Corral's data directory: ${left}`);
  return args;
}

/** Spawns QEMU as Corral's runtime.json says, with the raw run's files; times it to CORRAL_READY. */
async function rawStart(binary: string, args: string[], f: InstanceFiles): Promise<RawStart> {
  for (const file of [f.console, f.pidfile, f.qmp, f.serial, f.log]) rmSync(file, { force: true });
  const out = openSync(f.startLog, "w");
  const t0 = Date.now();
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ["ignore", out, out], detached: true });
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000); // the daemonizing parent, our child
      child.once("error", (err) => (clearTimeout(timer), reject(err)));
      child.once("exit", (c) => (clearTimeout(timer), resolve(c)));
    });
  } finally {
    closeSync(out);
  }
  const daemonized = Date.now();
  if (code !== 0) throw new Error(`raw QEMU exited with ${code}: ${readFileSync(f.startLog, "utf8").trim().slice(-500)}`);
  const ready = markerAt(f.console, 0, BOOT_TIMEOUT_MS);
  ready.catch(() => undefined); // awaited below
  const qmp = new QmpClient(f.qmp, { connectTimeoutMs: 10_000, commandTimeoutMs: 10_000 });
  try {
    await qmp.open();
    const qmpReady = Date.now();
    const readyAt = await ready;
    const pid = readPid(f.pidfile);
    const rss = pid !== null && isInstanceQemu(pid, f.pidfile) ? memoryOf(pid).rss_mib : 0;
    await qmp.execute("quit").catch(() => undefined); // the connection may close before the answer
    for (let i = 0; i < 250 && pid !== null && isAlive(pid); i++) await sleep(20);
    return { daemonized_ms: daemonized - t0, qmp_ready_ms: qmpReady - t0, ready_ms: readyAt - t0, guest_uptime_s: guestUptime(f.console, 0), qemu_rss_mib: rss };
  } finally {
    qmp.close();
    await killQemu(f);
  }
}

/** Memory of the master once its RSS has had a moment to settle after the last change. */
async function settledMemory(pid: number): Promise<Memory> {
  await sleep(2000);
  return memoryOf(pid);
}

export async function vmMeasure(o: VmOptions): Promise<Maybe<VmMeasure>> {
  const why = missing();
  if (why) return unavailable(`not measured: ${why}`);
  let guest: ReturnType<typeof findGuest>;
  try {
    guest = findGuest();
  } catch (err) {
    return unavailable(`not measured: the test guest is missing (${(err as Error).message.split("\n")[0]})`);
  }
  const qemuVersion = execFileSync(QEMU, ["--version"], { encoding: "utf8" }).split("\n")[0].trim();
  const dataDir = join(o.workDir, "data");
  const rawRoot = join(o.workDir, "raw");
  const kvmRoot = join(dataPaths(dataDir).nodeState, "kvm");
  const master = await o.startMaster(dataDir);
  const vm = new Vm({ base: master.base, auth: o.auth }, kvmRoot);
  const rawFiles = instanceFiles(rawRoot, VMS[0]);
  mkdirSync(rawFiles.dir, { recursive: true });
  try {
    o.log(`VM: kvm (TCG) with the test guest ${guest.dir}`);
    await vm.job("PUT", "/2/modify", {
      enabled_hypervisors: ["kvm", "fake"],
      hvparams: {
        kvm: {
          kernel_path: guest.kernel, initrd_path: guest.initrd, kernel_args: "console=ttyS0 quiet",
          root_path: "", vnc_bind_address: "127.0.0.1", kvm_flag: "disabled",
        },
      },
    });
    // No NIC: nothing leaves loopback, and no namespace or root is needed for taps. The default
    // instance policy asks for one NIC at least: the cluster's policy is widened to allow none.
    const info = (await vm.get("/2/info")) as { ipolicy: { minmax: { min: Record<string, number>; max: Record<string, number> }[] } };
    const minmax = info.ipolicy.minmax.map((mm) => ({ min: { ...mm.min, "nic-count": 0 }, max: mm.max }));
    await vm.job("PUT", "/2/modify", { ipolicy: { ...info.ipolicy, minmax } });
    for (const name of VMS) {
      await vm.job("POST", "/2/instances", {
        __version__: 1, mode: "create", name, disk_template: "file", disks: [{ size: 1024 }], nics: [],
        os_type: "corral-marker+default", hypervisor: "kvm", beparams: { maxmem: 256, minmem: 256, vcpus: 1 },
        ip_check: false, name_check: false, start: false,
      });
    }
    const runs: VmRun[] = [];
    const order: string[] = [];
    let command: { binary: string; args: string[]; corralArgs: string[] } | undefined;
    for (let i = 0; i < o.runs; i++) {
      // The raw run needs Corral's command line first; after that the two alternate who goes first.
      const corralFirst = i === 0 || i % 2 === 0;
      let c: CorralStart | undefined;
      let r: RawStart | undefined;
      for (const side of corralFirst ? ["corral", "raw"] : ["raw", "corral"]) {
        if (side === "corral") {
          c = await vm.start(VMS[0]);
          if (!command) {
            const rt = vm.runtime(VMS[0]);
            const disks = new Map<string, string>();
            for (const [k, d] of rt.layout.disks.entries()) {
              if (d.path === null) continue;
              const copy = join(rawRoot, `disk${k}.img`);
              execFileSync("cp", ["--sparse=always", d.path, copy]);
              disks.set(d.path, copy);
            }
            command = { binary: rt.binary, args: rawCommand(rt, vm.files(VMS[0]), rawFiles, disks, dataDir), corralArgs: rt.args };
          }
          await vm.stop(VMS[0]);
          o.log(`VM run ${i + 1}/${o.runs}: Corral startup → job success ${c.success_ms} ms, → ${MARKER} ${c.ready_ms} ms`);
        } else {
          r = await rawStart(command!.binary, command!.args, rawFiles);
          o.log(`VM run ${i + 1}/${o.runs}: raw QEMU spawn → ${MARKER} ${r.ready_ms} ms`);
        }
      }
      order.push(corralFirst ? "corral,raw" : "raw,corral");
      runs.push({ corral: c!, raw: r! });
    }

    o.log("VM: master memory with 0, 1 and 2 VMs running");
    const none = await settledMemory(master.pid);
    await vm.start(VMS[0]);
    const one = await settledMemory(master.pid);
    await vm.start(VMS[1]);
    const two = await settledMemory(master.pid);
    const qemuRss = VMS.map((n) => {
      const f = vm.files(n);
      const pid = readPid(f.pidfile);
      return pid !== null && isInstanceQemu(pid, f.pidfile) ? memoryOf(pid).rss_mib : 0;
    });
    for (const n of VMS) await vm.stop(n);

    const med = (pick: (r: VmRun) => number) => r1(median(runs.map(pick)));
    const connected = runs.every((r) => r.corral.qmp_connected_ms !== null);
    const corralReady = med((r) => r.corral.ready_ms);
    const rawReady = med((r) => r.raw.ready_ms);
    return {
      guest: guest.dir,
      qemu_version: qemuVersion,
      command: [command!.binary, ...command!.corralArgs].join(" "),
      order,
      runs,
      corral_ready_ms: corralReady,
      corral_success_ms: med((r) => r.corral.success_ms),
      raw_ready_ms: rawReady,
      ratio: Math.round((corralReady / rawReady) * 1000) / 1000,
      paired_ratio: Math.round(median(runs.map((r) => r.corral.ready_ms / r.raw.ready_ms)) * 1000) / 1000,
      overhead: {
        submit_to_spawn_ms: med((r) => r.corral.spawn_ms),
        own_ms: connected ? med((r) => r.corral.success_ms - (r.corral.qmp_connected_ms! - r.corral.spawn_ms)) : null,
        submit_to_job_start_ms: med((r) => r.corral.job_started_ms),
        job_start_to_spawn_ms: med((r) => r.corral.spawn_ms - r.corral.job_started_ms),
        spawn_to_pidfile_ms: med((r) => r.corral.pidfile_ms - r.corral.spawn_ms),
        spawn_to_qmp_connected_ms: connected ? med((r) => r.corral.qmp_connected_ms! - r.corral.spawn_ms) : null,
        qmp_connected_to_job_end_ms: connected ? med((r) => r.corral.job_ended_ms - r.corral.qmp_connected_ms!) : null,
        spawn_to_job_end_ms: med((r) => r.corral.job_ended_ms - r.corral.spawn_ms),
        job_end_to_client_ms: med((r) => r.corral.success_ms - r.corral.job_ended_ms),
        spawn_to_ready_ms: med((r) => r.corral.spawn_to_ready_ms),
      },
      guest_uptime_s: {
        corral: runs.every((r) => r.corral.guest_uptime_s !== null) ? median(runs.map((r) => r.corral.guest_uptime_s!)) : null,
        raw: runs.every((r) => r.raw.guest_uptime_s !== null) ? median(runs.map((r) => r.raw.guest_uptime_s!)) : null,
      },
      raw_phases: { daemonized_ms: med((r) => r.raw.daemonized_ms), qmp_ready_ms: med((r) => r.raw.qmp_ready_ms) },
      memory: {
        master_no_vm: none,
        master_one_vm: one,
        master_two_vms: two,
        master_per_vm_mib: r1((two.rss_mib - none.rss_mib) / 2),
        qemu_rss_mib: qemuRss,
      },
    };
  } finally {
    vm.close();
    await master.stop();
    // The master's QEMUs outlive it (daemonized): whatever a failure left running is ended here.
    for (const n of VMS) await killQemu(vm.files(n));
    await killQemu(rawFiles);
  }
}

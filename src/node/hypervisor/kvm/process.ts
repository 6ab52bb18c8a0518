// QEMU processes of the kvm driver: one directory per instance, daemonized starts, and the
// checks that make a pid safe to signal. QEMU runs with -daemonize: its parent exits only once
// the machine is built (disks open, kernel loaded, VNC bound), so its exit status is the start's
// result and its stderr (a file, never a pipe) carries QEMU's own error; the daemon belongs to
// no agent process and outlives the agent. Being nobody's child, its death is seen through QMP
// EOF and /proc, and a pid is only ever signalled after /proc/PID/cmdline shows it is the QEMU
// started with that instance's pidfile.

import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { KvmPaths } from "./cmdline.ts";
import { SCRIPT_PATH, tailFile } from "../../util/exec.ts";

/** Everything one instance keeps in its directory. */
export interface InstanceFiles extends KvmPaths {
  dir: string;
  /** The daemonizing parent's stdout and stderr: QEMU's start errors. */
  startLog: string;
  /** How the running QEMU was started (argv, layout, spec): for re-adoption, hotplug and migration. */
  runtime: string;
}

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

export function instanceFiles(root: string, instance: string): InstanceFiles {
  const dir = join(root, instance);
  return {
    dir,
    pidfile: join(dir, "qemu.pid"),
    qmp: join(dir, "qmp.sock"),
    serial: join(dir, "serial.sock"),
    vnc: join(dir, "vnc.sock"),
    console: join(dir, "console.log"),
    log: join(dir, "qemu.log"),
    startLog: join(dir, "start.log"),
    runtime: join(dir, "runtime.json"),
  };
}

/** Why the socket paths cannot be used, or null. */
export function socketPathProblem(files: InstanceFiles): string | null {
  const long = [files.qmp, files.serial, files.vnc].find((p) => Buffer.byteLength(p) > MAX_SOCKET_PATH);
  return long ? `the socket path ${long} is longer than ${MAX_SOCKET_PATH} bytes (use a shorter state directory)` : null;
}

export async function instanceDirs(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

export function readPid(pidfile: string): number | null {
  try {
    const pid = Number(readFileSync(pidfile, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** The process state letter (R, S, Z…) from /proc/PID/stat, or null when there is no such process. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}

/** Alive: exists and is neither a zombie nor dead (a daemon's zombie waits for whoever adopted it). */
export function isAlive(pid: number): boolean {
  const state = procState(pid);
  return state !== null && state !== "Z" && state !== "X";
}

/** True when `pid` is a live QEMU started with this pidfile: the only pids the driver signals. */
export function isInstanceQemu(pid: number, pidfile: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const at = argv.indexOf("-pidfile");
    return at > 0 && argv[at + 1] === pidfile;
  } catch {
    return false;
  }
}

/** Signals the instance's QEMU if `pid` still is it; false when it is not (gone, or another process). */
export function signalQemu(pid: number, pidfile: string, signal: NodeJS.Signals): boolean {
  if (!isInstanceQemu(pid, pidfile)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pid` is no longer alive; true when it died within `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Seconds since the process started (/proc/PID/stat starttime against /proc/uptime). */
export function processUptime(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]); // field 22 of stat; USER_HZ is 100 on Linux
    const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    return Math.max(0, Math.floor(uptime - startTicks / 100));
  } catch {
    return 0;
  }
}

/** Resident memory of a process, MiB (0 when gone). */
export function residentMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.floor(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

export type StartResult = { ok: true; pid: number } | { ok: false; message: string };

/**
 * Runs QEMU with -daemonize (optionally inside a network namespace) and waits for its parent:
 * exit 0 and a pidfile → started; anything else → QEMU's own error output.
 */
export async function startDaemonized(binary: string, args: string[], files: InstanceFiles, opts: { netns?: string; timeoutMs: number }): Promise<StartResult> {
  const argv = opts.netns ? ["ip", ["netns", "exec", opts.netns, binary, ...args]] as const : [binary, args] as const;
  const logStart = fileSize(files.log);
  const out = openSync(files.startLog, "w", 0o640);
  let outcome: { code: number | null; error?: string };
  try {
    outcome = await new Promise((resolve) => {
      const child = spawn(argv[0], argv[1], { stdio: ["ignore", out, out], env: { PATH: SCRIPT_PATH, LC_ALL: "C" }, detached: true });
      const timer = setTimeout(() => {
        child.kill("SIGKILL"); // our own child: the daemonizing parent, never the daemon
        resolve({ code: null, error: `QEMU did not finish starting within ${opts.timeoutMs} ms` });
      }, opts.timeoutMs);
      child.once("error", (err) => (clearTimeout(timer), resolve({ code: null, error: err.message })));
      child.once("exit", (code) => (clearTimeout(timer), resolve({ code })));
    });
  } finally {
    closeSync(out);
  }
  const pid = readPid(files.pidfile);
  if (outcome.code === 0 && pid !== null && isInstanceQemu(pid, files.pidfile)) return { ok: true, pid };
  // The daemonizing parent prints early errors; once -D is in effect QEMU reports into its log.
  const logged = await readFrom(files.log, logStart);
  const tail = [...(await tailFile(files.startLog, 10)), ...logged.split("\n").slice(-10)].join("\n").trim();
  const why = outcome.error ?? (outcome.code === 0 ? "QEMU exited right after starting" : `exit code ${outcome.code}`);
  return { ok: false, message: tail ? `${tail} (${why})` : why };
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    return (await readFile(file)).subarray(offset).toString("utf8");
  } catch {
    return "";
  }
}

/**
 * Removes what a dead QEMU may leave (pidfile, sockets after SIGKILL, and the VNC socket, which
 * QEMU 7.2 leaves even on a clean exit); keeps the console history and logs.
 */
export async function removeStaleFiles(files: InstanceFiles): Promise<void> {
  await Promise.all([files.pidfile, files.qmp, files.serial, files.vnc].map((f) => rm(f, { force: true })));
}

export async function readRuntimeText(files: InstanceFiles): Promise<string | null> {
  try {
    return await readFile(files.runtime, "utf8");
  } catch {
    return null;
  }
}

// Runs external scripts (OS definitions, ExtStorage providers) the way Ganeti does: a clean
// environment, a working directory, output into a log file, and a time limit after which the
// script's whole process group is killed.

import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { SparseWriter } from "./sparse.ts";

/** PATH given to scripts (Ganeti's HOOKS_PATH): the daemon's own environment is not inherited. */
export const SCRIPT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const CAPTURE_LIMIT = 1024 * 1024;

export interface ScriptOptions {
  path: string;
  args?: string[];
  env: Record<string, string>;
  cwd: string;
  /** stdout and stderr are appended here; with captureStdout only stderr is. */
  logFile?: string;
  captureStdout?: boolean;
  /** A file fed to the script's stdin. */
  stdinFile?: string;
  /** stdout goes to this file (written sparsely: zero blocks stay holes). */
  stdoutFile?: string;
  timeoutMs: number;
}

export interface ScriptResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Captured stdout (captureStdout), else "". */
  stdout: string;
  /** Captured stdout+stderr when there is no log file, else "". */
  output: string;
}

export function scriptFailed(r: ScriptResult): boolean {
  return r.timedOut || r.code !== 0;
}

/** Ganeti's fail_reason wording. */
export function failReason(r: ScriptResult, timeoutMs: number): string {
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 100) / 10}s`;
  if (r.signal) return `terminated by signal ${r.signal}`;
  return `exited with exit code ${r.code}`;
}

export function runScript(opts: ScriptOptions): Promise<ScriptResult> {
  const fds: number[] = [];
  const open = (file: string, flags: string) => {
    const fd = openSync(file, flags, 0o640);
    fds.push(fd);
    return fd;
  };
  return new Promise<ScriptResult>((resolve, reject) => {
    let logFd: number | null = null;
    let stdinFd: number | "ignore" = "ignore";
    let sink: SparseWriter | null = null;
    try {
      if (opts.logFile) {
        mkdirSync(dirname(opts.logFile), { recursive: true });
        logFd = open(opts.logFile, "a");
      }
      if (opts.stdinFile) stdinFd = open(opts.stdinFile, "r");
      if (opts.stdoutFile) sink = new SparseWriter(opts.stdoutFile);
    } catch (err) {
      fds.forEach((fd) => closeSync(fd));
      reject(err);
      return;
    }
    const stdout = opts.captureStdout || logFd === null || sink ? "pipe" : logFd;
    const stderr = logFd === null ? "pipe" : logFd;
    const child = spawn(opts.path, opts.args ?? [], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [stdinFd, stdout, stderr],
      // Own process group, so a timeout can kill whatever the script started.
      detached: true,
    });
    let out = "";
    let combined = "";
    const collect = (into: "out" | "both") => (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      if (into === "out") out = (out + text).slice(-CAPTURE_LIMIT);
      if (logFd === null) combined = (combined + text).slice(-CAPTURE_LIMIT);
    };
    if (sink) {
      const writer = sink;
      child.stdout?.on("data", (chunk: Buffer) => writer.write(chunk));
    } else child.stdout?.on("data", collect(opts.captureStdout ? "out" : "both"));
    child.stderr?.on("data", collect("both"));

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, opts.timeoutMs);
    let settled = false;
    const finish = (code: number | null, signal: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fds.forEach((fd) => closeSync(fd));
      sink?.finish();
      resolve({ code, signal, timedOut, stdout: out, output: combined });
    };
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fds.forEach((fd) => closeSync(fd));
      sink?.finish();
      reject(err);
    });
    // "close" waits for the pipes; if something the script left behind holds them, "exit" plus
    // a grace period still ends the wait.
    child.on("close", (code, signal) => finish(code, signal));
    child.on("exit", (code, signal) => {
      setTimeout(() => finish(code, signal), 2000).unref();
    });
  });
}

/** The last `lines` lines of a log file (Ganeti's TailFile), or [] when unreadable. */
export async function tailFile(file: string, lines = 20): Promise<string[]> {
  try {
    const text = await readFile(file, "utf8");
    return text.split("\n").filter((l, i, all) => i < all.length - 1 || l !== "").slice(-lines);
  } catch {
    return [];
  }
}

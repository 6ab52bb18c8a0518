// A master as a real process (`bin/corral master`, plain HTTP on loopback), for the tests that
// kill it, measure its memory, or load it from many sockets.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));

export interface MasterProcess {
  proc: ChildProcess;
  port: number;
  /** What it wrote on stderr until it listened (later output: proc.stderr). */
  startLog: string;
}

/** Starts `corral master` on a free loopback port; resolves once RAPI listens (within `withinMs`, default 20 s). `corral`: another checkout's bin/corral (a bench's "before"). */
export async function startMasterProcess(dataDir: string, usersFile: string | undefined, extraArgs: readonly string[] = [], o: { tls?: boolean; withinMs?: number; corral?: string } = {}): Promise<MasterProcess> {
  const proc = spawn(
    o.corral ?? CORRAL,
    ["master", ...(o.tls ? [] : ["--no-ssl"]), "-b", "127.0.0.1", "-p", "0", "--data-dir", dataDir, ...(usersFile === undefined ? [] : ["--users-file", usersFile]), "--node-name", "node1.corral.test", ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let seen = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`master did not start within ${o.withinMs ?? 20_000} ms: ${seen}`)), o.withinMs ?? 20_000);
    proc.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /RAPI listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => reject(new Error(`master exited with ${code}: ${seen}`)));
  });
  return { proc, port, startLog: seen };
}

/** Runs `corral ARGS…` (an admin command); its exit code and what it wrote on stdout and stderr. */
export function runCorral(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(CORRAL, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, out })));
}

/** SIGKILL, and resolves once the process is gone. */
export function killProcess(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill("SIGKILL");
  });
}

/** Resident memory of a live process, in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Starts `corral node-agent ARGS…`; resolves with the process and the endpoint it listens on. */
export function startAgentProcess(args: readonly string[]): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = spawn(CORRAL, ["node-agent", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`agent ${args.join(" ")} did not start: ${seen}`)), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /listening on (https:\/\/\S+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve({ child, endpoint: m[1] });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code}: ${seen}`));
    });
  });
}

// Runs `corral master` as a child process for the bench, exactly as an operator starts it
// (bin/corral, TLS with the data directory's certificate), and reads what the kernel says
// about it: start-up time, resident memory.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client, sleep } from "./http.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));

export interface MasterProcOptions {
  dataDir: string;
  /** 0: any free port (read back from the master's log). */
  port: number;
  usersFile: string;
  nodeName: string;
  /** Directory for a V8 CPU profile (node --cpu-prof), written when the master stops. */
  cpuProfDir?: string;
  /** More `corral master` options (e.g. --no-audit-trail for a reference run). */
  args?: string[];
}

export interface RunningMaster {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly base: string;
  /** Spawn → "RAPI listening" on stderr, ms. */
  readonly listeningMs: number;
  /** Spawn → first 200 answer to GET /2/info, ms. */
  readonly readyMs: number;
  log(): string;
  /** SIGTERM and wait (SIGKILL after 20 s): an orderly stop, profile written. */
  stop(): Promise<void>;
  /** SIGKILL at once (the durability check). */
  kill(): Promise<void>;
}

/** Masters still running: killed when the bench exits, whatever way it exits. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => process.exit(130));
}

export async function startMasterProc(o: MasterProcOptions): Promise<RunningMaster> {
  const env = { ...process.env };
  if (o.cpuProfDir && /\s/.test(o.cpuProfDir)) throw new Error(`profile directory may not contain spaces: ${o.cpuProfDir}`);
  if (o.cpuProfDir) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --cpu-prof --cpu-prof-dir=${o.cpuProfDir}`.trim();
  const t0 = performance.now();
  const proc = spawn(
    CORRAL,
    ["master", "--data-dir", o.dataDir, "-p", String(o.port), "-b", "127.0.0.1", "--users-file", o.usersFile, "--node-name", o.nodeName, ...(o.args ?? [])],
    { stdio: ["ignore", "pipe", "pipe"], env },
  );
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
  let output = "";
  proc.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  let port = o.port;
  const listeningMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`master did not start within 120 s:\n${output}`)), 120_000);
    const onData = () => {
      const m = /RAPI listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        port = Number(m[1]);
        clearTimeout(timer);
        proc.stderr!.off("data", onData);
        resolve(performance.now() - t0);
      }
    };
    proc.stderr!.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`master exited with ${code} before listening:\n${output}`));
    });
  });
  const base = `https://127.0.0.1:${port}`;
  const probe = new Client({ base }, 1);
  let readyMs = -1;
  try {
    for (let i = 0; i < 200 && readyMs < 0; i++) {
      const r = await probe.request("GET", "/2/info").catch(() => undefined);
      if (r?.status === 200) readyMs = performance.now() - t0;
      else await sleep(25);
    }
  } finally {
    probe.close();
  }
  if (readyMs < 0) throw new Error(`master on ${base} never answered /2/info:\n${output}`);
  const halt = async (signal: NodeJS.Signals, graceMs: number) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    proc,
    pid: proc.pid!,
    base,
    listeningMs: Math.round(listeningMs),
    readyMs: Math.round(readyMs),
    log: () => output,
    stop: () => halt("SIGTERM", 20_000),
    kill: () => halt("SIGKILL", 5_000),
  };
}

export interface Memory {
  /** Resident set now, MiB. */
  rss_mib: number;
  /** Peak resident set since start (VmHWM), MiB. */
  peak_rss_mib: number;
}

/** CPU time of a process, all its threads, so far (user + system), s. */
export function cpuSecondsOf(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th, in ticks of 1/100 s.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss_mib: Math.round(kb("VmRSS") / 102.4) / 10, peak_rss_mib: Math.round(kb("VmHWM") / 102.4) / 10 };
}

// What machine a result was measured on: it travels with every result file.

import { execFileSync } from "node:child_process";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";

export interface MachineInfo {
  nproc: number;
  cpu_model: string;
  memory_gib: number;
  kernel: string;
  os: string;
  node: string;
  wrk: string;
  /** Filesystem type of the data directories (fsync cost depends on it). */
  data_fs: string;
  corral_commit: string;
  /** 1-, 5- and 15-minute load averages when the run started and ended. */
  loadavg_start?: string;
  loadavg_end?: string;
}

export const loadAverage = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");

function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", cwd, stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch (err) {
    // `wrk -v` exits 1 after printing its version.
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ""}${e.stderr ?? ""}`.trim();
  }
}

export function describeMachine(dataDir: string, repo: string): MachineInfo {
  const osRelease = run("sh", ["-c", ". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\""]);
  const commit = run("git", ["rev-parse", "--short", "HEAD"], repo);
  const dirty = run("git", ["status", "--porcelain", "--untracked-files=no", "--", "src", "bin"], repo) !== "";
  return {
    nproc: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? "unknown",
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    os: osRelease || "unknown",
    node: process.version,
    wrk: /wrk \S+/.exec(run("wrk", ["-v"]))?.[0] ?? "not installed",
    data_fs: run("df", ["--output=fstype", dataDir]).split("\n").pop()?.trim() || "unknown",
    corral_commit: commit ? `${commit}${dirty ? " (+ uncommitted changes in src/ or bin/)" : ""}` : "unknown",
    loadavg_start: loadAverage(),
  };
}

// Facts about the real machine the agent runs on, independent of any hypervisor.

import { readFile } from "node:fs/promises";
import { availableParallelism, freemem, hostname, loadavg, machine, release, totalmem, type } from "node:os";

const MiB = 1024 * 1024;

export interface HostFacts {
  hostname: string;
  memory_total: number;
  /** What the OS could give to new work (MemAvailable), MiB. */
  memory_free: number;
  cpu_total: number;
  loadavg: number[];
  /** `uname -r`, `uname -o` and `uname -m` (PVC's node view shows them). */
  kernel: string;
  os: string;
  arch: string;
}

export async function hostFacts(): Promise<HostFacts> {
  return {
    hostname: hostname(),
    memory_total: Math.floor(totalmem() / MiB),
    memory_free: (await memAvailable()) ?? Math.floor(freemem() / MiB),
    cpu_total: availableParallelism(),
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    kernel: release(),
    os: type() === "Linux" ? "GNU/Linux" : type(),
    arch: machine(),
  };
}

/** MemAvailable from /proc/meminfo in MiB (counts reclaimable cache, unlike freemem()). */
async function memAvailable(): Promise<number | null> {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(await readFile("/proc/meminfo", "utf8"));
    return m ? Math.floor(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

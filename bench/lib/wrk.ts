// Runs Debian's wrk (HTTP/1.1 keep-alive load) against one URL for a bounded time and reads
// its summary through wrk/report.lua: requests/s, latency percentiles, errors.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPORTER = fileURLToPath(new URL("../wrk/report.lua", import.meta.url));

export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  /** Per-request timeout (wrk's --timeout), seconds. */
  timeoutS?: number;
  /** user:password sent as Basic auth, if any. */
  auth?: string;
}

export interface WrkResult {
  url: string;
  connections: number;
  threads: number;
  duration_s: number;
  requests: number;
  req_per_s: number;
  /** Bytes of responses per second (headers included). */
  bytes_per_s: number;
  latency_ms: { p50: number; p75: number; p90: number; p99: number; p99_9: number; mean: number; max: number };
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
}

/** Runs wrk; the child is killed if it outlives its duration by more than 30 s. */
export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const host = new URL(o.url).hostname;
  if (!host.startsWith("127.") && host !== "localhost") throw new Error(`wrk runs against loopback only, not ${host}`);
  const dir = mkdtempSync(join(tmpdir(), "corral-wrk-"));
  const report = join(dir, "report.json");
  const args = [
    "-t", String(o.threads), "-c", String(o.connections), "-d", `${o.durationS}s`,
    "--timeout", `${o.timeoutS ?? 10}s`, "-s", REPORTER,
  ];
  if (o.auth) args.push("-H", `Authorization: Basic ${Buffer.from(o.auth).toString("base64")}`);
  args.push(o.url);
  try {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn("wrk", args, { env: { ...process.env, WRK_REPORT: report }, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stdout.resume();
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const guard = setTimeout(() => child.kill("SIGKILL"), (o.durationS + 30) * 1000);
      child.on("error", reject);
      child.on("exit", (code) => {
        clearTimeout(guard);
        resolve({ code, stderr });
      });
    });
    if (code !== 0) throw new Error(`wrk exited with ${code}: ${stderr.trim()}`);
    const raw = JSON.parse(readFileSync(report, "utf8")) as {
      requests: number; duration_us: number; bytes: number;
      errors: WrkResult["errors"];
      latency_us: Record<string, number>;
    };
    const seconds = raw.duration_us / 1e6;
    const ms = (k: string) => Math.round((raw.latency_us[k] ?? 0) / 10) / 100;
    return {
      url: o.url,
      connections: o.connections,
      threads: o.threads,
      duration_s: Math.round(seconds * 100) / 100,
      requests: raw.requests,
      req_per_s: Math.round((raw.requests / seconds) * 10) / 10,
      bytes_per_s: Math.round(raw.bytes / seconds),
      latency_ms: { p50: ms("p50"), p75: ms("p75"), p90: ms("p90"), p99: ms("p99"), p99_9: ms("p99_9"), mean: ms("mean"), max: ms("max") },
      errors: raw.errors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Child processes of the bench other than the master: the seeder and the ceiling server.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const NODE_ARGS = ["--disable-warning=ExperimentalWarning"];

/** Runs a bench script under this Node to completion; resolves with its stdout. */
export function runNodeScript(script: string, args: string[], timeoutMs: number): Promise<string> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_ARGS, path, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const guard = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(guard);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} ${args.join(" ")} ended with ${code ?? signal}: ${err.trim()}`));
    });
  });
}

export interface Ceiling {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

export async function startCeiling(o: { port: number; pem: string; body: string; server: string }): Promise<Ceiling> {
  const path = fileURLToPath(new URL("./ceiling.ts", import.meta.url));
  const proc = spawn(process.execPath, [...NODE_ARGS, path, "--port", String(o.port), "--pem", o.pem, "--body", o.body, "--server", o.server], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  process.once("exit", () => proc.kill("SIGKILL"));
  let log = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ceiling server did not start: ${log}`)), 20_000);
    proc.stderr!.on("data", (c: Buffer) => {
      log += c.toString();
      const m = /ceiling listening on (\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`ceiling server exited with ${code}: ${log}`));
    });
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return {
    proc,
    port,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

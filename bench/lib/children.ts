// Child processes of the bench other than the master: the seeder, the ceiling server, the
// hostile run's attacker and the event stream's listeners.

import { spawn, type ChildProcess } from "node:child_process";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import type { HostileAttack } from "./hostile.ts";
import type { ListenersComplete, ListenersReady, ListenersSummary } from "./listeners.ts";

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

export interface HostileOptions {
  base: string;
  seconds: number;
  slow: number;
  slowHeaders: number;
  concurrency: number;
  seed: number;
  /** Who the fuzz speaks as: writer, reader, anonymous. */
  who: string[];
  /** user name → "user:password" for the fuzz's writer, reader and nobody. */
  users: Record<string, string>;
  /** Path parameter values naming existing objects. */
  existing: Record<string, string>;
}

export interface HostileProc {
  /** Spawn → every slow socket connected once (or failed), ms. */
  readyMs: number;
  /** performance.now() of this process when the attack ends by itself. */
  endsAt: number;
  /** The attacker's own summary, when it has stopped by itself. */
  finished: Promise<HostileAttack>;
  /** Ends it early (SIGKILL); `finished` then rejects. */
  kill(): void;
}

/** Starts the attacker (lib/hostile.ts) and waits until it is at full strength. */
export async function startHostile(o: HostileOptions): Promise<HostileProc> {
  const path = fileURLToPath(new URL("./hostile.ts", import.meta.url));
  const args = [
    "--base", o.base, "--seconds", String(o.seconds), "--slow", String(o.slow), "--slow-headers", String(o.slowHeaders),
    "--concurrency", String(o.concurrency), "--seed", String(o.seed), "--who", o.who.join(","), "--users", JSON.stringify(o.users), "--existing", JSON.stringify(o.existing),
  ];
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...NODE_ARGS, path, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const killIt = () => proc.kill("SIGKILL");
  process.once("exit", killIt);
  let out = "";
  let log = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  // It stops by itself after --seconds; this guard only catches a hung attacker.
  const guard = setTimeout(killIt, (o.seconds + 60) * 1000);
  const finished = new Promise<HostileAttack>((resolve, reject) => {
    proc.once("exit", (code, signal) => {
      clearTimeout(guard);
      process.off("exit", killIt);
      if (code === 0) resolve(JSON.parse(out) as HostileAttack);
      else reject(new Error(`hostile attacker ended with ${code ?? signal}: ${log.trim()}`));
    });
  });
  finished.catch(() => undefined); // observed by the caller; not an unhandled rejection meanwhile
  // "hostile ready N ms": N since the attack began (after the attacker loaded its modules).
  const sinceStart = await new Promise<number>((resolve, reject) => {
    const onData = (c: Buffer) => {
      log += c.toString();
      const m = /hostile ready (\d+) ms/.exec(log);
      if (m) {
        proc.stderr!.off("data", onData);
        proc.stderr!.on("data", (more: Buffer) => (log += more.toString()));
        resolve(Number(m[1]));
      }
    };
    proc.stderr!.on("data", onData);
    finished.then(() => reject(new Error(`hostile attacker ended before it was ready: ${log.trim()}`)), reject);
  });
  const now = performance.now();
  return { readyMs: Math.round(now - t0), endsAt: now + o.seconds * 1000 - sinceStart, finished, kill: killIt };
}

export interface ListenersProc {
  ready: ListenersReady;
  /** Resolves once every listener saw each job's end (or `timeoutMs` passed). */
  awaitJobEnds(ids: number[], timeoutMs: number): Promise<ListenersComplete>;
  /** Closes the listeners; their counts. */
  stop(): Promise<ListenersSummary>;
  kill(): void;
}

/** Starts the event stream's listeners (lib/listeners.ts) and waits until all are connected. */
export async function startListeners(o: { base: string; listeners: number; auth?: string; query?: string; identity?: boolean; nice?: number }): Promise<ListenersProc> {
  const path = fileURLToPath(new URL("./listeners.ts", import.meta.url));
  const args = ["--base", o.base, "--listeners", String(o.listeners), ...(o.auth ? ["--auth", o.auth] : []), ...(o.query ? ["--query", o.query] : []), ...(o.identity ? ["--identity"] : [])];
  const proc = spawn(process.execPath, [...NODE_ARGS, path, ...args], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
  if (o.nice && proc.pid !== undefined) setPriority(proc.pid, o.nice);
  const killIt = () => proc.kill("SIGKILL");
  process.once("exit", killIt);
  let log = "";
  proc.stderr!.on("data", (c: Buffer) => (log += c.toString()));
  const exited = new Promise<never>((_resolve, reject) => {
    proc.once("exit", (code, signal) => {
      process.off("exit", killIt);
      reject(new Error(`the listeners ended with ${code ?? signal}: ${log.trim()}`));
    });
  });
  exited.catch(() => undefined); // raced against each answer below
  const next = <T>(type: string): Promise<T> =>
    Promise.race([
      exited,
      new Promise<T>((resolve) => {
        const onMessage = (m: { type: string }) => {
          if (m.type !== type) return;
          proc.off("message", onMessage);
          resolve(m as T);
        };
        proc.on("message", onMessage);
      }),
    ]);
  const ready = await next<ListenersReady>("ready");
  return {
    ready,
    awaitJobEnds(ids, timeoutMs) {
      proc.send({ type: "await", ids, timeout_ms: timeoutMs });
      return next<ListenersComplete>("complete");
    },
    async stop() {
      proc.send({ type: "stop" });
      const summary = await next<ListenersSummary>("summary");
      killIt();
      return summary;
    },
    kill: killIt,
  };
}

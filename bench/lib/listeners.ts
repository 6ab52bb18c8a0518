// The event stream's listeners for the bench, a process of its own (so their CPU is not the
// measuring bench's, nor the master's): --listeners TLS connections to GET /corral/1/events,
// unfiltered, in gzip as browsers ask for it (--identity: not), each reading and parsing
// everything with the test suite's SSE parser (test/support/sse.ts). It talks to the bench
// over IPC:
//
//   → {type: "ready", connect_ms, failed}      once every listener has its 200
//   ← {type: "await", ids, timeout_ms}         wait until every listener saw each job's end
//   → {type: "complete", ...}                  how long that took, and who was missing what
//   ← {type: "stop"}                           close, report, exit
//   → {type: "summary", ...}

import { request } from "node:https";
import { parseArgs } from "node:util";
import { createGunzip } from "node:zlib";
import { SseParser } from "../../test/support/sse.ts";

/** Handshakes in progress at once while the listeners connect. */
const CONNECTING_AT_ONCE = 32;
/** A job event's data starts with its id, change and status (the bus's field order). */
const JOB_END = /^\{"id":(\d+),"change":"status","status":"(?:success|error|canceled)"/;

export interface ListenersReady {
  type: "ready";
  listeners: number;
  connect_ms: number;
  /** Listeners that got no 200 (status or error text → count). */
  failed: Record<string, number>;
}

export interface ListenersComplete {
  type: "complete";
  jobs: number;
  /** "await" received → every listener had every job's end, ms (or the timeout). */
  ms: number;
  /** Listeners that saw the end of every job asked about. */
  complete: number;
  /** Job ends seen, summed over listeners (listeners × jobs when nothing is missing). */
  job_ends_seen: number;
}

export interface ListenersSummary {
  type: "summary";
  listeners: number;
  /** Events received per listener. */
  events: { min: number; max: number; total: number };
  /** Text received (decoded), and bytes of body on the wire (compressed when gzip). */
  bytes: number;
  wire_bytes: number;
  /** Streams the master ended, and the overflow and gap events received. */
  ended_by_master: number;
  overflows: number;
  gaps: number;
  /** Events whose id was not above the one before, summed over listeners (must be 0). */
  out_of_order: number;
  cpu_s: number;
}

/** The job ends the bench waits for; each listener counts those it has seen as they come. */
class Awaited {
  readonly ids: Set<number>;
  /** Listeners that have not seen them all yet. */
  private missing: number;
  readonly done = Promise.withResolvers<void>();
  constructor(ids: number[], listeners: Listener[]) {
    this.ids = new Set(ids);
    for (const l of listeners) l.awaitedSeen = ids.filter((id) => l.jobEnds.has(id)).length;
    this.missing = listeners.filter((l) => l.awaitedSeen < this.ids.size).length;
    if (this.missing === 0) this.done.resolve();
  }
  seen(l: Listener): void {
    if (++l.awaitedSeen === this.ids.size && --this.missing === 0) this.done.resolve();
  }
}

let awaited: Awaited | undefined;

class Listener {
  readonly parser = new SseParser();
  readonly jobEnds = new Set<number>();
  awaitedSeen = 0;
  events = 0;
  bytes = 0;
  wireBytes = 0;
  lastId = 0;
  outOfOrder = 0;
  overflows = 0;
  gaps = 0;
  endedByServer = false;
  close: () => void = () => undefined;

  receive(chunk: string): void {
    this.bytes += chunk.length;
    for (const e of this.parser.feed(chunk)) {
      this.events++;
      const id = Number(e.lastEventId);
      if (e.event === "overflow") this.overflows++;
      else if (e.event === "gap") this.gaps++;
      else if (id <= this.lastId) this.outOfOrder++;
      this.lastId = id;
      const end = e.event === "job" ? JOB_END.exec(e.data) : null;
      if (end && !this.jobEnds.has(Number(end[1]))) {
        const job = Number(end[1]);
        this.jobEnds.add(job);
        if (awaited?.ids.has(job)) awaited.seen(this);
      }
    }
  }
}

function connect(base: URL, path: string, auth: string | undefined, gzip: boolean, l: Listener): Promise<string | undefined> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { Accept: "text/event-stream", ...(gzip ? { "Accept-Encoding": "gzip" } : {}) };
    if (auth) headers.Authorization = `Basic ${Buffer.from(auth).toString("base64")}`;
    const req = request({ host: base.hostname, port: base.port, path, headers, agent: false, rejectUnauthorized: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(`status ${res.statusCode}`);
        return;
      }
      const gzipped = res.headers["content-encoding"] === "gzip";
      if (gzipped) res.on("data", (c: Buffer) => (l.wireBytes += c.length));
      const body = gzipped ? res.pipe(createGunzip()) : res;
      body.setEncoding("utf8");
      body.on("data", (chunk: string) => l.receive(chunk));
      res.on("end", () => (l.endedByServer = true));
      resolve(undefined);
    });
    req.on("error", (err) => resolve(err.message));
    req.end();
    l.close = () => req.destroy();
  });
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: { base: { type: "string" }, listeners: { type: "string" }, auth: { type: "string" }, query: { type: "string" }, identity: { type: "boolean" } },
  });
  if (!v.base || !process.send) throw new Error("usage: listeners.ts --base URL --listeners N [--auth user:pw] [--query kinds=...] [--identity], spawned with an IPC channel");
  const path = `/corral/1/events${v.query ? `?${v.query}` : ""}`;
  const base = new URL(v.base);
  const listeners = Array.from({ length: Number(v.listeners ?? 1000) }, () => new Listener());
  const send = (m: ListenersReady | ListenersComplete | ListenersSummary) => process.send!(m);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const failed: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTING_AT_ONCE }, async () => {
      while (next < listeners.length) {
        const why = await connect(base, path, v.auth, !v.identity, listeners[next++]);
        if (why !== undefined) failed[why] = (failed[why] ?? 0) + 1;
      }
    }),
  );
  send({ type: "ready", listeners: listeners.length, connect_ms: Math.round(performance.now() - t0), failed });

  process.on("message", (m: { type: "await"; ids: number[]; timeout_ms: number } | { type: "stop" }) => {
    if (m.type === "await") void awaitJobEnds(listeners, m.ids, m.timeout_ms).then(send);
    else {
      for (const l of listeners) l.close();
      const counts = listeners.map((l) => l.events);
      const cpu = process.cpuUsage(cpu0);
      send({
        type: "summary",
        listeners: listeners.length,
        events: { min: Math.min(...counts), max: Math.max(...counts), total: counts.reduce((a, b) => a + b, 0) },
        bytes: listeners.reduce((a, l) => a + l.bytes, 0),
        wire_bytes: listeners.reduce((a, l) => a + (l.wireBytes || l.bytes), 0),
        ended_by_master: listeners.filter((l) => l.endedByServer).length,
        overflows: listeners.reduce((a, l) => a + l.overflows, 0),
        gaps: listeners.reduce((a, l) => a + l.gaps, 0),
        out_of_order: listeners.reduce((a, l) => a + l.outOfOrder, 0),
        cpu_s: Math.round((cpu.user + cpu.system) / 1e4) / 100,
      });
      process.disconnect();
    }
  });
}

/** Waits until every listener saw each job's end, or the timeout. */
async function awaitJobEnds(listeners: Listener[], ids: number[], timeoutMs: number): Promise<ListenersComplete> {
  const t0 = performance.now();
  const wait = (awaited = new Awaited(ids, listeners));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([wait.done.promise, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  awaited = undefined;
  return {
    type: "complete",
    jobs: ids.length,
    ms: Math.round(performance.now() - t0),
    complete: listeners.filter((l) => l.awaitedSeen === wait.ids.size).length,
    job_ends_seen: listeners.reduce((a, l) => a + l.awaitedSeen, 0),
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`listeners: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

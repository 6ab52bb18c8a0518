// The hostile run's attacker, a process of its own (so its CPU is not the measuring bench's):
// for --seconds it holds slow clients open against the master and sends a seeded fuzz stream,
// then stops by itself and prints what it did as one JSON line.
//
//   node bench/lib/hostile.ts --base https://127.0.0.1:15080 --seconds 20 --slow 300 ...
//
// Slow clients: --slow sockets that send their headers with a large Content-Length and then
// trickle a byte a second (half anonymous `GET /version`, half `PUT /2/tags` as the write
// user), and --slow-headers sockets that trickle their headers instead. A socket the master
// closes is opened again a second later, until the end. Fuzz: the test suite's generator
// (test/support/fuzzgen.ts) over the RAPI route table as writer, reader and anonymous client,
// --concurrency requests in flight, plus bodies nested up to the JSON depth limit and
// oversized Content-Lengths. "hostile ready" goes to stderr once every slow socket has
// connected (or failed to), so the bench knows when the attack is at full strength.

import { connect as tlsConnect, createSecureContext, type TLSSocket } from "node:tls";
import { parseArgs } from "node:util";
import { corralNodeRoutes } from "../../src/api/corral/nodes.ts";
import { MAX_JSON_DEPTH } from "../../src/api/http/body.ts";
import { rapiRoutes } from "../../src/api/rapi/resources.ts";
import type { RapiServices } from "../../src/api/rapi/services.ts";
import { Gen, makeRequest, type FuzzRequest, type FuzzTargets, type RouteShape, type Who } from "../../test/support/fuzzgen.ts";
import { basicAuthLine, Connection, sleep } from "./http.ts";
import { percentiles, type Percentiles } from "./stats.ts";

/** Declared by the slow bodies: above what a byte a second sends in any run, within the routes' limits. */
const SLOW_CONTENT_LENGTH = 100_000;
/** Declared by the oversized fuzz requests, with no body: above every route's limit (10 MiB). */
const OVERSIZED_CONTENT_LENGTH = 64 * 1024 * 1024;
/** A slow socket the master closed is opened again after this long. */
const RECONNECT_MS = 1000;
/** Handshakes the attacker has in progress at once while it opens the slow sockets. */
const CONNECTING_AT_ONCE = 32;
/** One fuzz request waits at most this long for its answer. */
const FUZZ_TIMEOUT_MS = 30_000;

type SlowKind = "version" | "tags" | "headers";

export interface HostileAttack {
  seed: number;
  seconds: number;
  /** CPU time the attacker itself used (user + system), s. */
  cpu_s: number;
  slow: {
    /** Slow-body sockets (half GET /version anonymous, half PUT /2/tags as the writer). */
    body_clients: number;
    /** Sockets that trickle their headers. */
    header_clients: number;
    content_length: number;
    /** Every TLS connection the slow clients opened, reconnections included. */
    connections: number;
    handshake_failures: number;
    /** Slow sockets open at once, sampled every second of the attack. */
    open: { min: number; median: number; max: number };
    /** Answers the master sent on slow sockets, by status. */
    by_status: Record<string, number>;
    closed_without_answer: number;
    /** Still held open (and trickling) when the attack ended. */
    open_at_end: number;
    bytes_trickled: number;
    /** How long one slow connection stayed open, s, by kind (those open at the end count to the end). */
    held_s: Record<SlowKind, Percentiles>;
  };
  fuzz: {
    concurrency: number;
    /** Requests written (answered or not). */
    requests: number;
    by_class: Record<string, number>;
    by_status: Record<string, number>;
    by_who: Record<Who, number>;
    /** Bodies nested up to the JSON depth limit (some just over it). */
    deep_bodies: number;
    oversized_lengths: number;
    /** Failed without an answer (reset, closed, timed out) before the end. */
    no_answer: number;
    /** In flight when the attack ended. */
    cut_at_end: number;
    latency_ms: Percentiles;
  };
}

interface Args {
  base: URL;
  seconds: number;
  slow: number;
  slowHeaders: number;
  concurrency: number;
  maxRequests: number;
  seed: number;
  /** Who the fuzz speaks as, drawn evenly. */
  who: Who[];
  users: Record<string, string>;
  targets: FuzzTargets;
}

function parse(argv: string[]): Args {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      base: { type: "string" },
      seconds: { type: "string", default: "10" },
      slow: { type: "string", default: "300" },
      "slow-headers": { type: "string", default: "30" },
      concurrency: { type: "string", default: "4" },
      "max-requests": { type: "string", default: "200000" },
      seed: { type: "string", default: "1" },
      who: { type: "string", default: "writer,reader,anonymous" },
      /** JSON: {"writer": "writer:writerpass", "reader": ..., "nobody": ...} */
      users: { type: "string" },
      /** JSON: path parameter values naming existing objects. */
      existing: { type: "string", default: "{}" },
    },
    strict: true,
  });
  if (!v.base || !v.users) throw new Error("--base and --users are required");
  const base = new URL(v.base);
  if (!base.hostname.startsWith("127.")) throw new Error(`the attacker talks to loopback addresses only, not ${base.hostname}`);
  const num = (name: string, value: string, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name}: a whole number up to ${max}, not ${value}`);
    return n;
  };
  return {
    base,
    seconds: num("seconds", v.seconds, 600),
    slow: num("slow", v.slow, 5000),
    slowHeaders: num("slow-headers", v["slow-headers"], 5000),
    concurrency: num("concurrency", v.concurrency, 64),
    maxRequests: num("max-requests", v["max-requests"], 10_000_000),
    seed: num("seed", v.seed, 2 ** 31),
    who: v.who.split(",").map((w) => {
      if (w !== "writer" && w !== "reader" && w !== "anonymous") throw new Error(`--who: writer, reader or anonymous, not ${w}`);
      return w;
    }),
    users: JSON.parse(v.users) as Record<string, string>,
    targets: { existing: JSON.parse(v.existing) as Record<string, string>, missing: { job_id: "987654", disk_index: "7" }, pvcToken: "" },
  };
}

const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);

/** The slow clients: every slot keeps one slow socket open until the deadline. */
class SlowClients {
  private readonly open = new Set<{ socket: TLSSocket; trickle: () => void }>();
  private readonly context = createSecureContext({ minVersion: "TLSv1.2" });
  private readonly held: Record<SlowKind, number[]> = { version: [], tags: [], headers: [] };
  private readonly openSamples: number[] = [];
  private connecting = 0;
  private readonly waiting: (() => void)[] = [];
  stopped = false;
  connections = 0;
  handshakeFailures = 0;
  byStatus: Record<string, number> = {};
  closedWithoutAnswer = 0;
  openAtEnd = 0;
  bytes = 0;

  private readonly a: Args;

  constructor(a: Args) {
    this.a = a;
  }

  /** Runs every slot until `deadline`; `ready` once each slot's first socket is up (or failed). */
  async run(deadline: number, ready: () => void): Promise<void> {
    const kinds: SlowKind[] = [
      ...Array.from({ length: this.a.slow }, (_, i): SlowKind => (i % 2 === 0 ? "version" : "tags")),
      ...Array.from({ length: this.a.slowHeaders }, (): SlowKind => "headers"),
    ];
    let firstDone = 0;
    const firstUp = () => {
      if (++firstDone === kinds.length) ready();
    };
    if (kinds.length === 0) ready();
    const tick = setInterval(() => {
      this.openSamples.push(this.open.size);
      for (const s of this.open) s.trickle();
    }, 1000);
    try {
      await Promise.all(kinds.map((kind) => this.slot(kind, deadline, firstUp)));
    } finally {
      clearInterval(tick);
    }
  }

  /** Ends the attack: every socket still open is counted as held to the end and closed. */
  stop(): void {
    this.stopped = true;
    for (const s of this.open) s.socket.destroy();
  }

  private async slot(kind: SlowKind, deadline: number, firstUp: () => void): Promise<void> {
    // Bounded by count as well as by time: one connection a second at most.
    const most = this.a.seconds + 2;
    for (let n = 0; n < most && !this.stopped && Date.now() < deadline; n++) {
      await this.connection(kind, n === 0 ? firstUp : () => undefined);
      if (!this.stopped && Date.now() < deadline) await sleep(RECONNECT_MS);
    }
  }

  private async turn(): Promise<void> {
    while (this.connecting >= CONNECTING_AT_ONCE) await new Promise<void>((r) => this.waiting.push(r));
    this.connecting++;
  }

  private done(): void {
    this.connecting--;
    this.waiting.shift()?.();
  }

  /** One slow connection, from connect to close (by the master, or at the end). */
  private async connection(kind: SlowKind, up: () => void): Promise<void> {
    await this.turn();
    if (this.stopped) {
      this.done();
      up();
      return;
    }
    this.connections++;
    const host = this.a.base.hostname;
    const socket = tlsConnect({ host, port: Number(this.a.base.port), secureContext: this.context, rejectUnauthorized: false });
    const head = `Host: ${this.a.base.host}\r\n`;
    const first =
      kind === "version"
        ? `GET /version HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: ${SLOW_CONTENT_LENGTH}\r\n\r\n`
        : kind === "tags"
          ? `PUT /2/tags?tag=bench-slow HTTP/1.1\r\n${head}${basicAuthLine(this.a.users.writer)}Content-Type: application/json\r\nContent-Length: ${SLOW_CONTENT_LENGTH}\r\n\r\n`
          : `GET /version HTTP/1.1\r\n${head}X-Trickle: `;
    // A JSON body of spaces so far; a header value of letters.
    const byte = kind === "headers" ? "a" : " ";
    const entry = {
      socket,
      trickle: () => {
        if (socket.writable) {
          socket.write(byte);
          this.bytes++;
        }
      },
    };
    let answered = "";
    let connected = false;
    const opened = performance.now();
    await new Promise<void>((resolve) => {
      socket.once("secureConnect", () => {
        connected = true;
        this.done();
        up();
        socket.write(first);
        this.open.add(entry);
      });
      socket.on("data", (chunk: Buffer) => {
        if (answered === "" || !answered.includes("\r\n")) answered += chunk.toString("latin1", 0, Math.min(chunk.length, 64));
      });
      socket.on("error", () => undefined);
      socket.once("close", () => {
        if (!connected) {
          this.handshakeFailures++;
          this.done();
          up();
        } else {
          this.open.delete(entry);
          this.held[kind].push((performance.now() - opened) / 1000);
          const status = /^HTTP\/1\.[01] (\d{3})/.exec(answered)?.[1];
          if (status) bump(this.byStatus, status);
          else if (this.stopped) this.openAtEnd++;
          else this.closedWithoutAnswer++;
        }
        resolve();
      });
    });
  }

  summary(): HostileAttack["slow"] {
    const s = [...this.openSamples].sort((x, y) => x - y);
    return {
      body_clients: this.a.slow,
      header_clients: this.a.slowHeaders,
      content_length: SLOW_CONTENT_LENGTH,
      connections: this.connections,
      handshake_failures: this.handshakeFailures,
      open: { min: s[0] ?? 0, median: s[Math.floor((s.length - 1) / 2)] ?? 0, max: s[s.length - 1] ?? 0 },
      by_status: this.byStatus,
      closed_without_answer: this.closedWithoutAnswer,
      open_at_end: this.openAtEnd,
      bytes_trickled: this.bytes,
      held_s: { version: percentiles(this.held.version), tags: percentiles(this.held.tags), headers: percentiles(this.held.headers) },
    };
  }
}

/** The fuzz stream: --concurrency workers, each on its own keep-alive TLS connection. */
class Fuzz {
  private readonly g: Gen;
  private readonly routes: RouteShape[];
  private readonly conns: Connection[] = [];
  private readonly latencies: number[] = [];
  stopped = false;
  requests = 0;
  byClass: Record<string, number> = {};
  byStatus: Record<string, number> = {};
  byWho: Record<Who, number> = { writer: 0, reader: 0, anonymous: 0 };
  deep = 0;
  oversized = 0;
  noAnswer = 0;
  cut = 0;

  private readonly a: Args;

  constructor(a: Args) {
    this.a = a;
    this.g = new Gen(a.seed);
    // The tables are read for their patterns only; no handler runs, so no services are needed.
    const noServices = {} as RapiServices;
    this.routes = [...rapiRoutes(noServices), ...corralNodeRoutes(noServices)].map((r) => ({ api: "rapi" as const, pattern: r.pattern, methods: Object.keys(r.methods) }));
  }

  async run(deadline: number): Promise<void> {
    await Promise.all(
      Array.from({ length: this.a.concurrency }, async () => {
        const conn = new Connection({ base: this.a.base.origin });
        this.conns.push(conn);
        try {
          while (!this.stopped && Date.now() < deadline && this.requests < this.a.maxRequests) await this.one(conn);
        } finally {
          conn.close();
        }
      }),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.conns) c.close();
  }

  /**
   * The next request. A writer's DELETE /2/jobs/N is drawn again: it may cancel the bench's
   * measured jobs, which the write user is allowed to do, so it is no attack on the master.
   */
  private next(): FuzzRequest {
    const who = this.g.pick(this.a.who);
    let r = makeRequest(this.g, this.routes, who, this.a.targets);
    for (let i = 0; i < 20 && r.method === "DELETE" && r.route.pattern.startsWith("/2/jobs/"); i++) r = makeRequest(this.g, this.routes, who, this.a.targets);
    return r;
  }

  private async one(conn: Connection): Promise<void> {
    const r = this.next();
    const g = this.g;
    let payload = r.o.rawBody ?? (r.o.body === undefined ? undefined : JSON.stringify(r.o.body));
    let type = r.o.contentType;
    if (g.chance(0.1)) {
      payload = JSON.stringify(g.nested(MAX_JSON_DEPTH + 2, MAX_JSON_DEPTH + 2));
      type = "application/json";
      this.deep++;
    }
    let headers = "";
    const user = r.o.user;
    if (user !== undefined) headers += basicAuthLine(typeof user === "string" ? (this.a.users[user] ?? `${user}:x`) : `${user.name}:${user.password}`);
    if (g.chance(0.05)) {
      // Headers only: the master must refuse (or answer) without waiting for 64 MiB.
      headers += `Content-Type: application/json\r\nContent-Length: ${OVERSIZED_CONTENT_LENGTH}\r\n`;
      payload = "";
      this.oversized++;
    } else if (payload !== undefined) {
      if (type !== null) headers += `Content-Type: ${type ?? "application/json"}\r\n`;
      headers += `Content-Length: ${Buffer.byteLength(payload)}\r\n`;
    }
    this.requests++;
    this.byWho[r.who]++;
    const t0 = performance.now();
    try {
      const reply = await conn.raw(r.method, r.path, headers, payload ?? "", FUZZ_TIMEOUT_MS);
      this.latencies.push(performance.now() - t0);
      bump(this.byStatus, String(reply.status));
      bump(this.byClass, `${String(reply.status).slice(0, 1)}xx`);
    } catch {
      if (this.stopped) this.cut++;
      else this.noAnswer++;
    }
  }

  summary(): HostileAttack["fuzz"] {
    return {
      concurrency: this.a.concurrency,
      requests: this.requests,
      by_class: this.byClass,
      by_status: this.byStatus,
      by_who: this.byWho,
      deep_bodies: this.deep,
      oversized_lengths: this.oversized,
      no_answer: this.noAnswer,
      cut_at_end: this.cut,
      latency_ms: percentiles(this.latencies),
    };
  }
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const t0 = performance.now();
  const deadline = Date.now() + a.seconds * 1000;
  const slow = new SlowClients(a);
  const fuzz = new Fuzz(a);
  // Both stop by themselves at the deadline; the timer ends what is still open or in flight.
  const end = setTimeout(() => {
    slow.stop();
    fuzz.stop();
  }, a.seconds * 1000);
  const slowDone = slow.run(deadline, () => process.stderr.write(`hostile ready ${Math.round(performance.now() - t0)} ms\n`));
  await Promise.all([slowDone, fuzz.run(deadline)]);
  slow.stop();
  fuzz.stop();
  clearTimeout(end);
  const cpu = process.cpuUsage();
  const result: HostileAttack = {
    seed: a.seed,
    seconds: Math.round((performance.now() - t0) / 10) / 100,
    cpu_s: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    slow: slow.summary(),
    fuzz: fuzz.summary(),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`hostile: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}

// A standby master's writes go to the leader (issue 17): a master that does not lead serves
// reads from its own copy and proxies every request the route table marks as the leader's
// (RAPI: routes.ts's needsLeader; PVC: its authenticated writes) to the leader the store
// names, streaming the body both ways. The standby does not authenticate what it forwards: the
// leader decides (credentials, tokens, scopes, CSRF, body rules) and audits, once, with the
// client's address as a claim beside the real peer (audit.ts's requestSource).
//
// Faults: no leader known, or one that refuses the connection, is retried until a leader takes
// it (bounded by FORWARD_RETRY_MS in all; this master may win meanwhile and serve it itself);
// nothing of the request has been sent then. Once the request is sent it is never retried (a
// write could run twice): a failure before the answer is a 502, no answer in time a 504.
//
// Connections: one keep-alive pool per leader (its name, URL and pinned certificate; a new
// leader gets a new pool, the old one is closed). Every connection of a pool is opened by
// open() below, so each one is checked against the pinned certificate before it carries
// anything. An idle connection is closed after POOL_IDLE_MS, well before the leader's own
// keep-alive timeout (5 s, core.ts): a request is not sent on a connection the leader is
// closing for idleness at that moment (which would be a 502, as it is not retried).

import { X509Certificate } from "node:crypto";
import { Agent, request as httpRequest, type ClientRequest, type ClientRequestArgs, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { unsupportedTransferCoding } from "./body.ts";
import type { Transport } from "./core.ts";
import { HttpError } from "./errors.ts";

/** Who leads the cluster, as this master's store knows it (etcd mode; H1 implements it). */
export interface LeaderLocator {
  /** Whether this master leads now (then nothing is forwarded). */
  leads(): boolean;
  /** The leader as the store knows it, or undefined during an election. */
  leader(): LeaderInfo | undefined;
}

export interface LeaderInfo {
  name: string;
  /** The leader's RAPI base URL (https://host:port). */
  url: string;
  /** The leader's RAPI certificate (PEM), pinned when given: verified against it, not the system CAs. */
  certPem?: string;
}

/** How long a forward may wait in all for a leader that takes its connection. */
export const FORWARD_RETRY_MS = 5_000;
/** Between two looks at the locator while no leader takes the connection. */
const RETRY_PAUSE_MS = 200;
/** One connection attempt (TCP and TLS handshake) at most. */
const CONNECT_TIMEOUT_MS = 2_000;
/** A pooled connection unused this long is closed (the leader closes its own after 5 s). */
const POOL_IDLE_MS = 2_000;
/** Idle connections a pool keeps at most (in use: bounded by the API's gate, maxClients). */
const POOL_MAX_IDLE = 32;
/** What a 503 tells the client to wait: about one lease TTL, an election's length. */
const RETRY_AFTER_SECONDS = "5";

/** Failures of a connection attempt after which another leader (or the same, restarted) may take the next. */
const RETRIABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * Marks a request a master forwarded: it is never forwarded again, so two masters that each
 * think the other leads (a moment of an election) cannot pass a request back and forth; the
 * second answers it itself (a standby's store refuses the write: 503, not the leader).
 */
const FORWARDED_BY_MASTER = "x-corral-forwarded";

/** Connection-level headers (RFC 9110 §7.6.1), never passed on; Forwarded and the mark are this master's own. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect", "host", "forwarded", "x-forwarded-for", FORWARDED_BY_MASTER]);

/** What is forwarded, for messages and the deadline. */
export interface ForwardTarget {
  /** The route pattern, for the log (never the URL: its query may name things a log should not keep). */
  readonly route: string;
  /** The whole forward, connection to the answer's last byte. */
  readonly deadlineMs: number;
  /** Where the leader serves this API, when not at its RAPI URL (a PVC API on a listener of its own). */
  readonly at?: (leader: LeaderInfo) => LeaderInfo;
}

/** A request to the leader that holds a connection of its pool; nothing of it is sent yet. */
interface LeaderConnection {
  readonly upstream: ClientRequest;
  readonly leader: LeaderInfo;
}

/** The request options a pool's connections are opened with: open()'s bound. */
interface PoolRequestArgs extends ClientRequestArgs {
  connectTimeoutMs: number;
}

/** Keep-alive connections to one leader, each opened (and its certificate checked) by open(). */
class LeaderPool extends Agent {
  readonly key: string;
  readonly leader: LeaderInfo;

  constructor(leader: LeaderInfo) {
    super({ keepAlive: true, timeout: POOL_IDLE_MS, maxFreeSockets: POOL_MAX_IDLE, scheduling: "lifo" });
    this.leader = leader;
    this.key = poolKey(leader);
  }

  override createConnection(options: ClientRequestArgs, done?: (err: Error | null, stream: Duplex) => void): undefined {
    // Set by LeaderForwarder.send(): the only caller of this pool.
    const timeoutMs = (options as PoolRequestArgs).connectTimeoutMs;
    open(this.leader, timeoutMs).then(
      (socket) => done?.(null, socket),
      // The agent's callback takes an error alone; its stream argument is unused then.
      (err: unknown) => done?.(err instanceof Error ? err : new Error(String(err)), undefined as unknown as Duplex),
    );
    return undefined;
  }
}

function poolKey(leader: LeaderInfo): string {
  return JSON.stringify([leader.name, leader.url, leader.certPem ?? null]);
}

export class LeaderForwarder {
  private readonly locator: LeaderLocator;
  private readonly log: (line: string) => void;
  /** By poolKey: the leader's RAPI, and its PVC listener when that is another (ForwardTarget.at). */
  private readonly pools = new Map<string, LeaderPool>();

  constructor(locator: LeaderLocator, log: (line: string) => void) {
    this.locator = locator;
    this.log = log;
  }

  /** Closes the pool's connections (the master stops). */
  close(): void {
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }

  /** The pool of `leader`; a new one closes those of other leaders (and of this address with another certificate). */
  private poolFor(leader: LeaderInfo): LeaderPool {
    const key = poolKey(leader);
    const known = this.pools.get(key);
    if (known) return known;
    for (const [k, pool] of this.pools) {
      if (pool.leader.name !== leader.name || pool.leader.url === leader.url) {
        pool.destroy();
        this.pools.delete(k);
      }
    }
    const pool = new LeaderPool(leader);
    this.pools.set(key, pool);
    return pool;
  }

  leads(): boolean {
    return this.locator.leads();
  }

  /**
   * Proxies the request to the leader and streams its answer back. False when this master
   * came to lead before anything was sent (the caller serves the request itself). Failures
   * before the answer started are thrown as HttpError, for the API to answer in its format.
   */
  async forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<boolean> {
    const coding = unsupportedTransferCoding(req);
    if (coding) throw coding;
    const started = Date.now();
    try {
      const connection = await this.connect(req, res, started, target);
      if (connection === "local") return false;
      if (connection !== "gone") await relay(req, res, connection, target.deadlineMs - (Date.now() - started));
      return true;
    } catch (err) {
      if (err instanceof HttpError) {
        // Part of the client's body may be unread: the connection cannot carry another request.
        if (!req.complete) err.headers.Connection = "close";
        this.log(`forwarding ${req.method} ${target.route}: ${err.message}`);
      }
      throw err;
    }
  }

  /** A connection to the leader, retried while none takes it (bounded); nothing is sent yet. */
  private async connect(req: IncomingMessage, res: ServerResponse, started: number, target: ForwardTarget): Promise<LeaderConnection | "local" | "gone"> {
    let lastFailure = "no leader is known (an election may be under way)";
    for (;;) {
      if (this.locator.leads()) return "local";
      if (res.destroyed || req.socket.destroyed) return "gone";
      const named = this.locator.leader();
      const leader = named && target.at ? target.at(named) : named;
      const remaining = FORWARD_RETRY_MS - (Date.now() - started);
      if (leader) {
        try {
          return { upstream: await this.send(req, leader, Math.min(CONNECT_TIMEOUT_MS, Math.max(remaining, 1))), leader };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const message = err instanceof Error ? err.message : String(err);
          if (err instanceof HttpError) throw err;
          if (code === undefined || !RETRIABLE.has(code)) throw new HttpError(502, `The leader ${leader.name} could not be reached securely: ${message}; the request was not sent`);
          lastFailure = `the leader ${leader.name} did not take the connection (${message})`;
        }
      } else lastFailure = "no leader is known (an election may be under way)";
      if (Date.now() - started + RETRY_PAUSE_MS > FORWARD_RETRY_MS) {
        throw new HttpError(503, `This master does not lead and cannot forward the request: ${lastFailure} for ${FORWARD_RETRY_MS / 1000} s; try again shortly`, { "Retry-After": RETRY_AFTER_SECONDS });
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    }
  }

  /** A request to `leader` once its pool gave it a connection (reused, or new and checked); nothing of it is sent yet. */
  private send(req: IncomingMessage, leader: LeaderInfo, connectTimeoutMs: number): Promise<ClientRequest> {
    const options: PoolRequestArgs = { agent: this.poolFor(leader), method: req.method, path: req.url, headers: upstreamHeaders(req, leader), setHost: false, connectTimeoutMs };
    const upstream = httpRequest(options);
    return new Promise<ClientRequest>((resolve, reject) => {
      // Headers go out with the first write of the body (relay), so far nothing is written.
      upstream.once("socket", () => {
        upstream.off("error", reject);
        resolve(upstream);
      });
      upstream.once("error", reject);
    });
  }
}

/**
 * Forwards the request when a forwarder is given and this master does not lead, behind the
 * core's gate (credentials are not checked here: a request that carries some waits at the
 * authenticated gate, as it would once checked). True when the request was answered.
 */
export async function forwardIfStandby(forwarder: LeaderForwarder | undefined, t: Transport, req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<boolean> {
  if (!forwarder || forwarder.leads() || req.headers[FORWARDED_BY_MASTER] !== undefined) return false;
  const h = req.headers;
  const credentialed = h.authorization !== undefined || h.cookie !== undefined || h["x-api-key"] !== undefined;
  return await t.gate(credentialed).run(() => forwarder.forward(req, res, target));
}

/** A TCP (or TLS, the certificate checked) connection to the leader, or the failure that prevented it. */
function open(leader: LeaderInfo, timeoutMs: number): Promise<Socket> {
  let url: URL;
  try {
    url = new URL(leader.url);
  } catch {
    return Promise.reject(new HttpError(502, `The store names the leader ${leader.name} at '${leader.url}', which is not a URL; the request was not sent`));
  }
  const secure = url.protocol === "https:";
  if (!secure && url.protocol !== "http:") return Promise.reject(new HttpError(502, `The leader ${leader.name}'s address '${leader.url}' is neither http nor https; the request was not sent`));
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || (secure ? 443 : 80));
  const pin = secure && leader.certPem !== undefined ? fingerprintOf(leader) : undefined;
  return new Promise<Socket>((resolve, reject) => {
    const socket: Socket | TLSSocket = secure
      ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, minVersion: "TLSv1.2", rejectUnauthorized: pin === undefined })
      : netConnect({ host, port });
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: "ETIMEDOUT" })), timeoutMs);
    socket.once("error", fail);
    socket.once(secure ? "secureConnect" : "connect", () => {
      if (pin !== undefined) {
        const presented = (socket as TLSSocket).getPeerCertificate().fingerprint256;
        if (presented !== pin) {
          fail(new HttpError(502, `The leader ${leader.name} presented a certificate (SHA-256 ${presented ?? "none"}) that is not the one the store names for it (${pin}); the request was not sent`));
          return;
        }
      }
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

function fingerprintOf(leader: LeaderInfo): string {
  try {
    return new X509Certificate(leader.certPem!).fingerprint256;
  } catch {
    throw new HttpError(502, `The certificate the store names for the leader ${leader.name} is not a PEM certificate; the request was not sent`);
  }
}

/** Sends the request on `connection` and streams the answer back; rejects (HttpError) only before the answer started. */
function relay(req: IncomingMessage, res: ServerResponse, connection: LeaderConnection, deadlineMs: number): Promise<void> {
  const { upstream, leader } = connection;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: HttpError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        upstream.destroy();
        reject(err);
      } else resolve();
    };
    const timer = setTimeout(() => {
      if (!res.headersSent) settle(new HttpError(504, `The leader ${leader.name} did not answer within ${Math.round(deadlineMs / 1000)} s; the request may have been carried out (see its jobs), and is not retried`));
      else {
        upstream.destroy();
        res.destroy();
        settle();
      }
    }, Math.max(deadlineMs, 1));
    upstream.on("response", (answer) => {
      if (settled) return answer.destroy();
      const headers = answerHeaders(answer);
      // The leader stopped before the client's body ended (a refused body): close after this answer.
      if (!req.complete) headers.connection = "close";
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      answer.pipe(res);
      answer.on("error", () => res.destroy());
      answer.on("aborted", () => res.destroy());
    });
    upstream.on("error", (err) => {
      if (!res.headersSent) settle(new HttpError(502, `The leader ${leader.name} failed before answering (${err.message}); the request was sent and may have been carried out (see its jobs); it is not retried, a write could run twice`));
      else res.destroy();
    });
    res.on("close", () => {
      // An answer cut short, or a request whose body was not all sent: that connection carries nothing more.
      if (!res.writableFinished || !upstream.writableFinished) upstream.destroy();
      settle();
    });
    req.pipe(upstream);
  });
}

/** The client's headers but the connection's own; Forwarded names the client (a claim the leader records as such). */
function upstreamHeaders(req: IncomingMessage, leader: LeaderInfo): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  headers.host = new URL(leader.url).host;
  // A chunked body stays chunked (Node frames a GET's or DELETE's body only when told to).
  if (req.headers["transfer-encoding"] !== undefined) headers["transfer-encoding"] = "chunked";
  const peer = req.socket.remoteAddress ?? "unknown";
  headers.forwarded = `for="${isIP(peer) === 6 ? `[${peer}]` : peer}"`;
  headers[FORWARDED_BY_MASTER] = "1";
  return headers;
}

function answerHeaders(answer: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  return headers;
}

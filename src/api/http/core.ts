// The one HTTP core every API is served by: the listener (HTTP or TLS with Corral's policy),
// its deadlines, the budget of request bodies being read, the --max-clients gates (one for
// authenticated requests, one for anonymous ones), the transport checks every request gets
// (one Host header), and the last-resort error answer. What a request means is the mounted
// API's: its route table, how it identifies the caller, its body rules and its error format
// (Ganeti's for RAPI and /corral/1, PVC's {"message"} for PVC).

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { HTTP_TIMEOUTS, TLS_SERVER_POLICY } from "../../net/tls.ts";
import { BodyBudget } from "./body.ts";
import { HttpError } from "./errors.ts";

/** What the core lends a mounted API for one request. */
export interface Transport {
  /** The bytes of request bodies being read at once, shared by every API on the listener. */
  readonly bodies: BodyBudget;
  /** The gate a handler runs behind: authenticated callers never wait for anonymous ones. */
  gate(authenticated: boolean): Gate;
  readonly serverHeader: string;
  log(line: string): void;
}

/** An API on the core: an encapsulated route table with its own protocol. */
export interface MountedApi {
  /** Whether this API answers the path (the first mount that does, does). */
  owns(path: string): boolean;
  /** Answers one request the core let through. */
  serve(req: IncomingMessage, res: ServerResponse, t: Transport): Promise<void>;
  /** Answers, in this API's format, a request refused before it was served (or whose handling failed unexpectedly). */
  refuse(req: IncomingMessage, res: ServerResponse, err: HttpError, t: Transport): void;
}

export interface CoreOptions {
  mounts: readonly MountedApi[];
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Concurrent requests being handled per gate; more wait (Ganeti's --max-clients). */
  maxClients: number;
  serverHeader: string;
  log: (line: string) => void;
}

export function createHttpCore(o: CoreOptions): Server {
  const gates = { authenticated: new Gate(o.maxClients), anonymous: new Gate(o.maxClients) };
  const transport: Transport = {
    bodies: new BodyBudget(),
    gate: (authenticated) => (authenticated ? gates.authenticated : gates.anonymous),
    serverHeader: o.serverHeader,
    log: o.log,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const api = o.mounts.find((m) => m.owns(path)) ?? o.mounts[0];
    if (hasDuplicateHost(req)) {
      api.refuse(req, res, new HttpError(400, "More than one Host header", { Connection: "close" }), transport);
      return;
    }
    api.serve(req, res, transport).catch((err: unknown) => {
      o.log(`internal error answering ${req.method} ${path}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) api.refuse(req, res, new HttpError(500), transport);
      else res.destroy();
    });
  };
  const server = o.tls
    ? createHttpsServer({ ...HTTP_TIMEOUTS, ...TLS_SERVER_POLICY, cert: o.tls.cert, key: o.tls.key }, onRequest)
    : createHttpServer(HTTP_TIMEOUTS, onRequest);
  // Header and whole-request deadlines (a body has its own, by its length).
  server.headersTimeout = 10_000;
  server.requestTimeout = 5 * 60_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

/** Starts `server` listening; resolves with the port it got (a port in use rejects). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** RFC 9112: a request with more than one Host header is refused with 400. */
function hasDuplicateHost(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && name.toLowerCase() === "host") {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

/** Bounds how many requests are handled at once; the rest wait their turn. */
export class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) return this.runNow(fn);
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.runNow(fn));
  }
  private async runNow<T>(fn: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

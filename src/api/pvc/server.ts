// The PVC API on the HTTP core (../http/core.ts): routes as a table (Flask-style `<name>` path
// parts), PVC's authentication (X-Api-Key or a session cookie) read from the table's `auth`
// flag, values from the query string, form or JSON body, and every answer JSON — failures
// as {"message": ...}.

import type { IncomingMessage, ServerResponse } from "node:http";
import { DEFAULT_BODY, hasBody, readBody, type BodyLimit } from "../http/body.ts";
import { requestSource, type AuditNote, type RequestAudit } from "../http/audit.ts";
import type { MountedApi, Transport } from "../http/core.ts";
import { HttpError } from "../http/errors.ts";
import { forwardIfStandby, type LeaderForwarder, type LeaderInfo } from "../http/forward.ts";
import type { PvcAuth } from "./auth.ts";
import { PvcError, pvcMessage } from "./errors.ts";
import { PvcValues, type PvcValueDecl } from "./values.ts";
import { STORAGE_WAIT_MS } from "./jobs.ts";

export type PvcMethod = "GET" | "POST" | "PUT" | "DELETE";
const METHODS: readonly PvcMethod[] = ["GET", "POST", "PUT", "DELETE"];

export interface PvcRequest {
  readonly method: PvcMethod;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly values: PvcValues;
  readonly headers: IncomingMessage["headers"];
}

/** A JSON answer, or an HTML page (the login form), with extra headers (cookies, redirects). */
export interface PvcReply {
  status: number;
  json?: unknown;
  html?: string;
  headers?: Record<string, string>;
}

export type PvcHandler = (req: PvcRequest) => PvcReply | Promise<PvcReply>;

/** A method of a route: its handler and the request values it reads (none when omitted). */
export interface PvcMethodSpec {
  readonly values: readonly PvcValueDecl[];
  readonly handle: PvcHandler;
}

export interface PvcRoute {
  readonly pattern: string;
  readonly regex: RegExp;
  readonly names: readonly string[];
  /** false for the endpoints anyone may call (root, login, logout). */
  readonly auth: boolean;
  readonly methods: Partial<Record<PvcMethod, PvcMethodSpec>>;
}

/** A method as a route table gives it: a handler alone reads no values. */
export type PvcMethodEntry = PvcHandler | { readonly values?: readonly PvcValueDecl[]; readonly handle: PvcHandler };

/** A route: `pvcRoute("/api/v1/vm/<vm>/state", { GET: handler, POST: { values: [STATE], handle } })`. */
export function pvcRoute(
  pattern: string,
  methods: Partial<Record<PvcMethod, PvcMethodEntry>>,
  o: { auth?: boolean } = {},
): PvcRoute {
  const names: string[] = [];
  const source = pattern
    .split(/(<[a-z_]+>)/)
    .map((part) => {
      const m = /^<([a-z_]+)>$/.exec(part);
      if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(m[1]);
      return "([^/]+)";
    })
    .join("");
  const specs: Partial<Record<PvcMethod, PvcMethodSpec>> = {};
  for (const [method, m] of Object.entries(methods) as [PvcMethod, PvcMethodEntry][]) {
    specs[method] = typeof m === "function" ? { values: [], handle: m } : { values: m.values ?? [], handle: m.handle };
  }
  return { pattern, regex: new RegExp(`^${source}$`), names, auth: o.auth ?? true, methods: specs };
}

export const ok = (json: unknown, status = 200): PvcReply => ({ status, json });
export const message = (text: string, status = 200): PvcReply => ({ status, json: { message: pvcMessage(text) } });

export interface PvcApiOptions {
  routes: readonly PvcRoute[];
  auth: PvcAuth;
  /** Writes (POST, PUT, DELETE) that reach a route are recorded, refusals included. */
  audit?: RequestAudit;
  /** Set where several masters serve the API: while this one does not lead, the leader answers the writes. */
  forward?: LeaderForwarder;
  /** Where the leader serves this API, when not on its RAPI listener. */
  leaderAt?: (leader: LeaderInfo) => LeaderInfo;
}

/** How long a forwarded write may take: past the longest a handler waits for its job (a storage command's). */
const PVC_FORWARD_DEADLINE_MS = STORAGE_WAIT_MS + 60_000;

/** A request the leader answered (through forward.ts): nothing more to send. */
const FORWARDED = Symbol("answered by the leader");

/** The endpoints anyone may call (login) take small forms only. */
const PUBLIC_BODY: BodyLimit = { maxBytes: 64 * 1024 };

/** PVC's route table on the core: the paths under /api/v1. */
export function pvcApi(o: PvcApiOptions): MountedApi {
  return {
    owns: (path) => path === "/api/v1" || path.startsWith("/api/v1/"),
    serve: async (req, res, t) => {
      const audited: { note?: AuditNote } = {};
      try {
        const reply = await handle(o, t, req, res, audited);
        if (reply === FORWARDED) return;
        if (audited.note) o.audit?.answered(audited.note, reply.status);
        send(res, reply, t.serverHeader);
      } catch (err) {
        if (audited.note) o.audit?.answered(audited.note, err instanceof PvcError ? err.status : err instanceof HttpError ? err.code : 500);
        if (err instanceof PvcError) return send(res, { status: err.status, json: { message: pvcMessage(err.message) }, headers: err.headers }, t.serverHeader);
        // The core's and the body reader's refusals (413, 408, 503…), in PVC's format.
        if (err instanceof HttpError) return refuse(res, err, t);
        t.log(`PVC API: internal error answering ${req.method} ${req.url?.split("?")[0]}: ${err instanceof Error ? err.message : String(err)}`);
        send(res, { status: 500, json: { message: "Internal server error; see the master's log." } }, t.serverHeader);
      }
    },
    refuse: (_req, res, err, t) => refuse(res, err, t),
  };
}

function refuse(res: ServerResponse, err: HttpError, t: Transport): void {
  send(res, { status: err.code, json: { message: pvcMessage(err.message) }, headers: err.headers }, t.serverHeader);
}

function decodePart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

async function handle(o: PvcApiOptions, t: Transport, req: IncomingMessage, res: ServerResponse, audited: { note?: AuditNote }): Promise<PvcReply | typeof FORWARDED> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  let route: PvcRoute | undefined;
  let match: RegExpExecArray | null = null;
  for (const r of o.routes) {
    match = r.regex.exec(path);
    if (match) {
      route = r;
      break;
    }
  }
  if (!route || !match) throw new PvcError(404, "The requested URL was not found on this server.");
  const method = (req.method === "HEAD" ? "GET" : req.method) as PvcMethod;
  const spec = METHODS.includes(method) ? route.methods[method] : undefined;
  if (!spec) {
    throw new PvcError(405, "The method is not allowed for the requested URL.", { Allow: Object.keys(route.methods).join(", ") });
  }
  const params: Record<string, string> = {};
  route.names.forEach((n, i) => (params[n] = decodePart(match![i + 1])));
  // PVC's route table marks no writes but by method: a standby passes its authenticated
  // writes on unchecked (login and logout answer from the signed cookie, on any master).
  if (route.auth && method !== "GET" && (await forwardIfStandby(o.forward, t, req, res, { route: route.pattern, deadlineMs: PVC_FORWARD_DEADLINE_MS, at: o.leaderAt }))) return FORWARDED;
  // PVC has no users: the audit trail names how the client proved itself (null: no proof).
  if (o.audit && method !== "GET") audited.note = { method, route: route.pattern, params, user: null, source: requestSource(req), jobs: [] };
  let identified = !o.auth.enabled;
  if (route.auth && o.auth.enabled) {
    const key = req.headers["x-api-key"];
    if (!o.auth.validSession(req.headers.cookie)) {
      if (key === undefined) throw new PvcError(401, "Authentication required");
      if (!o.auth.checkToken(Array.isArray(key) ? key[0] : key)) throw new PvcError(401, "X-Api-Key Authentication failed");
      if (audited.note) audited.note.user = "pvc:api-key";
    } else if (audited.note) audited.note.user = "pvc:session";
    identified = true;
  }
  let body: { type: string; text: string } | undefined;
  if (hasBody(req)) {
    // PVC's clients send values in the query string on GET; a GET body is not read.
    if (method === "GET") res.setHeader("Connection", "close");
    else {
      const bytes = await readBody(req, route.auth ? DEFAULT_BODY : PUBLIC_BODY, t.bodies);
      if (bytes.length > 0) body = { type: req.headers["content-type"] ?? "application/x-www-form-urlencoded", text: bytes.toString("utf8") };
    }
  }
  const values = new PvcValues(q < 0 ? "" : url.slice(q + 1), body, spec.values);
  const { note } = audited;
  const audit = o.audit;
  const run = () => spec.handle({ method, path, params, values, headers: req.headers });
  return t.gate(identified).run(async () => (note && audit ? audit.within(note, run) : run()));
}

function send(res: ServerResponse, reply: PvcReply, server: string): void {
  if (res.headersSent) return;
  const isHtml = reply.html !== undefined;
  const payload = Buffer.from(isHtml ? reply.html! : JSON.stringify(reply.json ?? null) + "\n", "utf8");
  res.writeHead(reply.status, {
    "Content-Type": isHtml ? "text/html; charset=utf-8" : "application/json",
    "Content-Length": res.req.method === "HEAD" ? 0 : payload.length,
    Server: server,
    ...reply.headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : payload);
}

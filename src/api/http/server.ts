// RAPI and /corral/1 as an API on the HTTP core (core.ts): for every request, route and
// method first, then authentication and authorization from the route table, then the body,
// then the handler — Ganeti's order — and Ganeti's error bodies.

import type { IncomingMessage, ServerResponse } from "node:http";
import { requestSource, type AuditNote, type RequestAudit } from "./audit.ts";
import { accepts } from "./accept.ts";
import { hasBody, parseJsonBody, readBody } from "./body.ts";
import { evaluateConditions } from "./conditional.ts";
import type { MountedApi, Transport } from "./core.ts";
import { errorBody, HttpError } from "./errors.ts";
import { forwardIfStandby, type LeaderForwarder } from "./forward.ts";
import { encodeJson } from "./json.ts";
import { QueryArgs } from "./query.ts";
import { accessFor, bodyFor, EventStreamBody, JsonStream, matchRoute, METHODS, needsLeader, RawJson, TextBody, type Method, type MethodSpec, type RequestContext, type Route } from "./routes.ts";
import { REALM, type RapiUser, type UsersFile } from "./users.ts";
import { checkTokenScope, type TokenCaller, type TokenGate } from "./scope.ts";
import { AuthorityError, withAuthority } from "../../jobs/authority.ts";
import { NotLeaderError, StoreUnavailableError } from "../../store/leadership.ts";
import { CSRF_HEADER, csrfMatches, type SessionStore } from "../ui/sessions.ts";

export interface RapiApiOptions {
  routes: readonly Route[];
  users: UsersFile;
  requireAuthentication: boolean;
  /** Web console sessions: a request without an Authorization header may name one in a cookie. */
  sessions?: SessionStore;
  /** The audit trail: writes (and refused writes) that reach a route are recorded. */
  audit?: RequestAudit;
  /** Told of every answer, with the matched route's pattern (src/metrics/). */
  metrics?: RequestMetrics;
  /** API tokens (`Authorization: Bearer corral_…`), checked against the route table's scopes. */
  tokens?: TokenGate;
  /** Set where several masters serve the API: while this one does not lead, the leader answers what only it can. */
  forward?: LeaderForwarder;
}

/** How long a forwarded RAPI request may take: past Ganeti's job wait (10 s) and a balancing plan's computation. */
const RAPI_FORWARD_DEADLINE_MS = 120_000;

export interface RequestMetrics {
  /** `route`: the pattern, undefined when no route matched; `seconds`: arrival → answer. */
  request(route: string | undefined, method: string, code: number, seconds: number): void;
}

const AUTH_CHALLENGE = { "WWW-Authenticate": `Basic realm="${REALM}"` };

/** RAPI's route table on the core; the paths another mount owns are not RAPI's. */
export function rapiApi(opts: RapiApiOptions): MountedApi {
  return {
    owns: () => true,
    serve: (req, res, t) => (opts.metrics ? metered(opts, opts.metrics, t, req, res) : handle(opts, t, req, res, {})),
    refuse: (req, res, err, t) => send(res, req.method === "HEAD", err.code, encodeJson(errorBody(err)), t.serverHeader, err.headers),
  };
}

const CLIENT_GONE = new Error("the client closed the connection");

/**
 * A request as its handler sees it. The abort signal is made when a handler first asks for
 * it (long polls, synchronous jobs): only a client that leaves before its answer aborts it,
 * with a prepared reason rather than a DOMException per request. (A class: a getter in an
 * object literal made every request's context an object of its own shape, which cost
 * throughput and ~100 MiB of RSS under wrk.)
 */
interface HandlerContext extends Omit<RequestContext, "signal"> {}
class HandlerContext implements RequestContext {
  private readonly res: ServerResponse;
  private abort: AbortController | undefined;

  constructor(fields: Omit<RequestContext, "signal">, res: ServerResponse) {
    Object.assign(this, fields);
    this.res = res;
  }

  get signal(): AbortSignal {
    if (this.abort) return this.abort.signal;
    const controller = (this.abort = new AbortController());
    const res = this.res;
    if (res.destroyed && !res.writableFinished) controller.abort(CLIENT_GONE);
    else {
      res.once("close", () => {
        if (!res.writableFinished) controller.abort(CLIENT_GONE);
      });
    }
    return controller.signal;
  }
}

/** handle(), then the answer's route, method, code and time to the metrics. */
async function metered(opts: RapiApiOptions, metrics: RequestMetrics, t: Transport, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const matched: { route?: string } = {};
  try {
    await handle(opts, t, req, res, matched);
  } finally {
    metrics.request(matched.route, req.method ?? "", res.statusCode, (performance.now() - started) / 1000);
  }
}

async function handle(opts: RapiApiOptions, t: Transport, req: IncomingMessage, res: ServerResponse, matched: { route?: string }): Promise<void> {
  const url = req.url ?? "/";
  const isHead = req.method === "HEAD";
  let body: unknown;
  const audited: { note?: AuditNote } = {};
  try {
    body = await answer(opts, t, req, res, url, audited, matched);
  } catch (err) {
    // A job the request's token does not cover was refused before it was queued; a write
    // while this master does not lead is refused as unavailable (another master may take it).
    const httpErr = err instanceof HttpError ? err : err instanceof AuthorityError ? new HttpError(403, err.message) : err instanceof NotLeaderError || err instanceof StoreUnavailableError ? new HttpError(503, err.message) : internalError(t, req, err);
    if (audited.note) opts.audit?.answered(audited.note, httpErr.code);
    send(res, isHead, httpErr.code, encodeJson(errorBody(httpErr)), t.serverHeader, httpErr.headers);
    return;
  }
  if (body === FORWARDED) return;
  if (audited.note) opts.audit?.answered(audited.note, 200);
  if (body === NOT_MODIFIED) {
    res.writeHead(304, { Server: t.serverHeader });
    res.end();
  } else if (body instanceof JsonStream) await stream(res, isHead, body, t.serverHeader);
  else if (body instanceof EventStreamBody) openEventStream(req, res, isHead, body, t.serverHeader);
  else if (body instanceof TextBody) send(res, isHead, 200, body.text, t.serverHeader, { "Content-Type": body.contentType });
  else send(res, isHead, 200, body instanceof RawJson ? body.bytes : encodeJson(body), t.serverHeader);
}

/** Writes a JsonStream body chunk by chunk (chunked encoding), waiting when the socket is full. */
async function stream(res: ServerResponse, isHead: boolean, body: JsonStream, server: string): Promise<void> {
  res.writeHead(200, { "Content-Type": "application/json", Server: server });
  if (isHead) {
    res.end();
    return;
  }
  for (const chunk of body.chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await new Promise<void>((resolve) => {
      res.once("drain", resolve);
      res.once("close", resolve);
    });
  }
  res.end("\n");
}

/**
 * Starts a Server-Sent Events response and hands it over: it lives until the client leaves
 * or the stream ends it. Node's server deadlines do not cut it: requestTimeout and
 * headersTimeout run only until the request is read, keepAliveTimeout only between
 * responses, and the socket has no idle timeout (server.timeout 0).
 */
function openEventStream(req: IncomingMessage, res: ServerResponse, isHead: boolean, body: EventStreamBody, server: string): void {
  const encoding = acceptsGzip(req.headers["accept-encoding"]) ? "gzip" : "identity";
  res.writeHead(200, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
    Vary: "Accept-Encoding",
    ...(encoding === "gzip" ? { "Content-Encoding": "gzip" } : {}),
    Server: server,
  });
  if (isHead) {
    res.end();
    return;
  }
  res.flushHeaders();
  body.attach(res, req.headers, encoding);
}

/** Whether Accept-Encoding names gzip with a weight above zero. */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? "").split(",").some((item) => {
    const [coding, ...params] = item.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    return (coding === "gzip" || coding === "x-gzip") && (q === undefined || Number(q) > 0);
  });
}

function internalError(t: Transport, req: IncomingMessage, err: unknown): HttpError {
  const message = err instanceof Error ? err.message : String(err);
  t.log(`error in ${req.method} ${req.url?.split("?")[0]}: ${message}`);
  return new HttpError(500, message);
}

async function answer(opts: RapiApiOptions, t: Transport, req: IncomingMessage, res: ServerResponse, url: string, audited: { note?: AuditNote }, matched: { route?: string }): Promise<unknown> {
  const authHeader = req.headers.authorization;
  const session = authHeader === undefined && req.headers.cookie !== undefined ? await opts.sessions?.fromCookie(req.headers.cookie) : undefined;
  if (opts.requireAuthentication && authHeader === undefined && !session) throw new HttpError(401, undefined, AUTH_CHALLENGE);

  const qpos = url.indexOf("?");
  const path = qpos < 0 ? url : url.slice(0, qpos);
  const match = matchRoute(opts.routes, path);
  if (!match) throw new HttpError(404);
  matched.route = match.route.pattern;
  const method = req.method as Method;
  const spec = METHODS.includes(method) ? match.route.methods[method] : undefined;
  if (!spec) throw new HttpError(501, `Method ${req.method} is unsupported for path ${url}`);

  // A standby passes the leader's requests on unchecked: the leader authenticates and audits them.
  if (opts.forward && needsLeader(method, spec) && (await forwardIfStandby(opts.forward, t, req, res, { route: match.route.pattern, deadlineMs: RAPI_FORWARD_DEADLINE_MS }))) return FORWARDED;
  const access = accessFor(method, spec);
  // A read is audited only when it submits a job (Ganeti's storage GET, documented as answering
  // a job id): the job waits of a burst then cost the trail nothing.
  if (opts.audit && ((method !== "GET" && method !== "HEAD") || spec.doc?.response?.kind === "job")) {
    audited.note = { method, route: match.route.pattern, params: match.params, user: session?.user.name ?? null, source: requestSource(req), jobs: [] };
  }
  // A session's writes must carry its CSRF token: the cookie alone is sent by any page.
  if (session && method !== "GET" && method !== "HEAD" && !csrfMatches(session.session, req.headers[CSRF_HEADER])) {
    throw new HttpError(403, "Missing or wrong CSRF token for this session");
  }
  // The route's own bearer token (the metrics token) stands for the access the route asks.
  const byBearer = spec.bearer !== undefined && authHeader !== undefined && bearerMatches(spec.bearer, authHeader);
  const caller = byBearer || authHeader === undefined ? undefined : tokenCaller(opts.tokens, authHeader);
  const user = caller ? caller.owner : session || byBearer ? session?.user : authenticate(opts, authHeader, opts.requireAuthentication || access.length > 0);
  if (audited.note) audited.note.user = caller ? `${caller.owner.name} (token ${caller.id})` : (user?.name ?? null);
  if (!byBearer && access.length > 0 && !user?.options.some((o) => (access as readonly string[]).includes(o))) {
    throw new HttpError(403);
  }
  if (caller && opts.tokens) checkTokenScope(opts.tokens, caller, method, match.route.pattern, spec, match.params);
  const produces = spec.produces ?? "application/json";
  if (!accepts(req.headers.accept, produces)) throw new HttpError(406, `This resource answers ${produces}, which the request's Accept excludes`);

  let body: unknown;
  if (hasBody(req)) {
    // Ganeti refuses a body that is not JSON on every method (415), GET included.
    const type = (req.headers["content-type"] ?? "application/octet-stream").toLowerCase();
    if (type !== "application/json") throw new HttpError(415, undefined, { Connection: "close" });
    const rule = bodyFor(method, spec);
    // A body the route does not take is not read: the answer closes the connection instead.
    if (rule === "none") res.setHeader("Connection", "close");
    else {
      const bytes = await readBody(req, rule, t.bodies);
      body = bytes.length === 0 ? undefined : parseJsonBody(bytes.toString("utf8"));
    }
  }
  const query = new QueryArgs(qpos < 0 ? "" : url.slice(qpos + 1), spec.query ?? []);
  const fields = { method, path, url, params: match.params, query, body, user };
  const run = caller
    ? () => withAuthority({ token: caller.id }, () => handleConditionally(spec, fields, req, res))
    : () => handleConditionally(spec, fields, req, res);
  const { note } = audited;
  const audit = opts.audit;
  // A scraper with the metrics token is an authenticated caller: it never waits behind anonymous ones.
  return await t.gate(user !== undefined || byBearer).run(async () => (note && audit ? audit.within(note, run) : run()));
}

/** What a read answers when If-None-Match names the object's current version. */
const NOT_MODIFIED = Symbol("304 Not Modified");
/** A request the leader answered (through forward.ts): nothing more to send. */
const FORWARDED = Symbol("answered by the leader");

/**
 * The handler, behind the route's version stamp: If-Match and If-None-Match are evaluated
 * in the same turn as the handler starts (a filter rule's write cannot slip in between),
 * and a read's success carries the object's ETag. Without a stamp or those headers on a
 * write, the stamp is not even looked up.
 */
async function handleConditionally(
  spec: MethodSpec,
  fields: Omit<RequestContext, "signal" | "precondition">,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<unknown> {
  const isRead = fields.method === "GET" || fields.method === "HEAD";
  const conditional = req.headers["if-match"] !== undefined || req.headers["if-none-match"] !== undefined;
  if (!spec.stamp || (!isRead && !conditional)) return spec.handle(new HandlerContext({ ...fields, precondition: undefined }, res));
  const stamp = spec.stamp(fields.params);
  const outcome = conditional ? evaluateConditions(req.headers, isRead, stamp) : undefined;
  if (outcome && !outcome.proceed) {
    if (stamp) res.setHeader("ETag", stamp.etag);
    return NOT_MODIFIED;
  }
  const result: unknown = await spec.handle(new HandlerContext({ ...fields, precondition: outcome?.precondition }, res));
  if (stamp && isRead) res.setHeader("ETag", stamp.etag);
  return result;
}

function bearerMatches(accepts: (token: string) => boolean, header: string): boolean {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m !== null && accepts(m[1]);
}

/**
 * The caller of an `Authorization: Bearer corral_…` header (401 when the token is not valid
 * now); undefined for any other header, which Basic authentication then judges.
 */
function tokenCaller(gate: TokenGate | undefined, header: string): TokenCaller | undefined {
  const m = /^\s*bearer\s+(corral_\S*)\s*$/i.exec(header);
  if (!m) return undefined;
  const caller = gate?.authenticate(m[1]);
  if (!caller) throw new HttpError(401, "API token not valid (unknown, revoked, expired, or its owner is no longer a user)");
  return caller;
}

/** Ganeti checks credentials whenever they are sent, even on public resources. */
function authenticate(opts: RapiApiOptions, header: string | undefined, needed: boolean): RapiUser | undefined {
  if (header === undefined) {
    if (needed) throw new HttpError(401, undefined, AUTH_CHALLENGE);
    return undefined;
  }
  const credentials = basicCredentials(header);
  const user = opts.users.authenticate(credentials[0], credentials[1]);
  if (!user) throw new HttpError(401, undefined, AUTH_CHALLENGE);
  return user;
}

/** Authorization headers already taken apart (clients send the same one on every request). */
const parsedHeaders = new Map<string, [string, string]>();
const MAX_PARSED_HEADERS = 256;

/** [user, password] of a Basic Authorization header; throws the 401 or 400 Ganeti answers. */
function basicCredentials(header: string): [string, string] {
  const known = parsedHeaders.get(header);
  if (known) return known;
  const m = /^\s*(\S+)(?:\s+(.*?))?\s*$/.exec(header);
  if (!m || m[1].toLowerCase() !== "basic") throw new HttpError(401, undefined, AUTH_CHALLENGE);
  if (!m[2]) throw new HttpError(400, "Basic authentication requires credentials");
  const decoded = decodeBasic(m[2]);
  const colon = decoded === undefined ? -1 : decoded.indexOf(":");
  if (decoded === undefined || colon < 0) throw new HttpError(401, undefined, AUTH_CHALLENGE);
  const credentials: [string, string] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  if (parsedHeaders.size >= MAX_PARSED_HEADERS) parsedHeaders.clear();
  parsedHeaders.set(header, credentials);
  return credentials;
}

function decodeBasic(token: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(token) || token.length % 4 !== 0) return undefined;
  const text = Buffer.from(token, "base64").toString("latin1");
  return /^[\x00-\x7f]*$/.test(text) ? text : undefined;
}

function send(
  res: ServerResponse,
  isHead: boolean,
  code: number,
  body: string | Buffer,
  server: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": isHead ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.length,
    Server: server,
    ...extra,
  });
  // A string goes out in one write with the headers (a Buffer takes a writev of two).
  res.end(isHead ? undefined : body);
}

// Routes as data: a URI pattern, and per method the access it needs and its handler.
// The server reads authorization from here, never from inside a handler.

import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { DEFAULT_BODY, type BodyRule } from "./body.ts";
import type { JobPrecondition } from "../../model/job.ts";
import type { MethodDoc } from "./apidoc.ts";
import type { QueryArgs, QueryParam } from "./query.ts";
import type { RapiUser } from "./users.ts";
import type { GrantAccess, ScopeKind } from "../../model/tokens.ts";

// HEAD only where a route declares it (Ganeti's resources answer it 501).
export type Method = "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
export const METHODS: readonly Method[] = ["GET", "HEAD", "PUT", "POST", "DELETE"];
export type AccessOption = "read" | "write";

export interface RequestContext {
  readonly method: Method;
  /** Path as sent, not percent-decoded; `url` includes the query string. */
  readonly path: string;
  readonly url: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: QueryArgs;
  /** Parsed JSON body; undefined when the request had none. */
  readonly body: unknown;
  readonly user: RapiUser | undefined;
  /** Aborted when the client goes away (long polls and synchronous jobs stop early). */
  readonly signal: AbortSignal;
  /** The object version an If-Match held the request to: a job submitted for it carries it. */
  readonly precondition?: JobPrecondition;
}

/** An object's version as HTTP shows it (ETag) and as a job re-checks it (precondition). */
export interface VersionStamp {
  /** The strong entity tag, quotes included, e.g. `"<uuid>-<serial_no>"`. */
  readonly etag: string;
  /** The object for messages: "Instance inst1.example.com". */
  readonly subject: string;
  /** Absent where the write makes no job (filter rules change in the request itself). */
  readonly precondition?: JobPrecondition;
}

/** A response body that is text, not JSON (Prometheus' exposition format). */
export class TextBody {
  readonly contentType: string;
  readonly text: string;
  constructor(contentType: string, text: string) {
    this.contentType = contentType;
    this.text = text;
  }
}

/** A response body that is already encoded JSON (for cached answers): encoded to bytes once. */
export class RawJson {
  readonly bytes: Buffer;
  constructor(text: string) {
    this.bytes = Buffer.from(text, "utf8");
  }
}

/**
 * A large JSON body produced piece by piece (bulk lists of many objects): written to the
 * socket as it is generated, with backpressure, so the whole text never sits in memory.
 */
export class JsonStream {
  readonly chunks: Iterable<string>;
  constructor(chunks: Iterable<string>) {
    this.chunks = chunks;
  }
}

/** How the server encodes an event stream: gzip when the client accepts it. */
export type StreamEncoding = "gzip" | "identity";
type AttachStream = (res: ServerResponse, requestHeaders: IncomingHttpHeaders, encoding: StreamEncoding) => void;

/**
 * A response that stays open and carries Server-Sent Events. The server sends the headers
 * and then hands the response to `attach` outside the --max-clients gate, so listeners hold
 * no place there; HEAD gets the headers only. `requestHeaders` carry Last-Event-ID.
 */
export class EventStreamBody {
  readonly attach: AttachStream;
  constructor(attach: AttachStream) {
    this.attach = attach;
  }
}

export interface MethodSpec {
  /** Options of which the user needs one; [] is public. Default: GET and HEAD public, others write. */
  readonly access?: readonly AccessOption[];
  /** Whether a body is read, and up to what size. Default: GET and HEAD none, others DEFAULT_BODY. */
  readonly body?: BodyRule;
  /**
   * The object this method shows or changes, from the path (undefined: no such object). A
   * GET or HEAD answers with its ETag, and 304 on a matching If-None-Match; any method
   * answers 412 when If-Match no longer matches (handlers pass ctx.precondition to the queue).
   */
  readonly stamp?: (params: Readonly<Record<string, string>>) => VersionStamp | undefined;
  /** What a success is, for Accept (default application/json). */
  readonly produces?: MediaType;
  /** Every query parameter the handler reads; ctx.query reports a read of any other (query.ts). */
  readonly query?: readonly QueryParam[];
  /** The body and answer as the OpenAPI document shows them (src/api/openapi/). */
  readonly doc?: MethodDoc;
  /**
   * A bearer token this method accepts besides the users file (`Authorization: Bearer …`):
   * true when `token` is it (compared in constant time). A token that is not is refused (401).
   */
  readonly bearer?: (token: string) => boolean;
  /**
   * What the method touches, for API tokens (scope.ts): needed only where neither the path's
   * object parameter nor its first segment says it. Without one a token is refused.
   */
  readonly scope?: ScopeDeclaration;
  handle(ctx: RequestContext): unknown;
}

/** The object (or, without a name, the whole kind) a method reads or changes. */
export interface RouteScope {
  readonly kind: ScopeKind;
  readonly name?: string;
  /** Default: read for GET and HEAD, write otherwise (a query by PUT reads; a console GET acts). */
  readonly access?: GrantAccess;
}

/**
 * "public": any valid token; "users": users-file callers and their web sessions only (a token
 * never passes); or the scope worked out from the path parameters.
 */
export type ScopeDeclaration = "public" | "users" | ((params: Readonly<Record<string, string>>) => RouteScope);

export type MediaType = "application/json" | "text/event-stream" | "text/plain";

export type RouteMethods = Partial<Record<Method, MethodSpec>>;

export interface Route {
  readonly pattern: string;
  readonly regex: RegExp;
  readonly methods: RouteMethods;
}

// Path parameters: ids of jobs and disks are digits; names are Ganeti's [\w._-]+.
const DIGIT_PARAMS = new Set(["job_id", "disk_index"]);

export function route(pattern: string, methods: RouteMethods): Route {
  const source = pattern
    .split(/(\[[a-z_]+\])/)
    .map((part) => {
      const m = /^\[([a-z_]+)\]$/.exec(part);
      if (!m) return part.replace(/[.*+?^${}()|\\]/g, "\\$&");
      return `(?<${m[1]}>${DIGIT_PARAMS.has(m[1]) ? "\\d+" : "[A-Za-z0-9_.-]+"})`;
    })
    .join("");
  return { pattern, regex: new RegExp(`^${source}$`), methods };
}

const isRead = (method: Method) => method === "GET" || method === "HEAD";

export function accessFor(method: Method, spec: MethodSpec): readonly AccessOption[] {
  return spec.access ?? (isRead(method) ? [] : ["write"]);
}

/**
 * Whether only the leader can answer the method: it needs a write-capable caller (every POST,
 * PUT and DELETE unless it says otherwise, the job wait, the audit trail, the token list), or
 * it answers a job id (a read that submits a job). A standby master forwards these (forward.ts).
 */
export function needsLeader(method: Method, spec: MethodSpec): boolean {
  const access = accessFor(method, spec);
  return (access.length > 0 && access.every((option) => option === "write")) || spec.doc?.response?.kind === "job";
}

export function bodyFor(method: Method, spec: MethodSpec): BodyRule {
  return spec.body ?? (isRead(method) ? "none" : DEFAULT_BODY);
}

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/**
 * Routes by the first two segments and the number of segments of their pattern (a path
 * parameter never holds a "/"), in table order; patterns with a parameter in their first two
 * segments go under "*" and are tried for every path of that length.
 */
type RouteIndex = Map<string, readonly Route[]>;
const indexes = new WeakMap<readonly Route[], RouteIndex>();

function keyOf(path: string): [string, string] {
  const parts = path.split("/");
  return [`${parts.length}:${parts[1] ?? ""}/${parts[2] ?? ""}`, `${parts.length}:*`];
}

function indexOf(routes: readonly Route[]): RouteIndex {
  let index = indexes.get(routes);
  if (index) return index;
  const lists = new Map<string, Route[]>();
  for (const r of routes) {
    const [exact, any] = keyOf(r.pattern);
    const key = /\[/.test(r.pattern.split("/").slice(0, 3).join("/")) ? any : exact;
    const list = lists.get(key);
    if (list) list.push(r);
    else lists.set(key, [r]);
  }
  index = new Map();
  // Each key's candidates in table order, "*" patterns of the same length included.
  for (const [key, list] of lists) {
    const wild = key.endsWith(":*") ? [] : (lists.get(`${key.slice(0, key.indexOf(":"))}:*`) ?? []);
    index.set(key, wild.length === 0 ? list : routes.filter((r) => list.includes(r) || wild.includes(r)));
  }
  indexes.set(routes, index);
  return index;
}

export function matchRoute(routes: readonly Route[], path: string): RouteMatch | undefined {
  const index = indexOf(routes);
  const [exact, any] = keyOf(path);
  for (const r of index.get(exact) ?? index.get(any) ?? []) {
    const m = r.regex.exec(path);
    if (m) return { route: r, params: { ...m.groups } };
  }
  return undefined;
}

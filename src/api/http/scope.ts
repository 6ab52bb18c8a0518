// What a route touches, for API tokens (the users file's callers never get here): read from
// the route table — a method's `scope`, else the object its path names, else the kind its
// first segment is about — and checked against the token's grants before the handler runs.
// A route that says nothing is refused to tokens. Writes made of jobs are checked again,
// object by object, by the job queue (src/jobs/authority.ts).

import { grantCovers, grantsCover, type Grant, type OpcodeScope, type ScopeKind } from "../../model/tokens.ts";
import { pathObject } from "./audit.ts";
import { HttpError } from "./errors.ts";
import type { Method, MethodSpec, RouteScope, ScopeDeclaration } from "./routes.ts";
import type { RapiUser } from "./users.ts";

/** A request made with an API token. */
export interface TokenCaller {
  readonly id: string;
  /** The users-file user who owns it, as the file says now. */
  readonly owner: RapiUser;
  /** Its grants as they bind now (the owner's rights applied). */
  readonly grants: readonly Grant[];
}

export interface TokenGate {
  /** The caller a bearer token stands for; undefined: unknown, expired, revoked, or its owner gone. */
  authenticate(token: string): TokenCaller | undefined;
  /** The named object as grants see it (canonical name, tags); undefined when there is none. */
  object(kind: ScopeKind, name: string): ScopedObject | undefined;
}

export interface ScopedObject {
  readonly name: string;
  readonly tags: readonly string[];
  /** For a job: the token it was submitted with (a token may always follow and cancel its own jobs). */
  readonly submitter?: string;
}

/** The kind a route's first segment after the API version is about, when its path names no object. */
const SEGMENT_KINDS: Record<string, ScopeKind> = {
  instances: "instance",
  "instances-multi-alloc": "instance",
  nodes: "node",
  groups: "group",
  networks: "network",
  filters: "filter",
  jobs: "job",
  info: "cluster",
  os: "cluster",
  tags: "cluster",
  modify: "cluster",
  "redistribute-config": "cluster",
};

/**
 * The cluster as a whole, for routes about it whose path says nothing a grant names
 * (balancing, capacity, verification): GET needs read on `cluster`, other methods write, and
 * the jobs a write submits are checked opcode by opcode by the queue.
 */
export const WHOLE_CLUSTER: ScopeDeclaration = () => ({ kind: "cluster" });

export function routeScope(pattern: string, spec: MethodSpec, params: Readonly<Record<string, string>>): RouteScope | "public" | "users" | undefined {
  if (spec.scope) return typeof spec.scope === "function" ? spec.scope(params) : spec.scope;
  const named = pathObject(params);
  if (named) return { kind: named.kind as ScopeKind, name: named.name };
  const m = /^\/(?:2|corral\/1)\/([^/]+)$/.exec(pattern);
  const kind = m ? SEGMENT_KINDS[m[1]] : undefined;
  return kind ? { kind } : undefined;
}

/**
 * Refuses (403) what the token does not cover. Reads of one object need read on it; reads of
 * a whole kind need a read grant on the kind without names or tags (no filtered lists). A
 * write made of jobs (the method documents its opcode) needs write on its object for that
 * opcode, or, when it creates, a write grant on the kind for that opcode: the queue then
 * checks every object each opcode locks. A write made in the request itself counts only
 * grants without an opcode list, and needs one without names or tags when it names no object.
 */
export function checkTokenScope(gate: TokenGate, caller: TokenCaller, method: Method, pattern: string, spec: MethodSpec, params: Readonly<Record<string, string>>): void {
  const scope = routeScope(pattern, spec, params);
  if (scope === "public") return;
  if (scope === undefined || scope === "users") throw new HttpError(403, `API tokens cannot use ${method} ${pattern}`);
  const access = scope.access ?? (method === "GET" || method === "HEAD" ? "read" : "write");
  // A write's opcode, where the method declares the one it submits; a read counts any grant
  // (a read that submits a job has that job checked by opcode in the queue).
  const submits = spec.doc?.opcode?.def.id;
  const opcode: OpcodeScope = access === "read" ? "jobs" : (submits ?? "none");
  let covered: boolean;
  let what: string;
  if (scope.name === undefined) {
    what = `all ${scope.kind}s`;
    // A creation names its objects in the body: the queue checks them (a tag selector never covers a new one).
    covered =
      access === "write" && submits !== undefined
        ? caller.grants.some((g) => grantCovers({ ...g, names: undefined, tags: undefined }, access, scope.kind, "all", submits))
        : grantsCover(caller.grants, access, scope.kind, "all", opcode);
  } else {
    const object = gate.object(scope.kind, scope.name) ?? { name: scope.name, tags: [] };
    what = `${scope.kind} ${object.name}`;
    covered = (scope.kind === "job" && object.submitter === caller.id) || grantsCover(caller.grants, access, scope.kind, object, opcode);
  }
  if (!covered) throw new HttpError(403, `API token ${caller.id} does not allow ${access} on ${what}`);
}

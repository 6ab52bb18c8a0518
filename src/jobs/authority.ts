// The authority a job is submitted with, and the one rule that says whether it covers what an
// opcode locks. The queue applies it before a submission is queued and the executor again
// under the locks it acquired, right before checkPrereq (tags may have changed meanwhile).

import { AsyncLocalStorage } from "node:async_hooks";
import type { Opcode } from "../model/opcode.ts";
import { grantsCover, type Grant, type GrantAccess, type ScopeKind, type ScopeTarget } from "../model/tokens.ts";
import { findObject } from "../query/resolve.ts";
import { snapshotMap, type ConfigSnapshot } from "../store/store.ts";
import { LOCK_LEVELS, type LockLevel, type LockRequest } from "./locks.ts";

/** Whom jobs act for: an API token, by id (its grants are looked up when checked). */
export interface JobAuthority {
  readonly token: string;
}

/** The token's current grants; undefined once it is revoked, expired or its owner is gone. */
export type AuthorityLookup = (token: string) => readonly Grant[] | undefined;

/** A submission or an opcode the token does not cover (the API answers 403). */
export class AuthorityError extends Error {}

const requestAuthority = new AsyncLocalStorage<JobAuthority>();

/** Runs a request's handler so that every job it submits is checked against `authority`. */
export function withAuthority<T>(authority: JobAuthority, fn: () => T): T {
  return requestAuthority.run(authority, fn);
}

/** The authority of the request being handled, if it came with a token. */
export function currentAuthority(): JobAuthority | undefined {
  return requestAuthority.getStore();
}

/** Runs `fn` outside any request's authority (a job runs for its own token, not its starter's request). */
export function outsideRequests<T>(fn: () => T): T {
  return requestAuthority.exit(fn);
}

const LEVEL_KIND: Record<LockLevel, ScopeKind> = { cluster: "cluster", instance: "instance", nodegroup: "group", node: "node", network: "network" };
const KIND_LEVEL: Record<string, LockLevel> = { cluster: "cluster", instance: "instance", nodegroup: "nodegroup", node: "node", network: "network" };
const STORE_KIND = { instance: "instance", nodegroup: "nodegroup", node: "node", network: "network" } as const;

/**
 * The lock level an opcode acts at: its own objects need write when locked exclusive. An
 * opcode of no object kind (OS diagnosis, test delays) acts on the cluster.
 */
function ownLevel(op: Opcode): LockLevel {
  const id = op.OP_ID;
  if (id.startsWith("OP_INSTANCE_") || id.startsWith("OP_BACKUP_")) return "instance";
  if (id.startsWith("OP_NODE_")) return "node";
  if (id.startsWith("OP_GROUP_")) return "nodegroup";
  if (id.startsWith("OP_NETWORK_")) return "network";
  if (id.startsWith("OP_CLUSTER_")) return "cluster";
  const kind = (op as Record<string, unknown>).kind;
  if (id.startsWith("OP_TAGS_") && typeof kind === "string") return KIND_LEVEL[kind] ?? "cluster";
  return "cluster";
}

/** The objects an opcode names by parameter at its own level (they need not exist yet: creation). */
function namedTargets(op: Opcode, level: Exclude<LockLevel, "cluster">): string[] {
  const params = op as Record<string, unknown>;
  if (op.OP_ID.startsWith("OP_TAGS_")) return typeof params.name === "string" ? [params.name] : [];
  if (op.OP_ID === "OP_INSTANCE_MULTI_ALLOC" && Array.isArray(params.instances)) {
    return params.instances.map((i: unknown) => (i as Record<string, unknown>)?.instance_name).filter((n): n is string => typeof n === "string");
  }
  const param = level === "nodegroup" ? "group_name" : `${level}_name`;
  return typeof params[param] === "string" ? [params[param]] : [];
}

/**
 * Why `token` may not run `op` under `locks` now (it is no longer valid, or an object is not
 * covered); undefined when it may. The queue's check at submission and the executor's under
 * the job's locks.
 */
export function tokenRefusal(authorities: AuthorityLookup | undefined, token: string, op: Opcode, locks: LockRequest, snap: ConfigSnapshot): string | undefined {
  const grants = authorities?.(token);
  if (!grants) return `API token ${token} is no longer valid`;
  const uncovered = uncoveredObject(grants, op, locks, snap);
  return uncovered === undefined ? undefined : `API token ${token} does not allow ${op.OP_ID} on ${uncovered}`;
}

/**
 * The first object `op` would touch that `grants` do not cover, as "instance web1" or "all
 * nodes"; undefined when every one is covered. `locks` is what the opcode's logical unit
 * locks against `snap`.
 */
export function uncoveredObject(grants: readonly Grant[], op: Opcode, locks: LockRequest, snap: ConfigSnapshot): string | undefined {
  const own = ownLevel(op);
  const covered = (access: GrantAccess, kind: ScopeKind, target: ScopeTarget) => grantsCover(grants, access, kind, target, op.OP_ID);
  for (const level of LOCK_LEVELS) {
    const req = locks[level];
    if (!req) continue;
    const kind = LEVEL_KIND[level];
    const access: GrantAccess = level === own && req.mode === "exclusive" ? "write" : "read";
    if (level === "cluster") {
      // Every job shares the cluster lock; only an opcode on the cluster itself needs it covered.
      if (level !== own && req.mode === "shared") continue;
      if (!covered(access, kind, { name: snap.cluster.name, tags: snap.cluster.tags })) return `cluster ${snap.cluster.name}`;
      continue;
    }
    if (req.names === "all") {
      if (!covered(access, kind, "all")) return `all ${kind}s`;
      continue;
    }
    const objects = snapshotMap(snap, STORE_KIND[level]);
    for (const uuid of req.names) {
      const obj = objects.get(uuid);
      const target = obj ? { name: obj.name, tags: obj.tags } : { name: uuid, tags: [] };
      if (!covered(access, kind, target)) return `${kind} ${target.name}`;
    }
  }
  // What the opcode names at its own level, existing or not (a creation locks no instance yet).
  const kind = LEVEL_KIND[own];
  const access: GrantAccess = op.OP_ID === "OP_TAGS_SET" || op.OP_ID === "OP_TAGS_DEL" || locks[own]?.mode !== "shared" ? "write" : "read";
  if (own === "cluster") {
    return covered(access, kind, { name: snap.cluster.name, tags: snap.cluster.tags }) ? undefined : `cluster ${snap.cluster.name}`;
  }
  for (const name of namedTargets(op, own)) {
    const obj = findObject(snap, STORE_KIND[own], name);
    const target = obj ? { name: obj.name, tags: obj.tags } : { name, tags: [] };
    if (!covered(access, kind, target)) return `${kind} ${target.name}`;
  }
  return undefined;
}

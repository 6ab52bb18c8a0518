// What the node logical units share: finding the node an opcode names (and recording its
// uuid and full name in the opcode, as Ganeti's ExpandNodeUuidAndName does), the instances
// a node holds, and the master candidate pool rules (Ganeti's GetMasterCandidateStats,
// _DecideSelfPromotion and MaintainCandidatePool).

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import { niceCompare } from "../../model/names.ts";
import type { Instance, Node } from "../../model/objects.ts";
import type { ConfigSnapshot, ConfigTx } from "../../store/store.ts";
import type { LockRequest } from "../../jobs/locks.ts";
import { logInfo } from "../lu.ts";
import { findObject, resolveObject } from "../../query/resolve.ts";

/** The opcode fields that name one node. */
export interface NodeRef {
  node_name: string;
  node_uuid: string | null;
}

/**
 * The node `op` names. Its uuid and full name are written back into the opcode, so the job
 * shows them; a uuid given with the opcode must still be the node's.
 */
export function expandNode(snap: ConfigSnapshot, op: NodeRef): Node {
  const node = resolveObject(snap, "node", op.node_name);
  if (op.node_uuid !== null && op.node_uuid !== node.uuid) {
    throw new OpPrereqError(
      `The nodes UUID '${node.uuid}' does not match the expected UUID '${op.node_uuid}' for node '${node.name}'.` +
        " Maybe the node changed since you submitted this job.",
      ECODE.notUnique,
    );
  }
  op.node_uuid = node.uuid;
  op.node_name = node.name;
  return node;
}

/** The node's uuid for a lock request, or undefined (checkPrereq then reports the name). */
export function nodeLockName(snap: ConfigSnapshot, name: string): string | undefined {
  return findObject(snap, "node", name)?.uuid;
}

/** Cluster shared, the named node in `mode` (all nodes when the name is unknown). */
export function oneNodeLocks(snap: ConfigSnapshot, name: string, mode: "shared" | "exclusive"): LockRequest {
  const uuid = nodeLockName(snap, name);
  return { cluster: { names: "all", mode: "shared" }, node: { names: uuid ? [uuid] : [], mode } };
}

/** Instances with the node as primary, nice-sorted by name. */
export function primaryInstances(snap: ConfigSnapshot, nodeUuid: string): Instance[] {
  return byName([...snap.instances.values()].filter((i) => i.primary_node === nodeUuid));
}

/** Instances with the node as a secondary, nice-sorted by name. */
export function secondaryInstances(snap: ConfigSnapshot, nodeUuid: string): Instance[] {
  return byName([...snap.instances.values()].filter((i) => i.secondary_nodes.includes(nodeUuid)));
}

/** Instances using the node at all. */
export function nodeInstances(snap: ConfigSnapshot, nodeUuid: string): Instance[] {
  return byName([...snap.instances.values()].filter((i) => i.primary_node === nodeUuid || i.secondary_nodes.includes(nodeUuid)));
}

function byName<T extends { name: string }>(items: T[]): T[] {
  return items.sort((a, b) => niceCompare(a.name, b.name));
}

export interface CandidateStats {
  /** Master candidates now. */
  now: number;
  /** How many there should be: the pool size, or fewer when fewer nodes can be one. */
  should: number;
  /** Nodes that could be one (online, not drained, master capable). */
  max: number;
}

/** Ganeti's GetMasterCandidateStats, leaving out the `except` nodes. */
export function candidateStats(snap: ConfigSnapshot, except: readonly string[] = []): CandidateStats {
  let now = 0;
  let max = 0;
  for (const node of snap.nodes.values()) {
    if (except.includes(node.uuid)) continue;
    if (!node.offline && !node.drained && node.master_capable) max++;
    if (node.master_candidate) now++;
  }
  return { now, should: Math.min(max, snap.cluster.candidate_pool_size), max };
}

/** Whether a node that joins (or comes back) should make itself a master candidate. */
export function decideSelfPromotion(snap: ConfigSnapshot, except: readonly string[] = []): boolean {
  const { now, should } = candidateStats(snap, except);
  return now < Math.min(should + 1, snap.cluster.candidate_pool_size);
}

/**
 * Ganeti's AdjustCandidatePool: promotes nodes until the pool has its desired size, leaving
 * out the `except` nodes. Ganeti picks at random; Corral picks in name order, so the outcome
 * is predictable.
 */
export function adjustCandidatePool(
  tx: ConfigTx,
  except: readonly string[],
  ctx: { feedback(message: string): void },
): void {
  const stats = candidateStats(tx.current, except);
  const promoted: string[] = [];
  const candidates = [...tx.current.nodes.values()]
    .filter((n) => !n.master_candidate && !n.offline && !n.drained && n.master_capable && !except.includes(n.uuid))
    .sort((a, b) => niceCompare(a.name, b.name));
  for (const node of candidates) {
    if (stats.now + promoted.length >= stats.should) break;
    tx.update("node", node.uuid, (n) => void (n.master_candidate = true));
    promoted.push(node.name);
  }
  if (promoted.length > 0) logInfo(ctx, `Promoted nodes to master candidate role: ${promoted.join(", ")}`);
  const after = candidateStats(tx.current, except);
  if (after.now > after.should) {
    logInfo(ctx, `Note: more nodes are candidates (${after.now}) than desired (${after.should})`);
  }
}

/** Python's str() of a bool, as Ganeti's set-params results show flag changes. */
export const pyBool = (v: boolean): string => (v ? "True" : "False");

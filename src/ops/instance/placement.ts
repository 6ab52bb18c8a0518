// Choosing nodes for instance LUs: Ganeti's CheckIAllocatorOrNode and the iallocator runs
// of instance creation and relocation, answered by Corral's allocator (src/alloc).

import { allocate, allocateMany, allocatorRanking, ALLOCATOR_NAMES, capacityModel, relocate, type AllocRequest, type Ranking } from "../../alloc/allocator.ts";
import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Instance } from "../../model/objects.ts";
import type { LiveState } from "../../query/live.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { instanceShape, moveRequest } from "../../alloc/requests.ts";

export { instanceShape, moveRequest };

/** Ganeti's DEFAULT_IALLOCATOR_SHORTCUT: "." means the cluster's default. */
const DEFAULT_SHORTCUT = ".";

/**
 * Ganeti's CheckIAllocatorOrNode: at most one of the two; with neither (or "."), the
 * cluster's default iallocator. Returns the iallocator to run, or null when a node was given.
 */
export function iallocatorOrNode(snap: ConfigSnapshot, iallocator: string | null, node: string | null): string | null {
  if (node !== null && iallocator !== null) throw new OpPrereqError("Do not specify both, iallocator and node", ECODE.inval);
  if ((node === null && iallocator === null) || iallocator === DEFAULT_SHORTCUT) {
    const dflt = snap.cluster.default_iallocator;
    if (!dflt) {
      throw new OpPrereqError(
        "No iallocator or node given and no cluster-wide default iallocator found; please specify either an iallocator or a node, or set a cluster-wide default iallocator",
        ECODE.inval,
      );
    }
    return dflt;
  }
  return iallocator;
}

/** The ranking the iallocator name stands for; an unknown name fails as Ganeti's missing script. */
function checkAllocator(name: string): Ranking {
  const ranking = allocatorRanking(name);
  if (!ranking) {
    const names = ALLOCATOR_NAMES.map((n) => `"${n}"`).join(", ");
    throw new OpPrereqError(
      `Failure while running the iallocator script: iallocator module '${name}' not found in the search path (Corral's allocator answers to ${names})`,
      ECODE.inval,
    );
  }
  return ranking;
}

/** Runs the allocator for a new instance; the chosen node's uuid. */
export function allocateNode(snap: ConfigSnapshot, live: LiveState, iallocator: string, req: AllocRequest): string {
  const ranking = checkAllocator(iallocator);
  const result = allocate(capacityModel(snap, live), snap, { ...req, ranking });
  if (!result.ok) {
    throw new OpPrereqError(`Can't compute nodes using iallocator '${iallocator}': ${result.info}`, ECODE.noRes);
  }
  return result.node;
}

/**
 * Where a shared-storage instance can go from its primary (Ganeti's IAReqRelocate): a node
 * of the same group with room for it; memory only counts when it is to run.
 */
export function relocationTarget(snap: ConfigSnapshot, live: LiveState, iallocator: string, inst: Instance, ignoreIpolicy: boolean): string {
  const ranking = checkAllocator(iallocator);
  const req: AllocRequest = { ...moveRequest(snap, inst), group: snap.nodes.get(inst.primary_node)?.group, ignoreIpolicy, ranking };
  const result = relocate(capacityModel(snap, live), snap, req);
  if (!result.ok) {
    throw new OpPrereqError(`Can't compute nodes using iallocator '${iallocator}': ${result.info}`, ECODE.noRes);
  }
  return result.node;
}

/**
 * Places several new instances in turn (Ganeti's multi-instance allocation request); like
 * hail, the request fails as a whole when one of them finds no node.
 */
export function allocateNodes(snap: ConfigSnapshot, live: LiveState, iallocator: string, reqs: AllocRequest[]): [string, string][] {
  const ranking = checkAllocator(iallocator);
  const result = allocateMany(snap, live, reqs.map((r) => ({ ...r, ranking })));
  if (result.failed.length > 0) {
    throw new OpPrereqError(`Can't compute nodes using iallocator '${iallocator}': ${result.infos[0]}`, ECODE.noRes);
  }
  return result.allocatable.map(([name, [node]]) => [name, node]);
}

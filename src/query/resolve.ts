// Looks up the object an opcode names, failing the way Ganeti's LUs do. Nodes and
// instances match by full name, unique short name or UUID; node groups and networks only
// by exact name or UUID (Ganeti's LookupNodeGroup / LookupNetwork).

import { ECODE, OpPrereqError } from "../model/errors.ts";
import { matchName } from "../model/names.ts";
import type { ObjectKind } from "../model/objects.ts";
import { snapshotMap, type ConfigSnapshot, type KindTypes } from "../store/store.ts";

type Named = Exclude<ObjectKind, "filter">;

const NOT_FOUND: Record<Named, (name: string) => string> = {
  instance: (n) => `Instance '${n}' not known`,
  node: (n) => `Node '${n}' not known`,
  nodegroup: (n) => `Node group '${n}' not found`,
  network: (n) => `Network '${n}' not found`,
};

/** The object called `name` (or with that UUID), or undefined. */
export function findObject<K extends Named>(snap: ConfigSnapshot, kind: K, name: string): KindTypes[K] | undefined {
  const objects = snapshotMap(snap, kind);
  if (kind === "nodegroup" || kind === "network") {
    const byUuid = objects.get(name);
    if (byUuid) return byUuid;
    for (const obj of objects.values()) if ((obj as { name: string }).name === name) return obj;
    return undefined;
  }
  return matchName(objects.values() as Iterable<KindTypes[K]>, name);
}

export function resolveObject<K extends Named>(snap: ConfigSnapshot, kind: K, name: string): KindTypes[K] {
  const found = findObject(snap, kind, name);
  if (!found) throw new OpPrereqError(NOT_FOUND[kind](name), ECODE.noEnt);
  return found;
}

/** The UUID of `name` for a lock request; undefined lets checkPrereq report the error. */
export function lockName(snap: ConfigSnapshot, kind: Named, name: string): string | undefined {
  return findObject(snap, kind, name)?.uuid;
}

/** The UUIDs of the instances with a node in group `groupUuid` (Ganeti's GetNodeGroupInstances), for lock requests. */
export function groupInstanceUuids(snap: ConfigSnapshot, groupUuid: string | undefined): string[] {
  if (groupUuid === undefined) return [];
  const inGroup = (node: string) => snap.nodes.get(node)?.group === groupUuid;
  return [...snap.instances.values()]
    .filter((i) => inGroup(i.primary_node) || i.secondary_nodes.some(inGroup))
    .map((i) => i.uuid);
}

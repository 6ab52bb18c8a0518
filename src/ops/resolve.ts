// Looks up the object an opcode names, failing the way Ganeti's LUs do.

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

export function resolveObject<K extends Named>(snap: ConfigSnapshot, kind: K, name: string): KindTypes[K] {
  const found = matchName(snapshotMap(snap, kind).values() as Iterable<KindTypes[K]>, name);
  if (!found) throw new OpPrereqError(NOT_FOUND[kind](name), ECODE.noEnt);
  return found;
}

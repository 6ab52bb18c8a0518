// Instances as the allocator sees them: their shape (for the instance policy) and the request
// of an existing instance moving to another node.

import type { Cluster, Instance } from "../model/objects.ts";
import { filledBeparams } from "../model/filled.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import type { AllocRequest } from "./allocator.ts";
import type { InstanceShape } from "./policy.ts";

/** The shape of an existing instance, as policies judge it. */
export function instanceShape(cluster: Cluster, inst: Instance): InstanceShape {
  const be = filledBeparams(cluster, inst.beparams);
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  return {
    memory: num(be.maxmem),
    vcpus: num(be.vcpus),
    spindleUse: num(be.spindle_use),
    nics: inst.nics.length,
    diskSizes: inst.disks.map((d) => d.size),
    diskTemplates: inst.disks.map((d) => d.dev_type),
  };
}

/**
 * An existing instance moving to another node, as the allocator sees it: no new disk space,
 * and memory only when it is to run (`memory`: MiB it will use there, else its maxmem when up).
 */
export function moveRequest(snap: ConfigSnapshot, inst: Instance, memory?: number): AllocRequest {
  const be = filledBeparams(snap.cluster, inst.beparams);
  return {
    name: inst.name,
    memory: memory ?? (inst.admin_state === "up" ? Number(be.maxmem ?? 0) : 0),
    vcpus: Number(be.vcpus ?? 1),
    disk: null,
    shape: instanceShape(snap.cluster, inst),
    exclude: [inst.primary_node],
    moving: inst.uuid,
  };
}

// PVC's node selectors, as the PVC API names them: "mem", "vcpus", "load" and "vms" are
// rankings of Corral's allocator (allocator.ts, which over RAPI answers to "pvc-mem" and so
// on). Which nodes can take a VM is the allocator's rule, the same as for RAPI; only the
// ranking is the selector's.

import type { Node } from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { allocate, type AllocRequest, type CapacityModel } from "./allocator.ts";

export const PVC_SELECTORS = ["mem", "vcpus", "load", "vms"] as const;
export type PvcSelector = (typeof PVC_SELECTORS)[number];
/** PVC's default selector (the cluster default in later PVC versions). */
export const DEFAULT_SELECTOR: PvcSelector = "mem";

export function isPvcSelector(v: string): v is PvcSelector {
  return (PVC_SELECTORS as readonly string[]).includes(v);
}

/**
 * The node `selector` picks for the request, or undefined when no node can take it. The
 * model is not changed: a caller placing several VMs in a row records each with `place`.
 */
export function selectNode(
  selector: PvcSelector,
  model: CapacityModel,
  snap: ConfigSnapshot,
  req: Omit<AllocRequest, "ranking">,
): Node | undefined {
  const r = allocate(model, snap, { ...req, ranking: selector });
  return r.ok ? snap.nodes.get(r.node) : undefined;
}

// PVC's node selectors as allocation strategies: pick the node with the least allocated VM
// memory ("mem"), allocated vCPUs ("vcpus"), load average ("load") or number of VMs ("vms").
// Candidates are the nodes that can take VMs now (online, answering, vm_capable, not drained
// and in PVC domain state "ready"), never the excluded ones; when none qualifies, every
// online vm_capable node that is not excluded is a candidate, as in PVC.
// Pure functions over a snapshot and live facts, like allocator.ts; callers that place
// several VMs in a row pass what they already planned in `planned`.

import type { Node } from "../model/objects.ts";
import type { LiveState } from "../query/live.ts";
import type { ConfigSnapshot } from "../store/store.ts";

export const PVC_SELECTORS = ["mem", "vcpus", "load", "vms"] as const;
export type PvcSelector = (typeof PVC_SELECTORS)[number];
/** PVC's default selector (the cluster default in later PVC versions). */
export const DEFAULT_SELECTOR: PvcSelector = "mem";

export function isPvcSelector(v: string): v is PvcSelector {
  return (PVC_SELECTORS as readonly string[]).includes(v);
}

/** What each selector compares, per node. */
export interface NodeAllocation {
  node: Node;
  /** MiB of memory of the VMs running there. */
  memory: number;
  vcpus: number;
  /** 1-minute load average; Infinity when the node did not report it. */
  load: number;
  /** VMs assigned to the node (running or not). */
  vms: number;
  /** Online, answering, vm_capable, not drained, domain state ready. */
  ready: boolean;
}

/** Per node uuid: resources the caller has already planned to move there (or away, negative). */
export type Planned = ReadonlyMap<string, { memory: number; vcpus: number; vms: number }>;

export function nodeAllocations(snap: ConfigSnapshot, live: LiveState, planned?: Planned): NodeAllocation[] {
  const out = new Map<string, NodeAllocation>();
  for (const node of snap.nodes.values()) {
    const l = live.nodes.get(node.uuid);
    const answering = l !== undefined && l.offline !== true;
    out.set(node.uuid, {
      node,
      memory: 0,
      vcpus: 0,
      load: l?.facts?.host?.loadavg?.[0] ?? Infinity,
      vms: 0,
      ready: answering && !node.offline && node.vm_capable && !node.drained && (node.pvc?.domain_state ?? "ready") === "ready",
    });
  }
  for (const inst of snap.instances.values()) {
    const a = out.get(inst.primary_node);
    if (a) a.vms++;
  }
  for (const run of live.instances.values()) {
    const a = out.get(run.node);
    if (!a || !run.running) continue;
    a.memory += run.memory;
    a.vcpus += run.vcpus;
  }
  for (const [uuid, p] of planned ?? []) {
    const a = out.get(uuid);
    if (!a) continue;
    a.memory += p.memory;
    a.vcpus += p.vcpus;
    a.vms += p.vms;
  }
  return [...out.values()];
}

/** The node `selector` picks, or undefined when no node can be a target. */
export function selectNode(
  selector: PvcSelector,
  snap: ConfigSnapshot,
  live: LiveState,
  o: { exclude?: readonly string[]; planned?: Planned } = {},
): Node | undefined {
  const exclude = new Set(o.exclude ?? []);
  const all = nodeAllocations(snap, live, o.planned).filter((a) => !exclude.has(a.node.uuid));
  let candidates = all.filter((a) => a.ready);
  if (candidates.length === 0) candidates = all.filter((a) => !a.node.offline && a.node.vm_capable);
  const key = (a: NodeAllocation): number => (selector === "mem" ? a.memory : selector === "vcpus" ? a.vcpus : selector === "load" ? a.load : a.vms);
  candidates.sort((x, y) => key(x) - key(y) || x.node.name.localeCompare(y.node.name, "en", { numeric: true }));
  return candidates[0]?.node;
}

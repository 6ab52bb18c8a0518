// The cluster as the allocator accounts for it: the balancer's model (balance/model.ts) built
// straight from the config and the nodes' last reported facts, with every instance placed by
// htools' per-node rules (balance/state.ts). These are the numbers Ganeti hands hail in an
// iallocator request, read as hail reads them (HTools/Backend/IAlloc.hs):
//   - a node: total/free memory and CPUs as its agent reported them; its own memory as reported,
//     or hail's static 4096 MiB when the cluster's first hypervisor is KVM; disk from its first
//     storage unit that is not lvm-pv; the group's vcpu-ratio and spindle-ratio; a node that is
//     offline, drained, not vm_capable or without reported facts is htools' "offline";
//   - an instance: its maxmem (used while it is marked up, whether or not it runs: htools then
//     take the node's memory as the lower of what it reports free and what its records leave),
//     its disk_usage, vCPUs, template, primary and first secondary.
// Built once per cluster state (the config's maps and the live facts' are replaced when they change):
// allocations copy the node states, never the model.

import { instanceFacts, NodeState, placeAll, type InstanceFacts } from "../balance/state.ts";
import { clusterExclusionPrefixes } from "../balance/plan.ts";
import { STATIC_KVM_NODE_MEMORY, type ClusterModel, type ModelInstance, type ModelNode, type RunStatus } from "../balance/model.ts";
import { filledBeparams } from "../model/filled.ts";
import { niceCompare } from "../model/names.ts";
import type { AdminState, Instance } from "../model/objects.ts";
import { indexOf } from "../query/context.ts";
import { diskUsage } from "../query/instance.ts";
import type { LiveState, NodeFacts } from "../query/live.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { groupIPolicy } from "./policy.ts";

/** How hail reads an instance's admin state (IAlloc.hs: up runs, down and offline do not). */
const STATUS_OF: Record<AdminState, RunStatus> = { up: "running", down: "ADMIN_down", offline: "ADMIN_offline" };

export interface Accounting {
  readonly model: ClusterModel;
  /** Every node's state with the cluster's instances placed, by model index; never changed. */
  readonly states: readonly NodeState[];
  /** Model index by node uuid. */
  readonly index: ReadonlyMap<string, number>;
  /** Node uuid by model index. */
  readonly uuids: readonly string[];
  /** The instances as htools' rules read them, their primaries (model indices), and their index by uuid. */
  readonly instances: readonly InstanceFacts[];
  readonly pnode: Int32Array;
  readonly instanceIndex: ReadonlyMap<string, number>;
  readonly exclusionPrefixes: readonly string[];
}

interface Cached {
  readonly snap: ConfigSnapshot;
  readonly liveNodes: LiveState["nodes"];
  readonly accounting: Accounting;
}
/** By the snapshot's instances map: commits that change no instance, node, group or cluster setting keep the maps. */
const cache = new WeakMap<ConfigSnapshot["instances"], Cached>();

function sameCluster(a: ConfigSnapshot, b: ConfigSnapshot): boolean {
  return a.instances === b.instances && a.nodes === b.nodes && a.groups === b.groups && a.cluster === b.cluster;
}

/**
 * The accounting of the cluster as it is in `snap` with the nodes' facts in `live`. `snap` must
 * be a committed snapshot (immutable), not a transaction's draft view, whose maps change.
 */
export function accountingOf(snap: ConfigSnapshot, live: LiveState): Accounting {
  const hit = cache.get(snap.instances);
  if (hit && hit.liveNodes === live.nodes && sameCluster(hit.snap, snap)) return hit.accounting;
  const accounting = build(snap, live);
  cache.set(snap.instances, { snap, liveNodes: live.nodes, accounting });
  return accounting;
}

const num = (v: unknown, dflt: number) => (typeof v === "number" ? v : dflt);

function build(snap: ConfigSnapshot, live: LiveState): Accounting {
  const idx = indexOf(snap);
  const groups = [...snap.groups.values()].sort((a, b) => niceCompare(a.name, b.name));
  const groupIndex = new Map(groups.map((g, i) => [g.uuid, i]));
  const modelGroups = groups.map((g) => {
    const policy = groupIPolicy(snap.cluster, g);
    return { name: g.name, uuid: g.uuid, vcpuRatio: policy["vcpu-ratio"], spindleRatio: policy["spindle-ratio"] };
  });
  const kvm = snap.cluster.enabled_hypervisors[0] === "kvm";
  const nodeList = [...snap.nodes.values()].filter((n) => groupIndex.has(n.group)).sort((a, b) => niceCompare(a.name, b.name));
  const index = new Map(nodeList.map((n, i) => [n.uuid, i]));
  const nodes = nodeList.map((node): ModelNode => {
    const nd = idx.nodeNdparams(node) ?? {};
    const exclusiveStorage = nd["exclusive_storage"] === true;
    const reported = live.nodes.get(node.uuid)?.facts;
    const facts: NodeFacts | undefined = !node.offline && node.vm_capable ? reported : undefined;
    const unit = facts?.storage.find((s) => s.type !== "lvm-pv");
    const pv = facts?.storage.find((s) => s.type === "lvm-pv");
    return {
      name: node.name,
      group: groupIndex.get(node.group) ?? 0,
      tMem: facts?.memory_total ?? 0,
      nMem: facts ? (kvm ? STATIC_KVM_NODE_MEMORY : facts.memory_dom0) : 0,
      fMem: facts?.memory_free ?? 0,
      tDsk: unit?.total ?? 0,
      fDsk: unit?.free ?? 0,
      tCpu: facts?.cpu_total ?? 0,
      nCpu: facts?.cpu_dom0 ?? 0,
      cpuSpeed: 1,
      tSpindles: exclusiveStorage ? (pv?.total ?? 0) : num(nd["spindle_count"], 1),
      fSpindles: pv?.free ?? 0,
      exclusiveStorage,
      offline: !facts || node.drained,
      tags: node.tags,
    };
  });
  const instances: ModelInstance[] = [];
  const instanceIndex = new Map<string, number>();
  for (const inst of snap.instances.values()) {
    const pnode = index.get(inst.primary_node);
    if (pnode === undefined) continue;
    instanceIndex.set(inst.uuid, instances.length);
    instances.push(modelInstance(snap, inst, pnode, index.get(inst.secondary_nodes[0] ?? "") ?? -1));
  }
  const model: ClusterModel = { groups: modelGroups, nodes, instances, clusterTags: snap.cluster.tags };
  const exclusionPrefixes = clusterExclusionPrefixes(snap.cluster.tags);
  const placement = placeAll(model, exclusionPrefixes);
  return {
    model, states: placement.nodes, index, uuids: nodeList.map((n) => n.uuid), instances: placement.instances, pnode: placement.pnode, instanceIndex, exclusionPrefixes,
  };
}

function modelInstance(snap: ConfigSnapshot, inst: Instance, pnode: number, snode: number): ModelInstance {
  const be = filledBeparams(snap.cluster, inst.beparams);
  const spindles = inst.disks.map((d) => d.spindles);
  return {
    name: inst.name,
    mem: num(be["maxmem"], 0),
    dsk: diskUsage(inst),
    vcpus: num(be["vcpus"], 1),
    status: STATUS_OF[inst.admin_state],
    autoBalance: be["auto_balance"] !== false,
    pnode,
    snode,
    template: inst.disk_template,
    hypervisor: inst.hypervisor,
    alwaysFailover: be["always_failover"] === true,
    spindleUse: num(be["spindle_use"], 1),
    spindles: spindles.every((s) => typeof s === "number") ? spindles.reduce((a: number, s) => a + (s ?? 0), 0) : null,
    tags: inst.tags,
  };
}

/** What an instance about to be placed brings to a node, as htools' rules read it. */
export interface Newcomer {
  name: string;
  /** MiB it will use (0: it will not run there). */
  memory: number;
  vcpus: number;
  /** Its template, and the disk space it takes on its node when the template uses local storage. */
  template: string;
  disk: number;
  spindleUse: number;
  tags: readonly string[];
}

export function newcomerFacts(a: Accounting, n: Newcomer): InstanceFacts {
  return instanceFacts({
    name: n.name, mem: n.memory, dsk: n.disk, vcpus: n.vcpus, status: n.memory > 0 ? "running" : "ADMIN_down", autoBalance: true,
    pnode: -1, snode: -1, template: n.template, hypervisor: null, alwaysFailover: false, spindleUse: n.spindleUse, spindles: null, tags: [...n.tags],
  }, a.exclusionPrefixes);
}

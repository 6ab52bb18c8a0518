// Corral's instance allocator (what Ganeti delegates to an iallocator script such as hail):
// pure functions over a config snapshot and the live facts the agents last reported. One
// allocator with several rankings; the iallocator name picks the ranking, and everything
// else (which nodes can take the instance, which groups come first) is the same for all.
//
// Names (RAPI's `iallocator`, the cluster's default_iallocator):
//   "hail", "corral"   the score below (hail is what Ganeti clients send);
//   "pvc-mem"          PVC's "mem" selector: least memory of running instances;
//   "pvc-vcpus"        PVC's "vcpus": fewest vCPUs of running instances;
//   "pvc-load"         PVC's "load": lowest 1-minute load average the node reported;
//   "pvc-vms"          PVC's "vms": fewest instances whose primary it is (running or not).
// The PVC API's `selector` values (mem, vcpus, load, vms) are these rankings too.
//
// Which nodes can take an instance:
//   - online, not drained, vm_capable, in a group whose alloc_policy is not "unallocable",
//     and not being flushed (PVC domain state other than "ready");
//     a node whose agent has not reported facts is never chosen;
//   - memory: the node's free memory (as its hypervisor reports it, minus the maxmem of
//     instances that are marked up there but do not run) must hold the request (FailMem);
//   - disk: for file and sharedfile disks, the storage unit's free space must hold the new
//     disks (FailDisk); ext and diskless disks need no node space;
//   - CPU: the vCPUs of the node's primary instances plus the new ones may not exceed the
//     group policy's vcpu-ratio times the node's CPUs (FailCPU).
// Where to look first: groups the instance's shape fits the policy of, "preferred" before
// "last_resort"; groups whose policy it violates only when no other group can take it (the
// logical unit then reports the violation in Ganeti's words).
// Which node wins, with the score ranking: the highest score, where
//     score = 0.5 · free memory after / total memory
//           + 0.3 · free disk after / total disk   (1 when the disks need no node space)
//           + 0.2 · (1 − vCPUs after / vCPU limit)
// so memory headroom counts most, then disk, then CPU load; with a PVC ranking, the lowest
// value of what it counts. Ties go to the node with fewer primary instances, then to the
// first name in nice order.

import type { ConfigSnapshot } from "../store/store.ts";
import type { Node, NodeGroup } from "../model/objects.ts";
import type { LiveState } from "../query/live.ts";
import { groupIPolicy, specViolations, type InstanceShape } from "./policy.ts";

/** How nodes that can take an instance are ranked: the score, or what a PVC selector counts. */
export type Ranking = "score" | "mem" | "vcpus" | "load" | "vms";

const RANKINGS: ReadonlyMap<string, Ranking> = new Map([
  ["hail", "score"],
  ["corral", "score"],
  ["pvc-mem", "mem"],
  ["pvc-vcpus", "vcpus"],
  ["pvc-load", "load"],
  ["pvc-vms", "vms"],
]);

/** Allocator names the API accepts: Ganeti's usual "hail", Corral's own, PVC's selectors. */
export const ALLOCATOR_NAMES: readonly string[] = [...RANKINGS.keys()];

export function isKnownAllocator(name: string): boolean {
  return RANKINGS.has(name);
}

/** The ranking an allocator name stands for (undefined for an unknown name). */
export function allocatorRanking(name: string): Ranking | undefined {
  return RANKINGS.get(name);
}

/** Hail's failure kinds, in its order (Ganeti.HTools.Types.FailMode). */
const FAIL_ORDER = ["FailMem", "FailDisk", "FailCPU"] as const;
type FailMode = (typeof FAIL_ORDER)[number];

/** Templates whose disks take space in a node's storage unit of the same name. */
const NODE_STORAGE_TEMPLATES = new Set(["file", "sharedfile"]);

export interface NodeCapacity {
  readonly node: Node;
  readonly group: NodeGroup;
  readonly memTotal: number;
  memFree: number;
  readonly vcpuLimit: number;
  vcpusUsed: number;
  /** Storage unit type → {total, free} MiB. */
  readonly storage: Map<string, { total: number; free: number }>;
  /** Primary instances that are not admin-offline. */
  primaries: number;
  /** What the PVC rankings count: memory and vCPUs of instances running there, MiB and count. */
  runningMemory: number;
  runningVcpus: number;
  /** Instances whose primary it is, whatever their state. */
  instances: number;
  /** 1-minute load average; Infinity when the agent did not report it. */
  readonly load: number;
}

export interface AllocRequest {
  name: string;
  /** MiB the node must have free (0 when the instance will not run there). */
  memory: number;
  vcpus: number;
  /** Space needed in a node storage unit: the unit type and MiB. */
  disk: { type: string; size: number } | null;
  /** Shape judged against group policies. */
  shape: InstanceShape;
  /** Only nodes of this group (uuid). */
  group?: string;
  /** Nodes never chosen (the nodes an instance moves away from). */
  exclude?: readonly string[];
  ignoreIpolicy?: boolean;
  /** How the nodes that can take it are ranked (default: the score). */
  ranking?: Ranking;
}

export type AllocResult = { ok: true; node: string; info: string } | { ok: false; info: string };

const byName = (a: { name: string }, b: { name: string }) => niceOrder(a.name, b.name);

/** Nice order (digit runs by value) without depending on the query layer. */
function niceOrder(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

/** The cluster's capacity as the allocator models it; changed in place as instances are placed. */
export function capacityModel(snap: ConfigSnapshot, live: LiveState): NodeCapacity[] {
  const out: NodeCapacity[] = [];
  const be = snap.cluster.beparams.default ?? {};
  const num = (v: unknown, d: number) => (typeof v === "number" ? v : d);
  for (const node of [...snap.nodes.values()].sort(byName)) {
    const group = snap.groups.get(node.group);
    const facts = live.nodes.get(node.uuid)?.facts;
    if (!group || !facts || node.offline || node.drained || !node.vm_capable) continue;
    if (group.alloc_policy === "unallocable" || (node.pvc && node.pvc.domain_state !== "ready")) continue;
    let memFree = facts.memory_free;
    let vcpusUsed = 0;
    let primaries = 0;
    let instances = 0;
    for (const inst of snap.instances.values()) {
      if (inst.primary_node !== node.uuid) continue;
      instances++;
      if (inst.admin_state === "offline") continue;
      primaries++;
      vcpusUsed += num(inst.beparams.vcpus, num(be.vcpus, 1));
      const running = live.instances.get(inst.uuid)?.running === true;
      if (inst.admin_state === "up" && !running) memFree -= num(inst.beparams.maxmem, num(be.maxmem, 0));
    }
    const storage = new Map(facts.storage.map((s) => [s.type, { total: s.total, free: s.free }]));
    const policy = groupIPolicy(snap.cluster, group);
    out.push({
      node,
      group,
      memTotal: facts.memory_total,
      memFree,
      vcpuLimit: policy["vcpu-ratio"] * facts.cpu_total,
      vcpusUsed,
      storage,
      primaries,
      runningMemory: 0,
      runningVcpus: 0,
      instances,
      load: facts.host?.loadavg?.[0] ?? Infinity,
    });
  }
  // What runs where, as the hypervisors report it (an instance may run away from its primary).
  const byUuid = new Map(out.map((c) => [c.node.uuid, c]));
  for (const run of live.instances.values()) {
    const cap = byUuid.get(run.node);
    if (!cap || !run.running) continue;
    cap.runningMemory += run.memory;
    cap.runningVcpus += run.vcpus;
  }
  return out;
}

function failure(cap: NodeCapacity, req: AllocRequest): FailMode | null {
  if (req.memory > cap.memFree) return "FailMem";
  if (req.disk && NODE_STORAGE_TEMPLATES.has(req.disk.type)) {
    const unit = cap.storage.get(req.disk.type);
    if (!unit || req.disk.size > unit.free) return "FailDisk";
  }
  if (cap.vcpusUsed + req.vcpus > cap.vcpuLimit) return "FailCPU";
  return null;
}

function score(cap: NodeCapacity, req: AllocRequest): number {
  const mem = cap.memTotal > 0 ? (cap.memFree - req.memory) / cap.memTotal : 0;
  let disk = 1;
  if (req.disk && NODE_STORAGE_TEMPLATES.has(req.disk.type)) {
    const unit = cap.storage.get(req.disk.type);
    disk = unit && unit.total > 0 ? (unit.free - req.disk.size) / unit.total : 0;
  }
  const cpu = cap.vcpuLimit > 0 ? 1 - (cap.vcpusUsed + req.vcpus) / cap.vcpuLimit : 0;
  return 0.5 * mem + 0.3 * disk + 0.2 * cpu;
}

/** Hail's failure counts: "FailMem: 1, FailCPU: 2" ("" with none). */
function reasonCounts(fails: FailMode[]): string {
  return FAIL_ORDER.map((m) => [m, fails.filter((f) => f === m).length] as const)
    .filter(([, n]) => n > 0)
    .map(([m, n]) => `${m}: ${n}`)
    .join(", ");
}

function describeFailures(fails: FailMode[]): string {
  return `No valid allocation solutions, failure reasons: ${reasonCounts(fails) || "unknown reasons"}`;
}

/** What a PVC ranking counts on a node: lower is better. */
function selectorValue(cap: NodeCapacity, ranking: Exclude<Ranking, "score">): number {
  switch (ranking) {
    case "mem": return cap.runningMemory;
    case "vcpus": return cap.runningVcpus;
    case "load": return cap.load;
    case "vms": return cap.instances;
  }
}

function better(a: NodeCapacity, b: NodeCapacity, req: AllocRequest): boolean {
  const ranking = req.ranking ?? "score";
  if (ranking === "score") {
    const d = score(a, req) - score(b, req);
    if (Math.abs(d) > 1e-12) return d > 0;
  } else {
    const va = selectorValue(a, ranking);
    const vb = selectorValue(b, ranking);
    if (va !== vb) return va < vb;
  }
  if (a.primaries !== b.primaries) return a.primaries < b.primaries;
  return byName(a.node, b.node) < 0;
}

interface GroupOutcome {
  group: NodeGroup;
  best: NodeCapacity | null;
  fails: FailMode[];
}

/** Picks the node for one instance from the model (the model is not changed). */
export function allocate(model: readonly NodeCapacity[], snap: ConfigSnapshot, req: AllocRequest): AllocResult {
  const exclude = new Set(req.exclude ?? []);
  const outcomes = new Map<string, GroupOutcome>();
  for (const cap of model) {
    if (exclude.has(cap.node.uuid) || (req.group && cap.group.uuid !== req.group)) continue;
    let o = outcomes.get(cap.group.uuid);
    if (!o) outcomes.set(cap.group.uuid, (o = { group: cap.group, best: null, fails: [] }));
    const fail = failure(cap, req);
    if (fail) o.fails.push(fail);
    else if (!o.best || better(cap, o.best, req)) o.best = cap;
  }
  if (outcomes.size === 0) return { ok: false, info: "No node group has a node that can take new instances" };
  const fits = (g: NodeGroup) => req.ignoreIpolicy || specViolations(groupIPolicy(snap.cluster, g), req.shape).length === 0;
  const rank = (o: GroupOutcome) => (fits(o.group) ? 0 : 2) + (o.group.alloc_policy === "preferred" ? 0 : 1);
  const ordered = [...outcomes.values()].sort((a, b) => rank(a) - rank(b) || byName(a.group, b.group));
  for (let i = 0; i < ordered.length; ) {
    // Among groups of the same rank, the best node of any of them.
    const r = rank(ordered[i]);
    let best: NodeCapacity | null = null;
    for (; i < ordered.length && rank(ordered[i]) === r; i++) {
      const b = ordered[i].best;
      if (b && (!best || better(b, best, req))) best = b;
    }
    if (best) return { ok: true, node: best.node.uuid, info: `allocated ${req.name} to ${best.node.name}` };
  }
  const info = ordered.map((o) => `Group ${o.group.name} (${o.group.alloc_policy}): ${describeFailures(o.fails)}`).join("; ");
  return { ok: false, info: `Request failed: ${info}` };
}

/** Records a placement in the model, so the next request sees the node's reduced capacity. */
export function place(model: readonly NodeCapacity[], nodeUuid: string, req: AllocRequest): void {
  const cap = model.find((c) => c.node.uuid === nodeUuid);
  if (!cap) return;
  cap.memFree -= req.memory;
  cap.vcpusUsed += req.vcpus;
  cap.primaries++;
  cap.instances++;
  // A request with memory is an instance that will run there.
  if (req.memory > 0) {
    cap.runningMemory += req.memory;
    cap.runningVcpus += req.vcpus;
  }
  if (req.disk) {
    const unit = cap.storage.get(req.disk.type);
    if (unit) unit.free -= req.disk.size;
  }
}

/** Where an instance can move from `from` (failover/migration of shared-storage instances). */
export function relocate(model: readonly NodeCapacity[], snap: ConfigSnapshot, req: AllocRequest): AllocResult {
  const result = allocate(model, snap, req);
  if (result.ok) return result;
  // Hail's relocation wording: "Can't find any good node: <reasons>".
  const fails: FailMode[] = [];
  const exclude = new Set(req.exclude ?? []);
  for (const cap of model) {
    if (exclude.has(cap.node.uuid) || (req.group && cap.group.uuid !== req.group)) continue;
    const f = failure(cap, req);
    if (f) fails.push(f);
  }
  return { ok: false, info: `Request failed: Can't find any good node: ${reasonCounts(fails)}` };
}

/** Several instances in order, each seeing the capacity the ones before it took. */
export function allocateMany(
  snap: ConfigSnapshot,
  live: LiveState,
  reqs: readonly AllocRequest[],
): { allocatable: [string, string[]][]; failed: string[]; infos: string[] } {
  const model = capacityModel(snap, live);
  const allocatable: [string, string[]][] = [];
  const failed: string[] = [];
  const infos: string[] = [];
  for (const req of reqs) {
    const r = allocate(model, snap, req);
    if (r.ok) {
      place(model, r.node, req);
      allocatable.push([req.name, [r.node]]);
    } else {
      failed.push(req.name);
      infos.push(r.info);
    }
  }
  return { allocatable, failed, infos };
}

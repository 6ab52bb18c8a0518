// Corral's instance allocator (what Ganeti delegates to an iallocator script such as hail):
// pure functions over a config snapshot and the live facts the agents last reported. One
// allocator with several rankings; the iallocator name picks the ranking, and everything
// else (which nodes can take the instance, which groups come first) is the same for all.
//
// Names (RAPI's `iallocator`, the cluster's default_iallocator):
//   "hail"             what hail does: the lowest htools cluster score after placing;
//   "corral"           Corral's own weighted headroom score (below);
//   "pvc-mem"          PVC's "mem" selector: least memory of running instances;
//   "pvc-vcpus"        PVC's "vcpus": fewest vCPUs of running instances;
//   "pvc-load"         PVC's "load": lowest 1-minute load average the node reported;
//   "pvc-vms"          PVC's "vms": fewest instances whose primary it is (running or not).
// The PVC API's `selector` values (mem, vcpus, load, vms) are these rankings too.
//
// Which nodes can take an instance: the balancer's accounting decides (accounting.ts builds
// htools' node states; balance/state.ts's addPrimary refuses with FailMem, FailDisk, FailCPU,
// FailSpindles or FailTags by htools' rules: free memory is the lower of what the node reports
// and what its records leave, so instances marked up that do not run keep their memory; disks
// of local-storage templates need the node's disk; vCPUs may not exceed the group's
// vcpu-ratio). Besides, rules htools have no notion of:
//   - online, not drained, vm_capable, in a group whose alloc_policy is not "unallocable",
//     and not being flushed (PVC domain state other than "ready");
//     a node whose agent has not reported facts is never chosen;
//   - for file and sharedfile disks (which htools leave alone), the node's storage unit of that
//     type must hold the new disks (FailDisk);
//   - an instance that will not run asks for no memory.
// Where to look first: groups the instance's shape fits the policy of, "preferred" before
// "last_resort"; groups whose policy it violates only when no other group can take it (the
// logical unit then reports the violation in Ganeti's words). Among groups of the same rank,
// the best node of any of them (hail likewise sorts groups by policy, then by the score).
// Which node wins:
//   - "hail" (hail.ts): htools' cluster score (balance/metrics.ts) over all nodes of the
//     cluster with the instance placed, the lowest wins (hail's tryAlloc); an existing instance
//     that moves (`moving`) leaves its node and the score is over its group (hail's relocation);
//     of equal scores the node later in nice order (hail's folds keep the later). Scores are
//     updated per candidate in constant time; a few candidates tied within 1e-9 are scored
//     afresh. Not done: hail's global N+1 check (its default without --no-capacity-checks),
//     which may refuse the best node after placing.
//   - "corral": the highest
//         score = 0.5 · free memory after / total memory
//               + 0.3 · free disk after / total disk   (1 when the disks need no node space)
//               + 0.2 · (1 − vCPUs after / vCPU limit)
//     so memory headroom counts most, then disk, then CPU load;
//   - a PVC ranking: the lowest value of what it counts.
// With "corral" and the PVC rankings, ties go to the node with fewer primary instances, then
// to the first name in nice order.

import type { ConfigSnapshot } from "../store/store.ts";
import type { Node, NodeGroup } from "../model/objects.ts";
import type { LiveState } from "../query/live.ts";
import { FAIL_MODES, type FailMode } from "../balance/capacity.ts";
import type { Scorer } from "../balance/globaln1.ts";
import type { InstanceFacts, NodeState } from "../balance/state.ts";
import { niceCompare } from "../model/names.ts";
import { accountingOf, newcomerFacts, type Accounting } from "./accounting.ts";
import { bestByClusterScore, departure } from "./hail.ts";
import { groupIPolicy, specViolations, type InstanceShape } from "./policy.ts";

/** How nodes that can take an instance are ranked: hail's cluster score, Corral's headroom, or what a PVC selector counts. */
export type Ranking = "cluster" | "headroom" | "mem" | "vcpus" | "load" | "vms";

const RANKINGS: ReadonlyMap<string, Ranking> = new Map([
  ["hail", "cluster"],
  ["corral", "headroom"],
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

/** Templates whose disks take space in a node's storage unit of the same name (not htools' business). */
const NODE_STORAGE_TEMPLATES = new Set(["file", "sharedfile"]);

/** A node that can take instances, with what Corral's own rules and rankings read. */
export interface NodeCapacity {
  readonly node: Node;
  readonly group: NodeGroup;
  /** The node's index in the accounting (CapacityModel.states). */
  readonly index: number;
  /** Storage unit type → {total, free} MiB. */
  readonly storage: Map<string, { total: number; free: number }>;
  /** What the PVC rankings count: memory and vCPUs of instances running there, MiB and count. */
  runningMemory: number;
  runningVcpus: number;
  /** Instances whose primary it is, whatever their state. */
  instances: number;
  /** 1-minute load average; Infinity when the agent did not report it. */
  readonly load: number;
}

/** The cluster as allocations see it; changed in place as instances are placed. */
export interface CapacityModel {
  readonly accounting: Accounting;
  /** Every node's htools state by accounting index: replaced, never changed, by place(). */
  readonly states: NodeState[];
  /** The nodes that can take instances, in nice order. */
  readonly nodes: NodeCapacity[];
  /** The cluster score's statistics, made by the first "hail" ranking and kept up by place(). */
  scorer?: Scorer;
  /** Instances place() moved (accounting index → node index). */
  readonly moved: Map<number, number>;
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
  /** A new instance's tags: those under an exclusion prefix (cluster tag htools:iextags:PREFIX) keep it apart from instances sharing them. */
  tags?: readonly string[];
  /** How the nodes that can take it are ranked (default: hail's). */
  ranking?: Ranking;
  /**
   * The uuid of an existing instance that moves (failover, migration): with hail's ranking
   * the score is then of the move, over the nodes of its group, as hail's relocation scores it.
   */
  moving?: string;
}

export type AllocResult = { ok: true; node: string; info: string } | { ok: false; info: string };

const byName = (a: { name: string }, b: { name: string }) => niceCompare(a.name, b.name);

/** The cluster's capacity as the allocator models it; changed in place as instances are placed. */
export function capacityModel(snap: ConfigSnapshot, live: LiveState): CapacityModel {
  const accounting = accountingOf(snap, live);
  const nodes: NodeCapacity[] = [];
  const byUuid = new Map<string, NodeCapacity>();
  accounting.uuids.forEach((uuid, index) => {
    const node = snap.nodes.get(uuid);
    const group = node && snap.groups.get(node.group);
    const facts = live.nodes.get(uuid)?.facts;
    if (!node || !group || !facts || node.offline || node.drained || !node.vm_capable) return;
    if (group.alloc_policy === "unallocable" || (node.pvc && node.pvc.domain_state !== "ready")) return;
    const cap: NodeCapacity = {
      node,
      group,
      index,
      storage: new Map(facts.storage.map((s) => [s.type, { total: s.total, free: s.free }])),
      runningMemory: 0,
      runningVcpus: 0,
      instances: accounting.states[index].primaries,
      load: facts.host?.loadavg?.[0] ?? Infinity,
    };
    nodes.push(cap);
    byUuid.set(uuid, cap);
  });
  // What runs where, as the hypervisors report it (an instance may run away from its primary).
  for (const run of live.instances.values()) {
    const cap = byUuid.get(run.node);
    if (!cap || !run.running) continue;
    cap.runningMemory += run.memory;
    cap.runningVcpus += run.vcpus;
  }
  return { accounting, states: [...accounting.states], nodes, moved: new Map() };
}

/** The request as htools' rules read it. */
function factsOf(m: CapacityModel, req: AllocRequest): InstanceFacts {
  const template = req.disk?.type ?? req.shape.diskTemplates[0] ?? "diskless";
  return newcomerFacts(m.accounting, {
    name: req.name, memory: req.memory, vcpus: req.vcpus, template, disk: req.disk?.size ?? 0, spindleUse: req.shape.spindleUse ?? 1, tags: req.tags ?? [],
  });
}

/** The node's state with the instance added, or why it refuses it. */
function tryNode(m: CapacityModel, cap: NodeCapacity, facts: InstanceFacts, req: AllocRequest): NodeState | FailMode {
  const next = m.states[cap.index].copy();
  const refused = next.addPrimary(facts, false);
  if (refused) return refused;
  if (req.disk && NODE_STORAGE_TEMPLATES.has(req.disk.type)) {
    const unit = cap.storage.get(req.disk.type);
    if (!unit || req.disk.size > unit.free) return "FailDisk";
  }
  return next;
}

/** Hail's failure counts: "FailMem: 1, FailCPU: 2" ("" with none). */
function reasonCounts(fails: FailMode[]): string {
  return FAIL_MODES.map((m) => [m, fails.filter((f) => f === m).length] as const)
    .filter(([, n]) => n > 0)
    .map(([m, n]) => `${m}: ${n}`)
    .join(", ");
}

function describeFailures(fails: FailMode[]): string {
  return `No valid allocation solutions, failure reasons: ${reasonCounts(fails) || "unknown reasons"}`;
}

/** A node that can take the instance, and its state with it. */
interface Candidate {
  cap: NodeCapacity;
  after: NodeState;
}

/** Corral's headroom score of a node with the instance placed: higher is better. */
function headroom(m: CapacityModel, c: Candidate, req: AllocRequest): number {
  const before = m.states[c.cap.index];
  const mem = before.tMem > 0 ? c.after.unallocatedMem() / before.tMem : 0;
  let disk = 1;
  if (req.disk && NODE_STORAGE_TEMPLATES.has(req.disk.type)) {
    const unit = c.cap.storage.get(req.disk.type);
    disk = unit && unit.total > 0 ? (unit.free - req.disk.size) / unit.total : 0;
  }
  const vcpuLimit = before.vcpuRatio * before.tCpu;
  const cpu = vcpuLimit > 0 ? 1 - c.after.uCpu / vcpuLimit : 0;
  return 0.5 * mem + 0.3 * disk + 0.2 * cpu;
}

/** What a PVC ranking counts on a node: lower is better. */
function selectorValue(cap: NodeCapacity, ranking: "mem" | "vcpus" | "load" | "vms"): number {
  switch (ranking) {
    case "mem": return cap.runningMemory;
    case "vcpus": return cap.runningVcpus;
    case "load": return cap.load;
    case "vms": return cap.instances;
  }
}

/** The best candidate by Corral's headroom or a PVC ranking (ties: fewer primaries, then name). */
function bestByValue(m: CapacityModel, candidates: readonly Candidate[], req: AllocRequest, ranking: Exclude<Ranking, "cluster">): Candidate {
  const value = (c: Candidate) => (ranking === "headroom" ? -headroom(m, c, req) : selectorValue(c.cap, ranking));
  let best = candidates[0];
  let bestValue = value(best);
  for (const c of candidates.slice(1)) {
    const v = value(c);
    const d = v - bestValue;
    const better = Math.abs(d) > 1e-12 ? d < 0
      : m.states[c.cap.index].primaries !== m.states[best.cap.index].primaries ? m.states[c.cap.index].primaries < m.states[best.cap.index].primaries
      : byName(c.cap.node, best.cap.node) < 0;
    if (better) [best, bestValue] = [c, v];
  }
  return best;
}

function best(m: CapacityModel, candidates: readonly Candidate[], req: AllocRequest): Candidate {
  const ranking = req.ranking ?? "cluster";
  return ranking === "cluster" ? bestByClusterScore(m, candidates, req.moving) : bestByValue(m, candidates, req, ranking);
}

interface GroupOutcome {
  group: NodeGroup;
  candidates: Candidate[];
  fails: FailMode[];
}

/** Each group's candidates and refusals for the request, for the nodes it may go to. */
function outcomesOf(m: CapacityModel, req: AllocRequest): Map<string, GroupOutcome> {
  const facts = factsOf(m, req);
  const exclude = new Set(req.exclude ?? []);
  const outcomes = new Map<string, GroupOutcome>();
  for (const cap of m.nodes) {
    if (exclude.has(cap.node.uuid) || (req.group && cap.group.uuid !== req.group)) continue;
    let o = outcomes.get(cap.group.uuid);
    if (!o) outcomes.set(cap.group.uuid, (o = { group: cap.group, candidates: [], fails: [] }));
    const r = tryNode(m, cap, facts, req);
    if (typeof r === "string") o.fails.push(r);
    else o.candidates.push({ cap, after: r });
  }
  return outcomes;
}

/** Picks the node for one instance from the model (the model is not changed). */
export function allocate(m: CapacityModel, snap: ConfigSnapshot, req: AllocRequest): AllocResult {
  const outcomes = outcomesOf(m, req);
  if (outcomes.size === 0) return { ok: false, info: "No node group has a node that can take new instances" };
  const fits = (g: NodeGroup) => req.ignoreIpolicy || specViolations(groupIPolicy(snap.cluster, g), req.shape).length === 0;
  const rank = (o: GroupOutcome) => (fits(o.group) ? 0 : 2) + (o.group.alloc_policy === "preferred" ? 0 : 1);
  const ordered = [...outcomes.values()].sort((a, b) => rank(a) - rank(b) || byName(a.group, b.group));
  for (let i = 0; i < ordered.length; ) {
    // Among groups of the same rank, the best node of any of them (candidates in nice order).
    const r = rank(ordered[i]);
    const candidates: Candidate[] = [];
    for (; i < ordered.length && rank(ordered[i]) === r; i++) candidates.push(...ordered[i].candidates);
    candidates.sort((a, b) => a.cap.index - b.cap.index);
    if (candidates.length > 0) {
      const chosen = best(m, candidates, req);
      return { ok: true, node: chosen.cap.node.uuid, info: `allocated ${req.name} to ${chosen.cap.node.name}` };
    }
  }
  const info = ordered.map((o) => `Group ${o.group.name} (${o.group.alloc_policy}): ${describeFailures(o.fails)}`).join("; ");
  return { ok: false, info: `Request failed: ${info}` };
}

/** Records a placement in the model, so the next request sees the node's reduced capacity. */
export function place(m: CapacityModel, nodeUuid: string, req: AllocRequest): void {
  const cap = m.nodes.find((c) => c.node.uuid === nodeUuid);
  if (!cap) return;
  const changed = new Map<number, NodeState>();
  const away = departure(m, req.moving);
  if (away) {
    changed.set(away.node, away.after);
    m.states[away.node] = away.after;
    m.moved.set(away.instance, cap.index);
  }
  const after = m.states[cap.index].copy();
  // Placed as the allocator chose it: the soft limits were checked then.
  after.addPrimary(factsOf(m, req), true);
  m.states[cap.index] = after;
  changed.set(cap.index, after);
  m.scorer?.apply(changed);
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
export function relocate(m: CapacityModel, snap: ConfigSnapshot, req: AllocRequest): AllocResult {
  const result = allocate(m, snap, req);
  if (result.ok) return result;
  // Hail's relocation wording: "Can't find any good node: <reasons>".
  const fails = [...outcomesOf(m, req).values()].flatMap((o) => o.fails);
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

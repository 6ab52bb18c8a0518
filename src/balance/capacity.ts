// How many more instances of one spec fit, as hspace's "normal (fixed-size) allocation"
// computes it (Ganeti 3.0 Program/Hspace.hs, Cluster.iterateAlloc): copies of the spec are
// placed one at a time, each on the node (or, for DRBD, the primary/secondary pair of one
// group) that leaves the lowest cluster score — the balancer's score — until no node takes
// one. What stopped it is the count of each refusal in that last round (FailMem, FailDisk,
// FailCPU, …); the most frequent one is what runs out first. Like hspace:
// - a node refuses a spec outside its group's instance policy, or a template it disallows;
// - a non-DRBD placement after which some node could no longer be lost (global N+1, see
//   globaln1.ts) is refused as FailN1;
// - nothing is placed while an online node already fails N+1 (one FailN1);
// - nodes of "unallocable" groups and offline or drained nodes take nothing.
// Without a spec, the cluster policy's standard spec and first disk template are used.

import { ClusterStats } from "./metrics.ts";
import { ModelError, type ClusterModel, type ModelInstance } from "./model.ts";
import { preparePlacement } from "./plan.ts";
import { canEvacuateNode, layoutOf, NEAR_TIE, Scorer, type Layout } from "./globaln1.ts";
import { policyViolation, type Policies, type PolicyInstance } from "./ipolicy.ts";
import { instanceFacts, type InstanceFacts, type NodeState } from "./state.ts";

/** htools' failure modes, in their order (ties in counts go to the earlier one). */
export const FAIL_MODES = ["FailMem", "FailDisk", "FailCPU", "FailN1", "FailTags", "FailMig", "FailDiskCount", "FailSpindles", "FailInternal"] as const;
export type FailMode = (typeof FAIL_MODES)[number];

/** The instance spec to place (hspace's RSpec plus template and spindle use). */
export interface InstanceSpec {
  readonly memory: number;
  readonly disk: number;
  readonly vcpus: number;
  /** Spindles of its one disk (exclusive storage). */
  readonly spindles: number;
  readonly spindle_use: number;
  readonly disk_template: string;
}

export interface CapacityOptions {
  /** Parts of the spec; the rest from the cluster policy's standard spec. */
  readonly spec?: Partial<InstanceSpec>;
  /** At most this many instances (hspace -l). */
  readonly limit?: number;
  /** Without the global N+1 check (hspace --no-capacity-checks). */
  readonly noCapacityChecks?: boolean;
}

/** Sums over nodes, as hspace's totalResources (MiB, vCPUs). */
export interface Resources {
  readonly instances: number;
  /** Memory not used by instances or the node itself. */
  readonly memory_free: number;
  /** Free memory less what DRBD secondaries reserve for failovers. */
  readonly memory_available: number;
  readonly disk_free: number;
  /** vCPUs the vCPU ratio still allows. */
  readonly vcpus_available: number;
  readonly score: number;
}

export interface Capacity {
  /** The group, or null for the whole cluster. */
  readonly group: string | null;
  readonly spec: InstanceSpec;
  /** Instances of the spec that fit. */
  readonly count: number;
  /** "failure": no node took another; "limit": the limit was reached; "error": see error. */
  readonly stopped_by: "failure" | "limit" | "error";
  /** The most frequent refusal of the last round (hspace's "most likely failure reason"), null if none. */
  readonly failure_reason: FailMode | null;
  /** Refusals of the last round, per failure mode. */
  readonly failures: Readonly<Record<FailMode, number>>;
  readonly error?: string;
  readonly before: Resources;
  readonly after: Resources;
}

/** The spec hspace would use: the policy's standard spec and first template, overridden by `given`. */
export function specFor(policies: Policies, given: Partial<InstanceSpec> = {}): InstanceSpec {
  const std = policies.cluster.std;
  const template = given.disk_template ?? policies.cluster.diskTemplates[0];
  if (template === undefined) throw new ModelError("The cluster policy allows no disk template");
  const spec = {
    memory: given.memory ?? std.memory,
    disk: given.disk ?? std.disk,
    vcpus: given.vcpus ?? std.cpus,
    spindles: given.spindles ?? std.spindleUse,
    spindle_use: given.spindle_use ?? std.spindleUse,
    disk_template: template,
  };
  for (const key of ["memory", "disk", "vcpus", "spindles", "spindle_use"] as const) {
    if (!Number.isInteger(spec[key]) || spec[key] < 0 || (key === "memory" && spec[key] === 0)) throw new ModelError(`Invalid instance spec: ${key} ${spec[key]}`);
  }
  return spec;
}

export function resourcesOf(nodes: readonly NodeState[], instances: number): Resources {
  let memFree = 0, memAvail = 0, dskFree = 0, cpuAvail = 0;
  for (const n of nodes) {
    const unallocated = n.unallocatedMem();
    memFree += unallocated;
    memAvail += Math.max(0, unallocated - n.rMem);
    dskFree += n.fDsk;
    cpuAvail += Math.max(0, Math.floor(n.vcpuRatio * n.tCpu) - n.uCpu);
  }
  return { instances, memory_free: memFree, memory_available: memAvail, disk_free: dskFree, vcpus_available: cpuAvail, score: ClusterStats.of(nodes).score() };
}

function noFailures(): Record<FailMode, number> {
  return Object.fromEntries(FAIL_MODES.map((f) => [f, 0])) as Record<FailMode, number>;
}

/** The most frequent failure, earlier modes first on ties (hspace's sortReasons). */
function mainReason(failures: Readonly<Record<FailMode, number>>): FailMode | null {
  let best: FailMode | null = null;
  for (const f of FAIL_MODES) if (failures[f] > 0 && (best === null || failures[f] > failures[best])) best = f;
  return best;
}

/** A candidate placement: the nodes it changes, its score, and its order of trial. */
interface Candidate {
  readonly changed: ReadonlyMap<number, NodeState>;
  readonly pnode: number;
  readonly snode: number;
  /** Quick, or exact where a near-tie needs it (rank). */
  score: number;
  readonly order: number;
}

interface Scope {
  readonly group: number | null;
  /** Nodes that may take the new instances, in index order. */
  readonly targets: readonly number[];
  /** Nodes whose loss global N+1 checks, and whose N+1 state must be clean to start. */
  readonly checked: readonly number[];
}

/** The capacity of the whole cluster (hspace's answer) and of each group on its own. */
export function capacity(model: ClusterModel, policies: Policies, opts: CapacityOptions = {}): { cluster: Capacity; groups: Capacity[] } {
  const spec = specFor(policies, opts.spec);
  const allNodes = model.nodes.map((_, i) => i);
  const allocable = (i: number) => !model.nodes[i].offline && !policies.unallocable.has(model.nodes[i].group);
  const usedGroups = [...new Set(model.nodes.map((n) => n.group))].sort((a, b) => a - b);
  const cluster = capacityIn(model, policies, spec, opts, { group: null, targets: allNodes.filter(allocable), checked: allNodes });
  const groups = usedGroups.map((g) => {
    const members = allNodes.filter((i) => model.nodes[i].group === g);
    return capacityIn(model, policies, spec, opts, { group: g, targets: members.filter(allocable), checked: members });
  });
  return { cluster, groups };
}

function newInstance(spec: InstanceSpec, k: number): { facts: InstanceFacts; shape: PolicyInstance } {
  const drbd = spec.disk_template === "drbd";
  const mi: ModelInstance = {
    name: `new-${k}`, mem: spec.memory, dsk: spec.disk, vcpus: spec.vcpus, status: "running", autoBalance: true,
    pnode: -1, snode: drbd ? 0 : -1, template: spec.disk_template, hypervisor: null, alwaysFailover: false, spindleUse: spec.spindle_use, spindles: spec.spindles, tags: [],
  };
  return {
    facts: instanceFacts(mi, []),
    shape: { mem: spec.memory, vcpus: spec.vcpus, diskSizes: [spec.disk], spindleUse: spec.spindle_use, spindles: spec.spindles, template: spec.disk_template },
  };
}

/** Where an allocation run ended: how many it placed and the refusals of its last round. */
interface Run {
  placed: number;
  failures: Record<FailMode, number>;
}

/** Everything one capacity computation needs besides the changing layout. */
interface Allocator {
  readonly spec: InstanceSpec;
  readonly scope: Scope;
  /** Every node of the cluster: the score is over all of them. */
  readonly allNodes: readonly number[];
  /** DRBD: the (primary, secondaries of its group) pairs to try; else the single nodes. */
  readonly pairs: readonly (readonly [number, readonly number[]])[];
}

function capacityIn(model: ClusterModel, policies: Policies, spec: InstanceSpec, opts: CapacityOptions, scope: Scope): Capacity {
  let layout = layoutOf(model, policies, preparePlacement(model));
  const scoped = () => scope.checked.map((i) => layout.nodes[i]);
  const initialInstances = layout.pnode.filter((p) => scope.checked.includes(p)).length;
  const before = resourcesOf(scoped(), initialInstances);
  const group = scope.group === null ? null : model.groups[scope.group].name;
  const finish = (count: number, stopped_by: Capacity["stopped_by"], failures: Record<FailMode, number>, error?: string): Capacity => ({
    group, spec, count, stopped_by, failure_reason: mainReason(failures), failures, ...(error ? { error } : {}), before, after: resourcesOf(scoped(), initialInstances + count),
  });
  // Nothing is placed while a node already fails N+1.
  if (scope.checked.some((i) => !layout.nodes[i].offline && layout.nodes[i].failN1)) return finish(0, "failure", { ...noFailures(), FailN1: 1 });
  const drbd = spec.disk_template === "drbd";
  const pairs = drbd
    ? scope.targets.map((p) => [p, scope.targets.filter((s) => s !== p && model.nodes[s].group === model.nodes[p].group)] as const).filter(([, ss]) => ss.length > 0)
    : scope.targets.map((p) => [p, [-1]] as const);
  if (pairs.length === 0) {
    const why = scope.group !== null && policies.unallocable.has(scope.group) ? `Group '${group}' is unallocable` : drbd ? "Not enough online nodes" : "No online nodes";
    return finish(0, "error", noFailures(), why);
  }
  const alloc: Allocator = { spec, scope, allNodes: model.nodes.map((_, i) => i), pairs };
  // DRBD placements are never checked for global N+1 (hspace turns the check off for them).
  if (drbd || opts.noCapacityChecks) {
    const run = smallSteps(alloc, layout, opts.limit, false);
    return finish(run.placed, opts.limit !== undefined && run.placed >= opts.limit ? "limit" : "failure", run.failures);
  }
  // hspace's shortcut (Cluster.iterateAlloc'): place a batch without the global N+1 check and
  // keep it if the cluster is still N+1 redundant after it; when a batch fails the check, try
  // batches of 10, then one at a time with the check. A batch as large as the memory left
  // suggests comes first.
  let placed = 0;
  let limit = opts.limit;
  let huge = true;
  for (;;) {
    const batch = huge ? guessBatchSize(layout, scope.checked, spec.memory) : 10;
    const trial = cloneLayout(layout);
    const run = smallSteps(alloc, trial, limit === undefined ? batch : Math.min(batch, limit), false);
    if (scope.checked.every((n) => canEvacuateNode(trial, n, alloc.allNodes))) {
      layout = trial;
      placed += run.placed;
      limit = limit === undefined ? undefined : Math.max(0, limit - batch);
      if (limit === 0 || run.placed === 0) return finish(placed, opts.limit !== undefined && placed >= opts.limit ? "limit" : "failure", run.failures);
      continue;
    }
    if (huge) {
      huge = false;
      continue;
    }
    const last = smallSteps(alloc, layout, limit, true);
    placed += last.placed;
    return finish(placed, opts.limit !== undefined && placed >= opts.limit ? "limit" : "failure", last.failures);
  }
}

/** hspace's guessBigstepSize: instances the available memory holds, less one per node; at least 20. */
function guessBatchSize(l: Layout, nodes: readonly number[], memory: number): number {
  let available = 0;
  for (const i of nodes) available += Math.max(0, l.nodes[i].unallocatedMem() - l.nodes[i].rMem);
  return Math.max(20, Math.floor(available / memory) - nodes.length);
}

/** A layout that can change without changing `l` (node states are replaced, never changed, by placements). */
function cloneLayout(l: Layout): Layout {
  return { ...l, nodes: [...l.nodes], instances: [...l.instances], shapes: [...l.shapes], pnode: [...l.pnode], snode: [...l.snode] };
}

/**
 * hspace's iterateAllocSmallStep: places copies of the spec one at a time on the best
 * candidate (lowest score; of equal scores the one tried last, as htools' folds keep the
 * later) until none is left or `limit` are placed; with `globalN1`, a candidate after which
 * some node could not be lost is refused (FailN1) and the next best is tried.
 */
function smallSteps(a: Allocator, layout: Layout, limit: number | undefined, globalN1: boolean): Run {
  const policies = layout.policies;
  const model = layout.model;
  let placed = 0;
  for (;;) {
    const { facts, shape } = newInstance(a.spec, layout.instances.length);
    const failures = noFailures();
    const candidates: Candidate[] = [];
    const scorer = new Scorer(a.allNodes, (i) => layout.nodes[i]);
    for (const [p, secondaries] of a.pairs) {
      const target = layout.nodes[p];
      const violation = policyViolation(shape, policies.groups[model.nodes[p].group], target.exclStorage);
      for (const s of secondaries) {
        if (violation) {
          failures[violation]++;
          continue;
        }
        const newP = target.copy();
        const fp = newP.addPrimary(facts, false);
        if (fp) {
          failures[fp]++;
          continue;
        }
        const changed = new Map([[p, newP]]);
        if (s >= 0) {
          const newS = layout.nodes[s].copy();
          const fs = newS.addSecondary(facts, p, false);
          if (fs) {
            failures[fs]++;
            continue;
          }
          changed.set(s, newS);
        }
        candidates.push({ changed, pnode: p, snode: s, score: scorer.quick(changed), order: candidates.length });
      }
    }
    rank(candidates, scorer);
    let chosen: Candidate | undefined;
    for (const c of candidates) {
      if (!globalN1 || redundantAfter(layout, c, facts, shape, a.scope.checked, a.allNodes)) {
        chosen = c;
        break;
      }
      failures.FailN1++;
    }
    if (!chosen || (limit !== undefined && placed >= limit)) return { placed, failures };
    place(layout, chosen, facts, shape);
    placed++;
  }
}

/**
 * Sorts candidates best first; of equal scores the one tried last first (htools' folds keep
 * the later). Quick scores order them; those within NEAR_TIE of a neighbour are scored
 * exactly first, so near-ties go the way htools' arithmetic sends them.
 */
function rank(candidates: Candidate[], scorer: Scorer): void {
  const order = (x: Candidate, y: Candidate) => x.score - y.score || y.order - x.order;
  candidates.sort(order);
  const near = candidates.map((c, k) =>
    (k > 0 && c.score - candidates[k - 1].score <= NEAR_TIE) || (k + 1 < candidates.length && candidates[k + 1].score - c.score <= NEAR_TIE));
  candidates.forEach((c, k) => {
    if (near[k]) c.score = scorer.exact(c.changed);
  });
  candidates.sort(order);
}

function place(l: Layout, c: Candidate, facts: InstanceFacts, shape: PolicyInstance): void {
  for (const [i, n] of c.changed) l.nodes[i] = n;
  l.instances.push(facts);
  l.shapes.push(shape);
  l.pnode.push(c.pnode);
  l.snode.push(c.snode);
}

/** Whether every checked node could still be lost with this candidate placed. */
function redundantAfter(l: Layout, c: Candidate, facts: InstanceFacts, shape: PolicyInstance, checked: readonly number[], scored: readonly number[]): boolean {
  const trial = cloneLayout(l);
  place(trial, c, facts, shape);
  return checked.every((n) => canEvacuateNode(trial, n, scored));
}

// Global N+1 redundancy as htools 3.0 define it (HTools/GlobalN1.hs): a node can be lost if
// everything on it finds a home in its group — its DRBD primaries fail over to their
// secondaries, instances on shared storage (and diskless ones) move to the best other node
// of the group, and instances on local storage (file, plain, blockdev) are recreated on the
// best node where they fit. Soft limits are ignored in that simulation, as htools do.
// hspace refuses an allocation after which some node could not be lost; hcheck counts the
// nodes that cannot ("Nodes not directly evacuateable").

import { ClusterStats, METRIC_COUNT, nodeValues } from "./metrics.ts";
import type { ClusterModel } from "./model.ts";
import { policyViolation, type Policies, type PolicyInstance } from "./ipolicy.ts";
import type { InstanceFacts, NodeState, Placement } from "./state.ts";

/** Templates whose instances can move to another node (Ganeti's diskTemplateMovable). */
const RELOCATABLE = new Set(["diskless", "sharedfile", "rbd", "ext", "gluster"]);

/** Nodes and instances as capacity and verification change them; instances only get added. */
export interface Layout {
  readonly model: ClusterModel;
  readonly policies: Policies;
  readonly nodes: NodeState[];
  readonly instances: InstanceFacts[];
  /** What policy checks read of each instance. */
  readonly shapes: PolicyInstance[];
  readonly pnode: number[];
  readonly snode: number[];
}

/** The layout of a placed model (plan.ts's preparePlacement). */
export function layoutOf(model: ClusterModel, policies: Policies, placement: Placement): Layout {
  return {
    model,
    policies,
    nodes: placement.nodes,
    instances: placement.instances,
    shapes: model.instances.map((i) => ({
      mem: i.mem, vcpus: i.vcpus, diskSizes: policies.diskSizes.get(i.name) ?? [i.dsk], spindleUse: i.spindleUse, spindles: i.spindles, template: i.template,
    })),
    pnode: [...placement.pnode],
    snode: [...placement.snode],
  };
}

/** Far above the error of a quick score: a candidate this close to the best is scored exactly. */
export const NEAR_TIE = 1e-9;

const scratch = new Float64Array(METRIC_COUNT);
const scratchStats = new ClusterStats();

/**
 * The score of some nodes with a few of them replaced: quick (their statistics updated for
 * the replaced nodes, constant time) or exact (recomputed over all of them, in hbal's order
 * of operations, which decides near-ties the way htools' arithmetic does).
 */
export class Scorer {
  private readonly nodes: readonly number[];
  private readonly at: (i: number) => NodeState;
  private readonly stats: ClusterStats;
  private readonly values = new Map<number, Float64Array>();

  /** `at` answers each node's current state; apply() must follow every change it sees. */
  constructor(nodes: readonly number[], at: (i: number) => NodeState) {
    this.nodes = nodes;
    this.at = at;
    this.stats = ClusterStats.of(nodes.map(at));
    for (const i of nodes) {
      const v = new Float64Array(METRIC_COUNT);
      nodeValues(at(i), v);
      this.values.set(i, v);
    }
  }

  quick(changed: ReadonlyMap<number, NodeState>): number {
    const stats = this.stats.copyInto(scratchStats);
    for (const [i, n] of changed) {
      const before = this.values.get(i);
      if (!before) continue;
      nodeValues(n, scratch);
      stats.update(before, scratch, n.offline);
    }
    return stats.score();
  }

  exact(changed: ReadonlyMap<number, NodeState>): number {
    return ClusterStats.of(this.nodes.map((i) => changed.get(i) ?? this.at(i))).score();
  }

  /** Takes these replacements as the new state (after `at` answers them). */
  apply(changed: ReadonlyMap<number, NodeState>): void {
    for (const [i, n] of changed) {
      const before = this.values.get(i);
      if (!before) continue;
      nodeValues(n, scratch);
      this.stats.update(before, scratch, n.offline);
      before.set(scratch);
    }
  }
}

/**
 * The best of candidates offered in order: the lowest score, of equal scores the later one
 * (htools' folds keep the later). Quick scores decide; near-ties are decided on exact ones.
 */
export class BestCandidate {
  private readonly scorer: Scorer;
  private best: { changed: ReadonlyMap<number, NodeState>; quick: number; exact?: number } | undefined;

  constructor(scorer: Scorer) {
    this.scorer = scorer;
  }

  offer(changed: ReadonlyMap<number, NodeState>): void {
    const quick = this.scorer.quick(changed);
    const best = this.best;
    if (best === undefined || quick < best.quick - NEAR_TIE) {
      this.best = { changed, quick };
      return;
    }
    if (quick > best.quick + NEAR_TIE) return;
    const exact = this.scorer.exact(changed);
    best.exact ??= this.scorer.exact(best.changed);
    if (!(best.exact < exact)) this.best = { changed, quick, exact };
  }

  /** The nodes the best candidate changes. */
  get chosen(): ReadonlyMap<number, NodeState> | undefined {
    return this.best?.changed;
  }
}

/** A node's primaries, newest first (the order htools keep a node's instance list in). */
export function primariesOf(l: Layout, node: number): number[] {
  const out: number[] = [];
  for (let ix = l.pnode.length - 1; ix >= 0; ix--) if (l.pnode[ix] === node) out.push(ix);
  return out;
}

/**
 * Whether `node` could be lost: every instance on it re-homed in its group, one at a time,
 * each onto the node that leaves the lowest score (htools' canEvacuateNode). A recreated
 * instance's score is over `scored` (hspace: the whole cluster; hcheck: the group).
 */
export function canEvacuateNode(l: Layout, node: number, scored: readonly number[]): boolean {
  const work = new Map<number, NodeState>();
  const at = (i: number) => work.get(i) ?? l.nodes[i];
  const primaries = primariesOf(l, node);
  const template = (ix: number) => l.shapes[ix].template;
  // DRBD primaries fail over to their secondaries.
  for (const ix of primaries.filter((ix) => template(ix) === "drbd")) {
    const inst = l.instances[ix];
    const sec = l.snode[ix];
    const oldP = at(node);
    const intP = oldP.copy();
    intP.removePrimary(inst);
    const newP = at(sec).copy();
    newP.removeSecondary(inst, node);
    if (newP.addPrimary(inst, true) || intP.addSecondary(inst, sec, true, oldP.offline)) return false;
    work.set(node, intP);
    work.set(sec, newP);
  }
  const group = l.model.nodes[node].group;
  const groupNodes = l.model.nodes.flatMap((n, i) => (n.group === group ? [i] : []));
  const escape = groupNodes.filter((i) => i !== node);
  // Relocatable instances go to the other node of the group that scores best (ties: the last).
  const groupScorer = new Scorer(groupNodes, at);
  for (const ix of primaries.filter((ix) => template(ix) !== "drbd" && RELOCATABLE.has(template(ix)))) {
    const inst = l.instances[ix];
    const best = new BestCandidate(groupScorer);
    for (const target of escape) {
      const newP = at(target).copy();
      if (newP.addPrimary(inst, true)) continue;
      const intP = at(node).copy();
      intP.removePrimary(inst);
      best.offer(new Map([[node, intP], [target, newP]]));
    }
    const chosen = best.chosen;
    if (!chosen) return false;
    for (const [i, n] of chosen) work.set(i, n);
    groupScorer.apply(chosen);
  }
  // Instances on local storage are recreated, largest memory first, where the cluster scores best.
  const local = primaries.filter((ix) => template(ix) !== "drbd" && !RELOCATABLE.has(template(ix)));
  local.sort((a, b) => l.shapes[b].mem - l.shapes[a].mem);
  const scorer = new Scorer(scored, at);
  for (const ix of local) {
    const best = new BestCandidate(scorer);
    for (const target of escape) {
      const t = at(target);
      if (policyViolation(l.shapes[ix], l.policies.groups[l.model.nodes[target].group], t.exclStorage)) continue;
      const n = t.copy();
      if (n.addPrimary(l.instances[ix], true)) continue;
      best.offer(new Map([[target, n]]));
    }
    const chosen = best.chosen;
    if (!chosen) return false;
    for (const [i, n] of chosen) work.set(i, n);
    scorer.apply(chosen);
  }
  return true;
}


// Hail's ranking (allocator.ts's "hail"): of the nodes that can take an instance, the one after
// which htools' cluster score (balance/metrics.ts) is lowest, as hail chooses (Ganeti htools
// 3.0: Cluster.tryAlloc/allocateOnSingle for a new instance, scored over the whole cluster;
// Cluster/Evacuate.hs evacOneNodeOnly for a relocation, where the instance leaves its node and
// the score is over its group's nodes). Of equal scores the later candidate wins: hail's folds
// keep the later solution.

import { NEAR_TIE, Scorer } from "../balance/globaln1.ts";
import { ClusterStats } from "../balance/metrics.ts";
import type { NodeState } from "../balance/state.ts";
import type { Accounting } from "./accounting.ts";

/** What hail's ranking reads of the allocator's model (allocator.ts's CapacityModel). */
export interface ScoredModel {
  readonly accounting: Accounting;
  readonly states: readonly NodeState[];
  /** Instances placed since the accounting was made: accounting index → node index. */
  readonly moved: ReadonlyMap<number, number>;
  /** The whole cluster's score statistics, kept up by whoever changes `states`. */
  scorer?: Scorer;
}

/** A node that can take the instance (its accounting index), and its state with it. */
interface Placed {
  readonly cap: { readonly index: number };
  readonly after: NodeState;
}

/** At most this many near-tied candidates are scored afresh (each costs a pass over every node). */
const EXACT_TIES = 16;

/** The node of a moving instance (by uuid) without it; undefined for a new instance. */
export function departure(m: ScoredModel, moving: string | undefined): { instance: number; node: number; after: NodeState } | undefined {
  const instance = moving === undefined ? undefined : m.accounting.instanceIndex.get(moving);
  if (instance === undefined) return undefined;
  const node = m.moved.get(instance) ?? m.accounting.pnode[instance];
  const after = m.states[node].copy();
  after.removePrimary(m.accounting.instances[instance]);
  return { instance, node, after };
}

/**
 * Hail's choice: the lowest cluster score with the instance placed (over the whole cluster; for
 * a moving instance, its move over its group's nodes); of equal scores the later candidate. A
 * few candidates within NEAR_TIE of the best are scored afresh, so near-ties go the way
 * htools' arithmetic sends them; with many (identical nodes) the quick scores decide.
 */
export function bestByClusterScore<C extends Placed>(m: ScoredModel, candidates: readonly C[], moving: string | undefined): C {
  const at = (i: number) => m.states[i];
  const away = departure(m, moving);
  let scope: readonly number[];
  let scorer: Scorer;
  if (away) {
    const group = m.accounting.model.nodes[away.node].group;
    scope = m.states.flatMap((_, i) => (m.accounting.model.nodes[i].group === group ? [i] : []));
    scorer = new Scorer(scope, at);
  } else {
    scope = m.states.map((_, i) => i);
    scorer = m.scorer ??= new Scorer(scope, at);
  }
  const changes = (c: C) => new Map(away ? [[away.node, away.after], [c.cap.index, c.after]] : [[c.cap.index, c.after]]);
  const quick = candidates.map((c) => scorer.quick(changes(c)));
  let lowest = Infinity;
  for (const q of quick) lowest = Math.min(lowest, q);
  const near = candidates.flatMap((c, k) => (quick[k] <= lowest + NEAR_TIE ? [c] : []));
  if (near.length === 1 || near.length > EXACT_TIES) return near[near.length - 1];
  let best = near[0];
  let bestScore = Infinity;
  for (const c of near) {
    const changed = changes(c);
    const score = ClusterStats.of(scope.map((i) => changed.get(i) ?? m.states[i])).score();
    if (!(bestScore < score)) [best, bestScore] = [c, score];
  }
  return best;
}


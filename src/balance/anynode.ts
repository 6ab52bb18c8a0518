// Moves of an instance to any node of the group (shared-storage failovers, migrations with
// storage): a round's candidates are every source (a node and an instance shape on it) with
// every target node, too many to score each at 2,000 nodes. Such a move changes two nodes'
// values, so each metric changes by a term of the source plus a term of the target (its sum
// exactly; its variance up to a product of the two changes, bounded). A standard deviation
// is the square root of its variance, concave: over the range the round's variance changes
// span, the chord lies under it. Together: a lower bound on a candidate's score that is a
// term of the source plus a term of the target. Each target's term is computed once a round
// per shape (O(shapes × nodes)); sources are taken best bound first, and only the pairs whose
// bound does not exceed the best score so far (plus the caller's margin) are scored exactly,
// best bound first (scoreWith, the quick score every candidate gets on the exhaustive path).
// The pairs left out are provably worse, so the round's choice is the exhaustive search's.

import { ClusterStats, FROM_OFFLINE, METRIC_COUNT, nodeValues, STD_DEV, WEIGHTS } from "./metrics.ts";
import { withoutPrimary, withPrimary } from "./moves.ts";
import type { InstanceFacts, NodeState } from "./state.ts";

/** A node's state after one change, with its metric values. */
export interface After {
  /** undefined: the node refuses the instance. */
  readonly node: NodeState | undefined;
  readonly values: Float64Array;
  /** searchAnyNode's: per metric of METRICS, the change from the node's values (y − x), then y² − x². */
  change?: Float64Array;
}
export const REMOVED = 0;
export const ADDED = 1;
export const ADDED_FORCED = 2;

/**
 * The states of nodes after taking or giving up an instance of some shape as primary, kept
 * across rounds until a move changes the node: a round of moves to any node then copies no
 * node it saw the round before.
 */
export class AfterCache {
  /** Per node, by change and shape (an array: faster than a Map here, sparse if shapes are many). */
  private readonly byNode: ((After | undefined)[] | undefined)[] = [];
  private readonly shapeCount: number;
  /** The current states (the planner's, changed in place as moves are taken). */
  private readonly nodes: readonly NodeState[];
  constructor(shapeCount: number, nodes: readonly NodeState[]) {
    this.shapeCount = shapeCount;
    this.nodes = nodes;
  }

  /** `node` after giving up (REMOVED) or taking (ADDED, ADDED_FORCED: forced) `inst`, of `shape`. */
  get(node: number, change: number, shape: number, inst: InstanceFacts): After {
    let entries = this.byNode[node];
    if (!entries) this.byNode[node] = entries = [];
    const key = change * this.shapeCount + shape;
    let after = entries[key];
    if (!after) {
      const state = change === REMOVED ? withoutPrimary(this.nodes[node], inst) : withPrimary(this.nodes[node], inst, change === ADDED_FORCED);
      const values = new Float64Array(METRIC_COUNT);
      if (state) nodeValues(state, values);
      after = { node: state, values };
      entries[key] = after;
    }
    return after;
  }

  forget(nodes: Iterable<number>): void {
    for (const n of nodes) this.byNode[n] = undefined;
  }
}

/** The current statistics, each node's values (METRIC_COUNT per node) and the score. */
export interface Scored {
  readonly stats: ClusterStats;
  readonly values: Float64Array;
  readonly score: number;
}

const scratchStats = new ClusterStats();

/** The quick score with some nodes' values replaced. */
export function scoreWith(t: Scored, changes: readonly After[]): number {
  const stats = t.stats.copyInto(scratchStats);
  for (const c of changes) {
    const n = c.node as NodeState;
    stats.update(t.values, c.values, n.offline, n.index * METRIC_COUNT);
  }
  return stats.score();
}

/** An online node giving up an instance of a shape. */
export interface AnyNodeSource {
  readonly node: number;
  /** Its secondary, not a target (-1: none). */
  readonly secondary: number;
  readonly shape: number;
  readonly from: After;
}

/** The metrics both nodes of such a move count in (online nodes' metrics). */
const METRICS = Array.from({ length: METRIC_COUNT }, (_, m) => m).filter((m) => !FROM_OFFLINE[m]);
const M = METRICS.length;
/**
 * Far above the rounding of a bound or a quick score (scores of a few hundred, computed to
 * ~1e-13): a pair is scored unless its bound exceeds the threshold by this much.
 */
const SAFETY = 1e-7;

const IS_STD = Uint8Array.from(METRICS, (m) => (STD_DEV[m] ? 1 : 0));
/** The sources' changes and terms, kept for the next round (the sources change little). */
let scratch = new Float64Array(0);
/** The most target rows a round used, to size the scratch for the next. */
let targetRows = 0;

/**
 * Per metric of METRICS: a node's change of value (into d), and its term of the variance
 * change (std: (n·(y² − x²) − 2·sum·d − d²) / n²) or of the sum (d) into p, both at `at`.
 * What does not depend on the statistics is kept with the After (valid while it is: until
 * the node changes).
 */
function terms(values: Float64Array, n: Float64Array, sum: Float64Array, node: number, after: After, d: Float64Array, p: Float64Array, at: number): void {
  let c = after.change;
  if (!c) {
    c = after.change = new Float64Array(2 * M);
    const y = after.values;
    for (let j = 0; j < M; j++) {
      const m = METRICS[j];
      const x = values[node * METRIC_COUNT + m];
      c[j] = y[m] - x;
      c[M + j] = y[m] * y[m] - x * x;
    }
  }
  for (let j = 0; j < M; j++) {
    const dv = c[j];
    d[at + j] = dv;
    p[at + j] = IS_STD[j] === 1 ? (n[j] * c[M + j] - 2 * sum[j] * dv - dv * dv) / (n[j] * n[j]) : dv;
  }
}

/** Per metric of METRICS, the lowest and highest of `v` (`rows` rows of M from row `first`) into ext at `slot`. */
function widen(ext: Float64Array, slot: number, v: Float64Array, first: number, rows: number): void {
  for (let r = first; r < first + rows; r++) {
    for (let j = 0; j < M; j++) {
      const at = (slot * M + j) * 2;
      const x = v[r * M + j];
      if (x < ext[at]) ext[at] = x;
      if (x > ext[at + 1]) ext[at + 1] = x;
    }
  }
}

/**
 * Scores with scoreWith, and reports, every pair of a source with an online target (of the
 * source's shape, `targets(shape)`: the targets that take it, with their states) whose quick
 * score may be at most `threshold()`: the caller's best so far plus its tie margin, which may
 * fall as pairs are reported. The source's node and secondary are not targets.
 */
export function searchAnyNode<S extends AnyNodeSource>(
  t: Scored, sources: readonly S[], targets: (shape: number) => readonly After[],
  threshold: () => number, report: (source: S, to: After, quick: number) => void,
): void {
  if (sources.length === 0) return;
  const { count, variance } = t.stats;
  const n = Float64Array.from(METRICS, (m) => count[m]);
  const sum = Float64Array.from(METRICS, (m) => t.stats.sum[m]);
  // Each source's and each target's changes and terms, and their extremes per shape.
  let used = 0;
  const take = (rows: number) => {
    const at = used;
    used += rows * M;
    return scratch.subarray(at, used);
  };
  const most = 2 * sources.length * M + 2 * targetRows * M;
  if (scratch.length < most) scratch = new Float64Array(2 * most);
  const dA = take(sources.length);
  const pA = take(sources.length);
  // ext per metric: min pA, max pA, min dA, max dA (sources), min pB, max pB, min dB, max dB (targets).
  const byShape = new Map<number, { list: readonly After[]; d: Float64Array; p: Float64Array; ext: Float64Array }>();
  for (let k = 0; k < sources.length; k++) {
    const src = sources[k];
    terms(t.values, n, sum, src.node, src.from, dA, pA, k * M);
    let entry = byShape.get(src.shape);
    if (!entry) {
      const list = targets(src.shape);
      targetRows = Math.max(targetRows, list.length * (byShape.size + 1));
      if (used + 2 * list.length * M > scratch.length) scratch = new Float64Array(2 * (used + 2 * list.length * M));
      const d = take(list.length);
      const p = take(list.length);
      list.forEach((to, b) => terms(t.values, n, sum, (to.node as NodeState).index, to, d, p, b * M));
      const ext = new Float64Array(8 * M).map((_, i) => (i % 2 === 0 ? Infinity : -Infinity));
      widen(ext, 2, p, 0, list.length);
      widen(ext, 3, d, 0, list.length);
      byShape.set(src.shape, (entry = { list, d, p, ext }));
    }
    widen(entry.ext, 0, pA, k, 1);
    widen(entry.ext, 1, dA, k, 1);
  }
  // The range of each variance change over all pairs, and the chord of the square root over it:
  // sqrt(max(0, V + δ)) ≥ c0 + c1·δ there (c1 ≥ 0: the root grows with δ).
  const c0 = new Float64Array(M);
  const c1 = new Float64Array(M);
  let base = t.score;
  for (let j = 0; j < M; j++) {
    const m = METRICS[j];
    if (!STD_DEV[m]) continue;
    const n = count[m];
    let lo = Infinity;
    let hi = -Infinity;
    for (const { ext } of byShape.values()) {
      const e = (slot: number, side: number) => ext[(slot * M + j) * 2 + side];
      if (e(2, 0) > e(2, 1)) continue; // no target takes the shape
      const dMax = Math.max(Math.abs(e(1, 0)), Math.abs(e(1, 1)));
      const cross = (2 * dMax * Math.max(Math.abs(e(3, 0)), Math.abs(e(3, 1)))) / (n * n);
      lo = Math.min(lo, e(0, 0) + e(2, 0) - cross);
      hi = Math.max(hi, e(0, 1) + e(2, 1) + cross);
    }
    const v = variance[m];
    const root = (delta: number) => Math.sqrt(Math.max(0, v + delta));
    const from = Math.max(lo, -v);
    if (hi > from) {
      c1[j] = (root(hi) - root(from)) / (hi - from);
      c0[j] = root(from) - c1[j] * from;
    } else {
      c0[j] = root(from);
    }
    base += WEIGHTS[m] * (c0[j] - Math.sqrt(v));
  }
  // Each side's term of the bound (score − base ≥ α(source) + β(target) − κ(source)).
  const coef = new Float64Array(M);
  for (let j = 0; j < M; j++) coef[j] = WEIGHTS[METRICS[j]] * (STD_DEV[METRICS[j]] ? c1[j] : 1);
  const side = (p: Float64Array, at: number) => {
    let sum = 0;
    for (let j = 0; j < M; j++) sum += coef[j] * p[at + j];
    return sum;
  };
  const ranked = new Map<number, { beta: Float64Array; least: number }>();
  for (const [shape, entry] of byShape) {
    const beta = Float64Array.from(entry.list, (_, b) => side(entry.p, b * M));
    ranked.set(shape, { beta, least: beta.reduce((a, b) => Math.min(a, b), Infinity) });
  }
  const alpha = new Float64Array(sources.length);
  const kappa = new Float64Array(sources.length);
  const key = new Float64Array(sources.length);
  for (let k = 0; k < sources.length; k++) {
    const { ext } = byShape.get(sources[k].shape)!;
    let cross = 0;
    for (let j = 0; j < M; j++) {
      const m = METRICS[j];
      if (!STD_DEV[m] || c1[j] === 0) continue;
      // The largest product of this source's change with a target's: the variance's cross term is −2·dA·dB/n².
      const da = dA[k * M + j];
      const worst = da >= 0 ? da * ext[(3 * M + j) * 2 + 1] : da * ext[(3 * M + j) * 2];
      cross += (2 * WEIGHTS[m] * c1[j] * Math.max(0, worst)) / (count[m] * count[m]);
    }
    alpha[k] = side(pA, k * M);
    kappa[k] = cross;
    key[k] = alpha[k] + ranked.get(sources[k].shape)!.least - cross;
  }
  const visit = (k: number) => {
    const src = sources[k];
    const { list } = byShape.get(src.shape)!;
    const { beta } = ranked.get(src.shape)!;
    // The targets under the threshold now, best bound first (the threshold falls as they are scored).
    const near: number[] = [];
    const limit = threshold() + SAFETY - base - alpha[k] + kappa[k];
    for (let b = 0; b < beta.length; b++) if (beta[b] <= limit) near.push(b);
    near.sort((x, y) => beta[x] - beta[y]);
    for (const b of near) {
      if (base + alpha[k] + beta[b] - kappa[k] > threshold() + SAFETY) break;
      const to = list[b];
      const target = (to.node as NodeState).index;
      if (target === src.node || target === src.secondary) continue;
      report(src, to, scoreWith(t, [src.from, to]));
    }
  };
  // The best-placed source first: its best pairs set a threshold that leaves few others.
  let first = 0;
  for (let k = 1; k < sources.length; k++) if (key[k] < key[first]) first = k;
  visit(first);
  const rest: number[] = [];
  for (let k = 0; k < sources.length; k++) if (k !== first && base + key[k] <= threshold() + SAFETY) rest.push(k);
  rest.sort((x, y) => key[x] - key[y]);
  for (const k of rest) {
    if (base + key[k] > threshold() + SAFETY) break;
    visit(k);
  }
}

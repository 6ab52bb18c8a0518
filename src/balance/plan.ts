// The balancing plan: hbal's greedy search over a cluster model. Each round tries every
// movable instance of the group with every move its template allows to every other online
// node of the group, and takes the move that lowers the score most; it stops when no move
// helps, when the gain gets too small, at the move limit, or at the lowest score N+1
// reservations allow. Moves of DRBD instances change the primary, the secondary or both;
// instances on shared storage (sharedfile, rbd, ext, …) change primary to any node, and so,
// when storage moves are asked for (not hbal's rule), do running `file` instances, their disk
// space moving from node to node with them. A candidate's score is the current statistics
// updated for the two or three nodes it changes.
// Moves are then grouped into jobsets the way `hbal -C` prints them: consecutive moves that
// touch disjoint nodes can run in parallel.

import { ADDED, ADDED_FORCED, AfterCache, REMOVED, scoreWith, searchAnyNode, type After, type AnyNodeSource } from "./anynode.ts";
import { ClusterStats, METRIC_COUNT, nodeValues, optimalScore } from "./metrics.ts";
import { ModelError, type ClusterModel } from "./model.ts";
import { movesTo, stepsOf, tryMove, type MoveFlags, type MoveKind, type MoveStep, type Outcome, type Placed } from "./moves.ts";
import { placeAll, type InstanceFacts, type NodeState, type Placement } from "./state.ts";

export type { MoveKind, MoveStep } from "./moves.ts";

export interface PlanOptions {
  /** Node group name; needed when the cluster has more than one. */
  readonly group?: string;
  /** At most this many moves (negative: no limit). */
  readonly maxMoves?: number;
  /** Moves that change an instance's primary node (migrate / failover). */
  readonly instanceMoves?: boolean;
  /** Moves that change a DRBD instance's secondary (replace-disks). */
  readonly diskMoves?: boolean;
  /** No replace-primary moves (hbal --restricted-migration). */
  readonly restrictedMigration?: boolean;
  /** A round must gain this much once the score is under minGainLimit (hbal -g, --min-gain-limit). */
  readonly minGain?: number;
  readonly minGainLimit?: number;
  /** Stop this close to the optimal score (hbal -e). */
  readonly minScore?: number;
  /** Only these instances move (all when absent); these never move; nor do those with a pin tag. */
  readonly instances?: readonly string[];
  readonly excludeInstances?: readonly string[];
  readonly pinTags?: readonly string[];
  /** Instance tag prefixes that keep instances apart (hbal --exclusion-tags), besides the cluster's htools:iextags:. */
  readonly exclusionTags?: readonly string[];
  /** Running instances change primary by failover, not migration. */
  readonly failoverRunning?: boolean;
  /** Running `file` instances may migrate with their disks (Corral's migrate_storage; hbal never moves them). */
  readonly storageMoves?: boolean;
}

/** One step of the plan; node names in from/to, secondary null for a single-node template. */
export interface PlannedMove {
  readonly instance: string;
  readonly kind: MoveKind;
  readonly from: { readonly primary: string; readonly secondary: string | null };
  readonly to: { readonly primary: string; readonly secondary: string | null };
  /** The cluster score once this move is done. */
  readonly score: number;
  /** What carries it out, in order: a migration (or failover, for a stopped instance) or a secondary change. */
  readonly steps: readonly MoveStep[];
}
export interface Plan {
  readonly group: string;
  readonly initial_score: number;
  readonly optimal_score: number;
  readonly moves: readonly PlannedMove[];
  readonly final_score: number;
  /** Each metric's value (standard deviation or sum, before its weight), as `hbal -v -v -v` prints them. */
  readonly initial_metrics: Readonly<Record<string, number>>;
  readonly final_metrics: Readonly<Record<string, number>>;
  /** Indexes into moves; each set may run in parallel once the one before is done. */
  readonly jobsets: readonly (readonly number[])[];
}

const UNSUPPORTED_TAG_PREFIXES = ["htools:nlocation:", "htools:desiredlocation:", "htools:migration:", "htools:allowmigration:"];
const EXCLUSION_TAG_PREFIX = "htools:iextags:";

/** The instance tag prefixes the cluster's htools:iextags: tags name (htools' exclusion tags). */
export function clusterExclusionPrefixes(clusterTags: readonly string[]): string[] {
  return clusterTags.flatMap((t) => (t.startsWith(EXCLUSION_TAG_PREFIX) && t.length > EXCLUSION_TAG_PREFIX.length ? [t.slice(EXCLUSION_TAG_PREFIX.length)] : []));
}

interface Table extends Placed {
  readonly nodes: NodeState[];
  stats: ClusterStats;
  /** Each node's metric values, METRIC_COUNT per node. */
  readonly values: Float64Array;
  score: number;
}

const scratch = new Float64Array(METRIC_COUNT);
const scratchStats = new ClusterStats();

/** The score after an outcome, from the table's statistics. */
function scoreAfter(t: Table, o: Outcome): number {
  const stats = t.stats.copyInto(scratchStats);
  for (const n of o.changed) {
    nodeValues(n, scratch);
    stats.update(t.values, scratch, n.offline, n.index * METRIC_COUNT);
  }
  return stats.score();
}

/** What of an instance its moves' scores depend on (everything but its name). */
function shapeOf(i: InstanceFacts): string {
  return JSON.stringify([i.mem, i.dsk, i.vcpus, i.usesMemory, i.notOffline, i.usesSecMem, i.usesLocalStorage, i.movesWithStorage, i.mirror, i.hasSecondary, i.spindleUse, i.spindles, i.exclTags]);
}

/** Far above the error of a quick score: a candidate this close to the best is scored afresh. */
const NEAR_TIE = 1e-9;

/** The score after an outcome, computed from all the group's node values. */
function freshScore(t: Table, groupNodes: readonly number[], o: Outcome): number {
  const values = groupValues(t, groupNodes);
  for (const n of o.changed) nodeValues(n, values, groupNodes.indexOf(n.index) * METRIC_COUNT);
  return ClusterStats.ofValues(values, groupNodes.map((i) => t.nodes[i].offline)).score();
}

/** The group's nodes' values, in group order (from the table's). */
function groupValues(t: Table, groupNodes: readonly number[]): Float64Array {
  const values = new Float64Array(groupNodes.length * METRIC_COUNT);
  for (let k = 0; k < groupNodes.length; k++) {
    for (let m = 0; m < METRIC_COUNT; m++) values[k * METRIC_COUNT + m] = t.values[groupNodes[k] * METRIC_COUNT + m];
  }
  return values;
}

function nameMatcher(names: readonly string[]): (wanted: string) => number {
  return (wanted) => {
    const exact = names.indexOf(wanted);
    if (exact >= 0) return exact;
    const prefixed = names.flatMap((n, i) => (n.startsWith(`${wanted}.`) ? [i] : []));
    if (prefixed.length !== 1) throw new ModelError(`Unknown instance '${wanted}'`);
    return prefixed[0];
  };
}

/** Which group to balance: the named one, or the only one that has nodes. */
function selectGroup(model: ClusterModel, name: string | undefined): number {
  if (name !== undefined) {
    const g = model.groups.findIndex((x) => x.name === name);
    if (g < 0) throw new ModelError(`Node group '${name}' not found; groups: ${model.groups.map((x) => x.name).join(", ")}`);
    return g;
  }
  const used = [...new Set(model.nodes.map((n) => n.group))];
  if (used.length > 1) throw new ModelError(`Found multiple node groups (${used.map((g) => model.groups[g].name).join(", ")}); choose one with 'group'`);
  if (used.length === 0) throw new ModelError("The cluster has no nodes");
  return used[0];
}

/** The cluster model's nodes and instances placed, with the options' exclusion rules applied. */
export function preparePlacement(model: ClusterModel, opts: PlanOptions = {}): Placement {
  const unsupported = model.clusterTags.filter((t) => UNSUPPORTED_TAG_PREFIXES.some((p) => t.startsWith(p)));
  if (unsupported.length > 0) throw new ModelError(`Location and migration tags are not supported by Corral's balancer yet: ${unsupported.join(", ")}`);
  const prefixes = [
    ...(opts.exclusionTags ?? []).map((t) => `${t}:`),
    ...clusterExclusionPrefixes(model.clusterTags),
  ];
  const placement = placeAll(model, prefixes, opts.storageMoves === true && opts.failoverRunning !== true);
  const find = nameMatcher(model.instances.map((i) => i.name));
  const selected = opts.instances && opts.instances.length > 0 ? new Set(opts.instances.map(find)) : undefined;
  const excluded = new Set((opts.excludeInstances ?? []).map(find));
  const pins = opts.pinTags ?? [];
  model.instances.forEach((i, ix) => {
    if (excluded.has(ix) || (selected && !selected.has(ix)) || i.tags.some((t) => pins.includes(t))) placement.instances[ix].movable = false;
  });
  return placement;
}

function freshStats(t: Table, groupNodes: readonly number[]): void {
  for (const i of groupNodes) nodeValues(t.nodes[i], t.values, i * METRIC_COUNT);
  t.stats = ClusterStats.ofValues(groupValues(t, groupNodes), groupNodes.map((i) => t.nodes[i].offline));
  t.score = t.stats.score();
}

interface Search {
  readonly placement: Placement;
  readonly victims: readonly number[];
  readonly online: readonly number[];
  readonly onlineSet: ReadonlySet<number>;
  readonly groupNodes: readonly number[];
  readonly flags: MoveFlags;
  /** Each instance's shape (shapeOf(), numbered), and how many there are. */
  readonly shapes: Int32Array;
  readonly shapeCount: number;
  readonly after: AfterCache;
}

interface Candidate {
  readonly ix: number;
  readonly kind: MoveKind;
  readonly outcome: Outcome;
  /** Computed afresh. */
  readonly score: number;
}

/**
 * Candidates of moves that change a secondary (distinct DRBD instances × target nodes) a
 * round scores in full before it narrows their targets: a cluster of 200 nodes and a few
 * thousand such instances is searched exactly as hbal does; beyond, each instance shape tries
 * the TARGETS_PER_SHAPE nodes that take it best. Moves to any node are searched exactly at
 * any size (anynode.ts).
 */
const FULL_SEARCH_BUDGET = 2_000_000;
const TARGETS_PER_SHAPE = 48;

/** One round: the move that lowers the score most (undefined if none does). */
function bestMove(t: Table, s: Search): Candidate | undefined {
  // Instances alike on the same nodes have the same moves with the same scores, and of
  // equal scores the first instance wins: only the first of each kind is tried.
  // (A flag per node and shape for instances without a secondary, the most of a large cluster.)
  const tried = new Set<number>();
  const triedAlone = new Uint8Array(t.nodes.length * s.shapeCount);
  const distinct: number[] = [];
  const nodeCount = t.nodes.length + 1;
  for (const ix of s.victims) {
    const alone = t.pnode[ix] * s.shapeCount + s.shapes[ix];
    if (t.snode[ix] < 0) {
      if (triedAlone[alone] === 1) continue;
      triedAlone[alone] = 1;
    } else {
      const key = (t.pnode[ix] * nodeCount + t.snode[ix] + 1) * s.shapeCount + s.shapes[ix];
      if (tried.has(key)) continue;
      tried.add(key);
    }
    distinct.push(ix);
  }
  const drbd = distinct.filter((ix) => s.placement.instances[ix].mirror === "internal").length;
  const targetsOf = drbd * s.online.length <= FULL_SEARCH_BUDGET ? () => s.online : narrowedTargets(t, s);
  // The quick score screens; the candidates near the best of it are scored afresh at the end,
  // in hbal's order of operations, so near-ties go the way hbal's arithmetic sends them.
  let quickBest = t.score;
  let near: { ix: number; kind: MoveKind; outcome: Outcome; quick: number; order: number }[] = [];
  // A candidate's place in the order the exhaustive search meets them: instance, then target and kind.
  const stride = t.nodes.length * 6 + 8;
  const anyNode: (AnyNodeSource & { ix: number; kind: MoveKind; at: number })[] = [];
  const exampleOf = new Map<number, InstanceFacts>();
  const noteAt = (at: number, ix: number, kind: MoveKind, outcome: Outcome, quick: number) => {
    if (quick > quickBest + NEAR_TIE) return;
    if (quick < quickBest) {
      quickBest = quick;
      near = near.filter((c) => c.quick <= quickBest + NEAR_TIE);
    }
    near.push({ ix, kind, outcome, quick, order: at });
  };
  for (let pos = 0; pos < distinct.length; pos++) {
    const ix = distinct[pos];
    const inst = s.placement.instances[ix];
    const op = t.pnode[ix];
    const os = t.snode[ix];
    const secondaryUsable = s.onlineSet.has(os) && s.flags.instanceMoves;
    const kinds = movesTo(inst, secondaryUsable, s.flags, t.nodes[op].offline);
    const toAnyNode = inst.mirror === "external" || inst.movesWithStorage;
    if (toAnyNode && kinds.length > 0 && !t.nodes[op].offline) {
      // From an online node: searched below, with the other sources (anynode.ts).
      const shape = s.shapes[ix];
      const from = s.after.get(op, REMOVED, shape, inst);
      anyNode.push({ node: op, secondary: os, shape, from, ix, kind: kinds[0], at: pos * stride });
      if (!exampleOf.has(shape)) exampleOf.set(shape, inst);
      continue;
    }
    let sub = 0;
    const note = (kind: MoveKind, outcome: Outcome, quick: number) => noteAt(pos * stride + sub++, ix, kind, outcome, quick);
    const consider = (kind: MoveKind, target: number) => {
      const outcome = tryMove(t, ix, inst, kind, target, false);
      if (outcome) note(kind, outcome, scoreAfter(t, outcome));
    };
    if (inst.mirror === "internal" && secondaryUsable) consider("failover", -1);
    if (kinds.length === 0) continue;
    if (toAnyNode) {
      // From an offline node (forced): the old primary's and each target's states come from the cache.
      const kind = kinds[0];
      const shape = s.shapes[ix];
      const from = s.after.get(op, REMOVED, shape, inst);
      for (const target of s.online) {
        if (target === op || target === os) continue;
        const to = s.after.get(target, ADDED_FORCED, shape, inst);
        if (!to.node || !from.node) continue;
        note(kind, { changed: [from.node, to.node], pnode: target, snode: os }, scoreWith(t, [from, to]));
      }
      continue;
    }
    for (const target of targetsOf(ix)) {
      if (target === op || target === os) continue;
      for (const kind of kinds) consider(kind, target);
    }
  }
  // Moves to any node from online nodes: the pairs that may come near the best, scored (anynode.ts).
  const targets = (shape: number): After[] => {
    const inst = exampleOf.get(shape) as InstanceFacts;
    return s.online.map((node) => s.after.get(node, ADDED, shape, inst)).filter((a) => a.node !== undefined);
  };
  searchAnyNode(t, anyNode, targets, () => quickBest + NEAR_TIE, (src, to, quick) => {
    const target = (to.node as NodeState).index;
    noteAt(src.at + 1 + target, src.ix, src.kind, { changed: [src.from.node as NodeState, to.node as NodeState], pnode: target, snode: src.secondary }, quick);
  });
  near.sort((a, b) => a.order - b.order);
  // The first of the lowest fresh scores, if lower than the current one (hbal's compareTables).
  let best: Candidate | undefined;
  for (const c of near) {
    const score = freshScore(t, s.groupNodes, c.outcome);
    if (score < (best ? best.score : t.score)) best = { ix: c.ix, kind: c.kind, outcome: c.outcome, score };
  }
  return best;
}

/**
 * For large clusters: per instance shape, the nodes whose score improves most (or worsens
 * least) when they take such an instance as primary, in node order.
 */
function narrowedTargets(t: Table, s: Search): (ix: number) => readonly number[] {
  const byShape = new Map<number, readonly number[]>();
  return (ix) => {
    const shape = s.shapes[ix];
    let targets = byShape.get(shape);
    if (!targets) {
      const inst = s.placement.instances[ix];
      const ranked: { node: number; score: number }[] = [];
      for (const node of s.online) {
        const after = s.after.get(node, ADDED, shape, inst);
        if (after.node) ranked.push({ node, score: scoreWith(t, [after]) });
      }
      ranked.sort((a, b) => a.score - b.score || a.node - b.node);
      targets = ranked.slice(0, TARGETS_PER_SHAPE).map((r) => r.node).sort((a, b) => a - b);
      byShape.set(shape, targets);
    }
    return targets;
  };
}

/** Computes the plan for one group of a cluster model. */
export function planBalance(model: ClusterModel, opts: PlanOptions = {}): Plan {
  const group = selectGroup(model, opts.group);
  const placement = preparePlacement(model, opts);
  const groupNodes = model.nodes.flatMap((n, i) => (n.group === group ? [i] : []));
  const online = groupNodes.filter((i) => !placement.nodes[i].offline);
  const onlineSet = new Set(online);
  const victims = model.instances.flatMap((inst, ix) => (model.nodes[inst.pnode].group === group && placement.instances[ix].movable ? [ix] : []));
  const flags = { instanceMoves: opts.instanceMoves ?? true, diskMoves: opts.diskMoves ?? true, restrictedMigration: opts.restrictedMigration ?? false };
  const maxMoves = opts.maxMoves ?? -1;
  const shapeIds = new Map<string, number>();
  const shapes = Int32Array.from(placement.instances, (i) => {
    const key = shapeOf(i);
    let id = shapeIds.get(key);
    if (id === undefined) shapeIds.set(key, (id = shapeIds.size));
    return id;
  });
  const search: Search = { placement, victims, online, onlineSet, groupNodes, flags, shapes, shapeCount: shapeIds.size, after: new AfterCache(shapeIds.size, placement.nodes) };
  const minGain = opts.minGain ?? 0.01;
  const minGainLimit = opts.minGainLimit ?? 0.1;
  const t: Table = {
    nodes: placement.nodes, pnode: placement.pnode, snode: placement.snode,
    stats: new ClusterStats(), values: new Float64Array(model.nodes.length * METRIC_COUNT), score: 0,
  };
  freshStats(t, groupNodes);
  const initial = t.score;
  const initialMetrics = t.stats.named();
  const optimal = optimalScore(groupNodes.map((i) => t.nodes[i]));
  const stopAt = optimal + (opts.minScore ?? 1e-9);
  const moves: PlannedMove[] = [];
  const touched: number[][] = [];
  const name = (ix: number) => (ix >= 0 ? model.nodes[ix].name : null);
  if (initial - optimal >= (opts.minScore ?? 1e-9)) {
    while ((maxMoves < 0 || moves.length < maxMoves) && t.score > stopAt) {
      const best = bestMove(t, search);
      if (!best) break;
      const { ix, kind, outcome, score: after } = best;
      if (!(after < t.score && (t.score > minGainLimit || t.score - after >= minGain))) break;
      const from = { primary: model.nodes[t.pnode[ix]].name, secondary: name(t.snode[ix]) };
      touched.push([...new Set([outcome.pnode, outcome.snode, t.pnode[ix], t.snode[ix]].filter((n) => n >= 0))]);
      for (const n of outcome.changed) t.nodes[n.index] = n;
      search.after.forget(outcome.changed.map((n) => n.index));
      t.pnode[ix] = outcome.pnode;
      t.snode[ix] = outcome.snode;
      freshStats(t, groupNodes);
      const to = { primary: model.nodes[outcome.pnode].name, secondary: name(outcome.snode) };
      moves.push({ instance: model.instances[ix].name, kind, from, to, score: t.score, steps: stepsOf(kind, placement.instances[ix].running && !opts.failoverRunning, to) });
    }
  }
  return { group: model.groups[group].name, initial_score: initial, optimal_score: optimal, moves, final_score: t.score, initial_metrics: initialMetrics, final_metrics: t.stats.named(), jobsets: jobsetsOf(touched) };
}

/**
 * Groups consecutive moves whose nodes do not overlap, walking from the last move back as
 * hbal's splitJobs does, so the sets are the ones `hbal -C` prints.
 */
export function jobsetsOf(touched: readonly (readonly number[])[]): number[][] {
  const sets: number[][] = [];
  let busy = new Set<number>();
  for (let m = touched.length - 1; m >= 0; m--) {
    if (sets.length > 0 && !touched[m].some((n) => busy.has(n))) {
      sets[0].unshift(m);
      for (const n of touched[m]) busy.add(n);
    } else {
      sets.unshift([m]);
      busy = new Set(touched[m]);
    }
  }
  return sets;
}

// The cluster score of htools (Ganeti 3.0's hbal/hinfo "score"): per node a list of values,
// over the nodes either the standard deviation or the sum of each, weighted and added up.
// 0 is a perfectly even cluster. The values and weights are htools' (Cluster/Metrics.hs):
//
//   weight  value (per online node unless said)            aggregated as
//   0.5     free memory / total memory                     standard deviation
//   0.5     free disk / total disk                         standard deviation
//   1       instances of a node failing N+1                sum
//   1       memory reserved for failovers / total memory   standard deviation
//   4       instances on offline nodes (offline nodes)     sum
//   16      primaries on offline nodes (offline nodes)     sum
//   0.5     vCPUs / physical CPUs (/ CPU speed)            standard deviation
//   1 ×4    CPU, memory, disk, network load                standard deviation
//   2       primaries sharing an exclusion tag             sum
//   0.5     spindles used / spindle limit                  standard deviation
//   0.5 ×4  the free memory, disk, vCPU and spindle values counting forthcoming
//           instances (here: memory of stopped instances counted as used)
//   1, 1    location and location-exclusion scores (0: no location tags; see plan.ts)
//   0.25    memory reserved for failovers / total memory   sum
//
// Statistics are kept so a move changes them in constant time (update()).

import type { NodeState } from "./state.ts";

export const WEIGHTS = [0.5, 0.5, 1, 1, 4, 16, 0.5, 1, 1, 1, 1, 2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25] as const;
/** true: a standard deviation; false: a sum. */
export const STD_DEV = [true, true, false, true, false, false, true, true, true, true, true, false, true, true, true, true, true, false] as const;
/** Values taken from offline nodes (the rest from online nodes). */
export const FROM_OFFLINE = [false, false, false, false, true, true, false, false, false, false, false, false, false, false, false, false, false, false] as const;
export const METRIC_NAMES = [
  "free_mem_cv", "free_disk_cv", "n1_cnt", "reserved_mem_cv", "offline_all_cnt", "offline_pri_cnt",
  "vcpu_ratio_cv", "cpu_load_cv", "mem_load_cv", "disk_load_cv", "net_load_cv", "pri_tags_score",
  "spindles_cv", "free_mem_cv_forth", "free_disk_cv_forth", "vcpu_ratio_cv_forth", "spindles_cv_forth",
  "reserved_mem_rtotal",
] as const;
export const METRIC_COUNT = WEIGHTS.length;

/** A node's values, in METRIC_NAMES order, into `out` at `offset`. */
export function nodeValues(n: NodeState, out: Float64Array, offset = 0): void {
  const pMem = n.pMem;
  const pDsk = n.pDsk;
  const pCpu = n.pCpuEff;
  const pRem = n.pRem;
  const spindles = n.instSpindles / n.hiSpindles;
  out[offset] = pMem;
  out[offset + 1] = pDsk;
  out[offset + 2] = n.failN1 ? n.primaries + n.secondaries : 0;
  out[offset + 3] = pRem;
  out[offset + 4] = n.primaries + n.secondaries;
  out[offset + 5] = n.primaries;
  out[offset + 6] = pCpu;
  out[offset + 7] = n.loadCpu;
  out[offset + 8] = n.loadMem;
  out[offset + 9] = n.loadDsk;
  out[offset + 10] = n.loadNet;
  out[offset + 11] = n.conflictingPrimaries;
  out[offset + 12] = spindles;
  out[offset + 13] = n.pMemForth;
  out[offset + 14] = pDsk;
  out[offset + 15] = pCpu;
  out[offset + 16] = spindles;
  out[offset + 17] = pRem;
}

/** Per metric: count, sum and (for standard deviations) variance over the nodes it covers. */
export class ClusterStats {
  readonly count = new Float64Array(METRIC_COUNT);
  readonly sum = new Float64Array(METRIC_COUNT);
  readonly variance = new Float64Array(METRIC_COUNT);

  /** The statistics of these nodes, computed afresh (mean first, then squared deviations). */
  static of(nodes: Iterable<NodeState>): ClusterStats {
    const list = [...nodes];
    const values = new Float64Array(list.length * METRIC_COUNT);
    list.forEach((n, k) => nodeValues(n, values, k * METRIC_COUNT));
    return ClusterStats.ofValues(values, list.map((n) => n.offline));
  }

  /** The same from the nodes' values (METRIC_COUNT per node, in order) and whether each is offline. */
  static ofValues(values: Float64Array, offline: readonly boolean[]): ClusterStats {
    const s = new ClusterStats();
    for (let m = 0; m < METRIC_COUNT; m++) {
      for (let k = 0; k < offline.length; k++) {
        if (offline[k] !== FROM_OFFLINE[m]) continue;
        s.count[m]++;
        s.sum[m] += values[k * METRIC_COUNT + m];
      }
      if (!STD_DEV[m]) continue;
      const mean = s.sum[m] / s.count[m];
      let acc = 0;
      for (let k = 0; k < offline.length; k++) {
        if (offline[k] !== FROM_OFFLINE[m]) continue;
        const d = values[k * METRIC_COUNT + m] - mean;
        acc += d * d;
      }
      s.variance[m] = acc / s.count[m];
    }
    return s;
  }

  /** Makes `target` equal to these statistics (a scratch copy without allocating). */
  copyInto(target: ClusterStats): ClusterStats {
    target.count.set(this.count);
    target.sum.set(this.sum);
    target.variance.set(this.variance);
    return target;
  }

  /** Replaces one node's values (`before` from `offset`, of a node online or not) by `after`. */
  update(before: Float64Array, after: Float64Array, offline: boolean, offset = 0): void {
    for (let m = 0; m < METRIC_COUNT; m++) {
      if (offline !== FROM_OFFLINE[m]) continue;
      const x = before[offset + m];
      const y = after[m];
      const ds = y - x;
      if (STD_DEV[m]) {
        const n = this.count[m];
        const s = this.sum[m];
        const dnnvar = n * (y * y - x * x) - 2 * s * ds - ds * ds;
        this.variance[m] = Math.max(0, this.variance[m] + dnnvar / (n * n));
      }
      this.sum[m] += ds;
    }
  }

  /** Each metric's value: the standard deviation or the sum. */
  values(): number[] {
    const out: number[] = [];
    for (let m = 0; m < METRIC_COUNT; m++) out.push(STD_DEV[m] ? Math.sqrt(this.variance[m]) : this.sum[m]);
    return out;
  }

  /** values() by metric name. */
  named(): Record<string, number> {
    const v = this.values();
    return Object.fromEntries(METRIC_NAMES.map((name, m) => [name, v[m]]));
  }

  score(): number {
    let total = 0;
    for (let m = 0; m < METRIC_COUNT; m++) total += WEIGHTS[m] * (STD_DEV[m] ? Math.sqrt(this.variance[m]) : this.sum[m]);
    return total;
  }
}

/** The cluster score of these nodes (htools' compCV). */
export function clusterScore(nodes: Iterable<NodeState>): number {
  return ClusterStats.of(nodes).score();
}

/**
 * The lowest score N+1 reservations allow (htools' optimalCVScore): a cluster whose score is
 * this close to it is balanced.
 */
export function optimalScore(nodes: readonly NodeState[]): number {
  if (nodes.length <= 1) return 0;
  let total = 0;
  let largest = -Infinity;
  let reserved = 0;
  for (const n of nodes) {
    total += n.tMem;
    largest = Math.max(largest, n.tMem);
    for (const v of n.peers.values()) reserved += v;
  }
  const lessOne = total - largest;
  if (lessOne <= 0) return 0;
  return 0.25 * (reserved / lessOne - reserved / total);
}

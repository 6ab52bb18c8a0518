// The cluster's health as hcheck reports it (Ganeti 3.0 Program/Hcheck.hs), per node group
// and summed over the cluster: nodes failing N+1 (an online node whose free memory does not
// cover what the DRBD secondaries of one failed peer would bring: htools' failN1), nodes
// with conflicting primaries (exclusion tags), instances whose primary node is offline,
// offline nodes, and nodes that could not be lost (global N+1, globaln1.ts); a cluster with
// any of these "needs rebalancing" in hcheck's words. Besides hcheck's counts: nodes over
// their policy (vCPU ratio, memory or disk over-committed, spindle ratio), instances outside
// their group's instance policy, and the balancer's score and plan for the group.

import { ClusterStats } from "./metrics.ts";
import { ModelError, type ClusterModel } from "./model.ts";
import { canEvacuateNode, layoutOf } from "./globaln1.ts";
import { policyViolation, type Policies, type PolicyFailure } from "./ipolicy.ts";
import { planBalance, preparePlacement } from "./plan.ts";
import type { NodeState } from "./state.ts";

export type NodeOverPolicy = "vcpu-ratio" | "memory" | "disk" | "spindle-ratio";

/** hcheck's counts (its machine-readable keys in comments). */
export interface HealthCounts {
  /** N1_FAIL: online nodes failing N+1. */
  readonly n1_failures: number;
  /** CONFLICT_TAGS: nodes whose primaries share an exclusion tag. */
  readonly conflicting_tags: number;
  /** OFFLINE_PRI: instances whose primary node is offline. */
  readonly offline_primaries: number;
  /** OFFLINE_SEC: hcheck counts the offline nodes under this key (not instances). */
  readonly offline_nodes: number;
  /** GN1_FAIL: nodes whose instances could not all be re-homed in the group. */
  readonly evacuation_failures: number;
}

export interface GroupHealth extends HealthCounts {
  readonly group: string;
  /** The cluster score of the group's nodes (hbal's). */
  readonly score: number;
  /** Node names behind n1_failures and evacuation_failures. */
  readonly n1_failed_nodes: readonly string[];
  readonly unevacuable_nodes: readonly string[];
  readonly nodes_over_policy: readonly { readonly node: string; readonly over: readonly NodeOverPolicy[] }[];
  readonly instances_violating_policy: readonly { readonly instance: string; readonly failure: PolicyFailure }[];
  /** What hbal would do for this group: its moves and the score after them; null if it cannot plan. */
  readonly balance: { readonly moves: number; readonly final_score: number } | { readonly error: string };
}

export interface Health {
  readonly groups: readonly GroupHealth[];
  readonly cluster: HealthCounts & { readonly needs_rebalance: boolean };
}

/** Why a node is over its policy (empty: it is not). */
export function nodeOverPolicy(n: NodeState): NodeOverPolicy[] {
  const over: NodeOverPolicy[] = [];
  if (n.vcpuRatio >= 0 && n.tCpu > 0 && n.uCpu / n.tCpu > n.vcpuRatio) over.push("vcpu-ratio");
  if (n.unallocatedMem() < 0) over.push("memory");
  if (n.fDsk < 0 || (n.exclStorage && n.fSpindles < 0)) over.push("disk");
  if (!n.exclStorage && n.instSpindles > n.hiSpindles) over.push("spindle-ratio");
  return over;
}

const COUNT_KEYS = ["n1_failures", "conflicting_tags", "offline_primaries", "offline_nodes", "evacuation_failures"] as const;

/** hcheck's checks of every group that has nodes, and their sums. */
export function verifyCluster(model: ClusterModel, policies: Policies): Health {
  const layout = layoutOf(model, policies, preparePlacement(model));
  const usedGroups = [...new Set(model.nodes.map((n) => n.group))].sort((a, b) => a - b);
  const groups = usedGroups.map((g): GroupHealth => {
    const members = model.nodes.flatMap((n, i) => (n.group === g ? [i] : []));
    const name = (i: number) => model.nodes[i].name;
    const state = (i: number) => layout.nodes[i];
    const offline = members.filter((i) => state(i).offline);
    const n1Failed = members.filter((i) => !state(i).offline && state(i).failN1);
    const unevacuable = members.filter((i) => !canEvacuateNode(layout, i, members));
    const instances = model.instances.flatMap((inst, ix) => (model.nodes[inst.pnode].group === g ? [ix] : []));
    let balance: GroupHealth["balance"];
    try {
      const plan = planBalance(model, { group: model.groups[g].name });
      balance = { moves: plan.moves.length, final_score: plan.final_score };
    } catch (err) {
      if (!(err instanceof ModelError)) throw err;
      balance = { error: err.message };
    }
    return {
      group: model.groups[g].name,
      score: ClusterStats.of(members.map(state)).score(),
      n1_failures: n1Failed.length,
      conflicting_tags: members.filter((i) => state(i).conflictingPrimaries > 0).length,
      offline_primaries: offline.reduce((sum, i) => sum + state(i).primaries, 0),
      offline_nodes: offline.length,
      evacuation_failures: unevacuable.length,
      n1_failed_nodes: n1Failed.map(name),
      unevacuable_nodes: unevacuable.map(name),
      nodes_over_policy: members.flatMap((i) => {
        const over = nodeOverPolicy(state(i));
        return over.length > 0 ? [{ node: name(i), over }] : [];
      }),
      instances_violating_policy: instances.flatMap((ix) => {
        const p = model.instances[ix].pnode;
        const failure = policyViolation(layout.shapes[ix], policies.groups[g], state(p).exclStorage);
        return failure ? [{ instance: model.instances[ix].name, failure }] : [];
      }),
      balance,
    };
  });
  const sums = Object.fromEntries(COUNT_KEYS.map((k) => [k, groups.reduce((sum, g) => sum + g[k], 0)])) as Record<(typeof COUNT_KEYS)[number], number>;
  return { groups, cluster: { ...sums, needs_rebalance: COUNT_KEYS.some((k) => sums[k] > 0) } };
}

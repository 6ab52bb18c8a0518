// Automatic balancing (issue 16), a Corral cluster setting Ganeti lacks: when enabled, the
// master balances each node group as POST /corral/1/balance does, on its own, whenever the
// group's hbal score exceeds the threshold, at most max_moves moves per round and no round
// within cooldown seconds of the last. Stored in the cluster object (absent: the defaults),
// set through OP_CLUSTER_SET_PARAMS' auto_balancing (not Ganeti's per-instance beparam auto_balance), shown by GET /corral/1/balance/auto.

import { t, type Check } from "./params.ts";

export interface AutoBalance {
  enabled: boolean;
  /** A round starts only for a group whose hbal score is above this. */
  threshold: number;
  /** Seconds after a round before the next may start. */
  cooldown: number;
  /** At most this many moves (jobs) per round, over all groups. */
  max_moves: number;
}

/**
 * Off by default, so a Ganeti cluster behaves as before. The threshold is hbal's default
 * --min-gain-limit (0.1): under it hbal itself deems a cluster close enough to balanced to
 * take only moves gaining 0.01 or more. An hour's cooldown and five moves a round keep an
 * automatic round small next to what an operator does, and let its effect show before the next.
 */
export const AUTO_BALANCE_DEFAULTS: Readonly<AutoBalance> = { enabled: false, threshold: 0.1, cooldown: 3600, max_moves: 5 };

const KEY_CHECKS: { readonly [K in keyof AutoBalance]: Check<AutoBalance[K]> } = {
  enabled: t.bool,
  threshold: t.nonNegFloat,
  cooldown: t.nonNegInt,
  max_moves: t.positiveInt,
};

/** A change to the setting: any of its keys, each of its type; no other key. */
export const autoBalanceChange: Check<Partial<AutoBalance>> = {
  desc: "Dictionary with optional keys enabled (Boolean), threshold (non-negative number), cooldown (seconds, integer >= 0), max_moves (integer > 0)",
  schema: {
    type: "object",
    properties: Object.fromEntries(Object.entries(KEY_CHECKS).map(([key, check]) => [key, check.schema])),
    additionalProperties: false,
  },
  test: (v): v is Partial<AutoBalance> =>
    t.anyDict.test(v) && Object.entries(v).every(([key, value]) => key in KEY_CHECKS && KEY_CHECKS[key as keyof AutoBalance].test(value)),
};

/** The cluster's setting, defaults filled in. */
export function autoBalanceOf(cluster: { readonly auto_balancing?: Partial<AutoBalance> }): AutoBalance {
  return { ...AUTO_BALANCE_DEFAULTS, ...cluster.auto_balancing };
}

/** The reason trail source of an automatic round's jobs. */
export const AUTO_BALANCE_REASON = "corral:autobalance";

/** One group's part of a round: the plan's scores and the job of each move. */
export interface AutoBalanceGroupRound {
  group: string;
  initial_score: number;
  final_score: number;
  moves: number;
  job_ids: number[];
}

/** An automatic round: what it submitted, or why it failed. */
export interface AutoBalanceRound {
  round: number;
  /** Epoch seconds. */
  started: number;
  groups: AutoBalanceGroupRound[];
  error: string | null;
}

/** What GET /corral/1/balance/auto answers. */
export interface AutoBalanceStatus {
  setting: AutoBalance;
  /** How often the master checks whether a round is due, seconds. */
  interval: number;
  /** Checks made since the master started (a round or not). */
  checks: number;
  last_round: AutoBalanceRound | null;
}

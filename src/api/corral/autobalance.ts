// GET /corral/1/balance/auto: the automatic balancing setting in force (PUT /2/modify's
// auto_balancing), how often the master checks it, and the last round — its groups, their
// scores before and as planned after, and its jobs — or why it failed.

import type { AutoBalanceStatus } from "../../model/autobalance.ts";
import { route, type Route } from "../http/routes.ts";
import { WHOLE_CLUSTER } from "../http/scope.ts";

export function corralAutoBalanceRoutes(status: () => AutoBalanceStatus): Route[] {
  return [
    route("/corral/1/balance/auto", {
      GET: {
        access: ["read", "write"],
        scope: WHOLE_CLUSTER,
        doc: {
          summary: "Automatic balancing: the setting, the check interval and the last round",
          response: {
            kind: "schema",
            schema: {
              type: "object",
              description: "setting (enabled, threshold, cooldown, max_moves), interval (seconds), checks, last_round: null or round, started (epoch seconds), groups[] (group, initial_score, final_score, moves, job_ids), error",
            },
          },
        },
        handle: () => status(),
      },
    }),
  ];
}

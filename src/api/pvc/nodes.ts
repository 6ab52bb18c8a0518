// /api/v1/node: PVC nodes are Corral's nodes. Coordinators are the master (primary) and the
// master candidates (secondary); flush and ready run as Corral jobs (ops/pvc/node.ts).

import { buildOpcode } from "../../model/opcode.ts";
import { OpPvcNodeFlush, OpPvcNodeReady } from "../../model/opcodes/pvc.ts";
import type { Node } from "../../model/objects.ts";
import { findObject } from "../../query/resolve.ts";
import { niceSortBy } from "../../query/names.ts";
import { notFound, pvcFailure } from "./errors.ts";
import { awaitJob, failureText, jobFinished, runJob, type PvcServices } from "./jobs.ts";
import { LIMIT, limitMatcher } from "./limit.ts";
import { message, ok, pvcRoute, type PvcRoute } from "./server.ts";
import { pvcValue } from "./values.ts";
import { coordinatorState, daemonState, domainState, nodeView } from "./views.ts";

const COORDINATOR_STATE = pvcValue.choice("coordinator-state", ["primary", "secondary"], "The router mode to set", { required: true, aliases: ["state"] });
const DOMAIN_STATE = pvcValue.choice("domain-state", ["flush", "ready"], "Flush the node's VMs away, or take them back", { required: true, aliases: ["state"] });
const WAIT = pvcValue.flag("wait", "Answer once the flush or ready has finished");

function node(s: PvcServices, name: string): Node {
  const n = findObject(s.store.snapshot(), "node", name);
  if (!n) throw notFound("Node");
  return n;
}

/** The node a POST names, or PVC's failure for an unknown one. */
function commandNode(s: PvcServices, name: string): Node {
  const n = findObject(s.store.snapshot(), "node", name);
  if (!n) throw pvcFailure(`ERROR: No node named '${name}' is present in the cluster.`);
  return n;
}

export function nodeRoutes(s: PvcServices): PvcRoute[] {
  const list = (names: (n: Node) => boolean) => {
    const snap = s.store.snapshot();
    const rows = niceSortBy([...snap.nodes.values()].filter(names), (n) => n.name).map((n) => nodeView(snap, s.live, n));
    if (rows.length === 0) throw notFound("Node");
    return ok(rows);
  };
  return [
    pvcRoute("/api/v1/node", {
      GET: {
        values: [LIMIT],
        handle: ({ values }) => {
          const match = limitMatcher(values.get("limit"));
          return list((n) => match(n.name));
        },
      },
    }),
    pvcRoute("/api/v1/node/<node>", {
      // The manual: the same output as ?limit=<node>, without fuzzy matching.
      GET: ({ params }) => {
        const wanted = node(s, params.node);
        return list((n) => n.uuid === wanted.uuid);
      },
    }),
    pvcRoute("/api/v1/node/<node>/daemon-state", {
      GET: ({ params }) => {
        const n = node(s, params.node);
        return ok({ name: n.name, daemon_state: daemonState(n, s.live) });
      },
    }),
    pvcRoute("/api/v1/node/<node>/coordinator-state", {
      GET: ({ params }) => {
        const n = node(s, params.node);
        return ok({ name: n.name, coordinator_state: coordinatorState(n, s.store.snapshot()) });
      },
      POST: {
        values: [COORDINATOR_STATE],
        handle: ({ params, values }) => {
          const wanted = values.choice(COORDINATOR_STATE);
          const n = commandNode(s, params.node);
          const current = coordinatorState(n, s.store.snapshot());
          if (current === "client") throw pvcFailure(`ERROR: Cannot change router mode on non-coordinator node '${n.name}'`);
          if (daemonState(n, s.live) !== "run") throw pvcFailure(`ERROR: Node '${n.name}' is not active`);
          if (current === wanted) throw pvcFailure(`Node '${n.name}' is already in ${wanted} router mode.`);
          // Primary is where Corral's master runs: moving it is a master failover, which
          // Corral does not do from an API request (neither does RAPI's node role).
          throw pvcFailure(
            `ERROR: Cannot set node '${n.name}' to ${wanted} router mode: the primary coordinator is Corral's master node, ` +
            "and moving it takes a master failover, which Corral does not perform through its APIs.",
          );
        },
      },
    }),
    pvcRoute("/api/v1/node/<node>/domain-state", {
      GET: ({ params }) => {
        const n = node(s, params.node);
        return ok({ name: n.name, domain_state: domainState(n) });
      },
      POST: {
        values: [DOMAIN_STATE, WAIT],
        handle: async ({ params, values }) => {
          const wanted = values.choice(DOMAIN_STATE);
          const n = commandNode(s, params.node);
          // A new domain state stops what a previous flush or unflush has not started yet.
          for (const id of n.pvc?.jobs ?? []) await s.queue.cancel(id);
          const op = buildOpcode(wanted === "flush" ? OpPvcNodeFlush : OpPvcNodeReady, { node_name: n.name });
          const out = await runJob(s, [op]);
          if (!out.ok) throw pvcFailure(failureText(out));
          if (values.flag("wait")) {
            const jobs = (out.result as { jobs?: [boolean, number][] } | null)?.jobs ?? [];
            const last = jobs[jobs.length - 1]?.[1];
            if (last !== undefined) await awaitJob(s, last, jobFinished, 15 * 60_000);
          }
          return message(wanted === "flush" ? `Flushing hypervisor ${n.name} of running VMs.` : `Restoring hypervisor ${n.name} to active service.`);
        },
      },
    }),
  ];
}

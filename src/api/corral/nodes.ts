// Corral's own resources, outside Ganeti's /2 namespace: joining and removing nodes. Ganeti's
// RAPI has no node add (`gnt-node add` talks to the master directly, and POST /2/nodes stays
// 501 here too); these submit OP_NODE_ADD / OP_NODE_REMOVE jobs and answer the job id, the
// way /2 write resources do, so the same job polling applies.

import { OpNodeAdd, OpNodeRemove } from "../../model/opcodes/nodeadd.ts";
import { route, type Route } from "../http/routes.ts";
import { opcodeResource } from "../rapi/opcodeResource.ts";
import type { RapiServices } from "../rapi/services.ts";

export function corralNodeRoutes(s: RapiServices): Route[] {
  return [
    route("/corral/1/nodes", {
      // Body: OpNodeAdd's parameters; `name` and `endpoint` are accepted for node_name and
      // agent_endpoint.
      POST: opcodeResource(s, OpNodeAdd, { rapiName: "corral_nodes", renames: { name: "node_name", endpoint: "agent_endpoint" } }),
    }),
    route("/corral/1/nodes/[node_name]", {
      DELETE: opcodeResource(s, OpNodeRemove, {
        rapiName: "corral_nodes_name",
        ignoreBody: true,
        static: (ctx) => ({ node_name: ctx.params.node_name }),
      }),
    }),
  ];
}

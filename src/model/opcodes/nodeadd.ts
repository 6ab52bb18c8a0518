// Cluster membership (OP_NODE_ADD, OP_NODE_REMOVE). Ganeti's RAPI never submits these (a
// node joins with `gnt-node add`); Corral reaches them through its own /corral/1/nodes
// resource and the `corral node add|remove` commands. Parameters are Ganeti 3.0's, plus
// `agent_endpoint`: where the master reaches the new node's agent.
import { defineOpcode } from "../opcode.ts";
import { opt, t } from "../params.ts";
import { diskState, hvState, nodeName, nodeUuid } from "./fields.ts";

export const OpNodeAdd = defineOpcode({
  id: "OP_NODE_ADD",
  className: "OpNodeAdd",
  doc: "Add a node to the cluster.",
  result: "None",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    hv_state: hvState,
    disk_state: diskState,
    primary_ip: opt(t.maybe(t.nonEmptyString), null, "Primary IP address"),
    secondary_ip: opt(t.maybe(t.nonEmptyString), null, "Secondary IP address"),
    readd: opt(t.bool, false, "Whether node is re-added to cluster"),
    group: opt(t.maybe(t.nonEmptyString), null, "Initial node group"),
    master_capable: opt(t.maybe(t.bool), null, "Whether node can become master or master candidate"),
    vm_capable: opt(t.maybe(t.bool), null, "Whether node can host instances"),
    ndparams: opt(t.maybe(t.anyDict), null, "Node parameters"),
    node_setup: opt(t.bool, false, "Whether to perform a SSH setup on the new node"),
    agent_endpoint: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Where the master reaches the node agent, https://host:port (Corral only; kept on re-add when unset)",
    ),
  },
});

export const OpNodeRemove = defineOpcode({
  id: "OP_NODE_REMOVE",
  className: "OpNodeRemove",
  doc: "Remove a node.",
  result: "None",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    node_uuid: nodeUuid,
  },
});

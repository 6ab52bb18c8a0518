import { defineOpcode } from "../opcode.ts";

export const OpClusterRedistConf = defineOpcode({
  id: "OP_CLUSTER_REDIST_CONF",
  className: "OpClusterRedistConf",
  doc: "Force a full push of the cluster configuration.",
  result: "None",
  params: {},
});

export const OpClusterQuery = defineOpcode({
  id: "OP_CLUSTER_QUERY",
  className: "OpClusterQuery",
  doc: "Query cluster information.",
  result: "Dictionary with keys of Anything and values of Anything",
  params: {},
});

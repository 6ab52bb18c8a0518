// Nodes and their storage (OP_NODE_*, OP_REPAIR_NODE_STORAGE).
import { MIGRATION_MODES, NODE_EVAC_MODES } from "../constants.ts";
import { defineOpcode } from "../opcode.ts";
import { extension, opt, req, t } from "../params.ts";
import {
  diskState,
  force,
  hvState,
  iallocator,
  ignoreIpolicy,
  jobIdListResult,
  nodeName,
  nodeUuid,
  storageName,
  targetNode,
  targetNodeUuid,
} from "./fields.ts";

/** Corral's extensions of the node-wide moves, handed to each instance's OP_INSTANCE_MIGRATE. */
const MIGRATION_EXTENSIONS = {
  migrate_storage: extension(t.maybe(t.bool), "Corral: an instance's node-local (file) disks move with it, live (OP_INSTANCE_MIGRATE's migrate_storage)"),
  migrate_tls: extension(t.maybe(t.bool), "Corral: each migration's traffic is encrypted (OP_INSTANCE_MIGRATE's migrate_tls)"),
};

export const OpNodeEvacuate = defineOpcode({
  id: "OP_NODE_EVACUATE",
  className: "OpNodeEvacuate",
  doc: "Evacuate instances off a number of nodes.",
  result: jobIdListResult,
  summaryField: "node_name",
  params: {
    early_release: opt(t.bool, false, "Whether to release locks as soon as possible"),
    node_name: nodeName,
    node_uuid: nodeUuid,
    remote_node: opt(t.maybe(t.nonEmptyString), null, "New secondary node"),
    remote_node_uuid: opt(t.maybe(t.nonEmptyString), null, "New secondary node UUID"),
    iallocator,
    mode: req(t.oneOf(...NODE_EVAC_MODES), "Node evacuation mode"),
    ignore_soft_errors: opt(t.maybe(t.bool), null, "Ignore soft htools errors"),
    ...MIGRATION_EXTENSIONS,
  },
});

export const OpNodeMigrate = defineOpcode({
  id: "OP_NODE_MIGRATE",
  className: "OpNodeMigrate",
  doc: "Migrate all instances from a node.",
  result: jobIdListResult,
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    node_uuid: nodeUuid,
    mode: opt(t.maybe(t.oneOf(...MIGRATION_MODES)), null, "Migration type (live/non-live)"),
    live: opt(t.maybe(t.bool), null, "Obsolete 'live' migration mode (do not use)"),
    target_node: targetNode,
    target_node_uuid: targetNodeUuid,
    allow_runtime_changes: opt(t.bool, true, "Whether to allow runtime changes while migrating"),
    ignore_ipolicy: ignoreIpolicy,
    iallocator,
    ...MIGRATION_EXTENSIONS,
  },
});

export const OpNodeModifyStorage = defineOpcode({
  id: "OP_NODE_MODIFY_STORAGE",
  className: "OpNodeModifyStorage",
  doc: "Modifies the properies of a storage unit",
  result: "None",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    node_uuid: nodeUuid,
    storage_type: req(t.storageType, "Storage type"),
    name: storageName,
    changes: req(t.anyDict, "Requested storage changes"),
  },
});

export const OpNodePowercycle = defineOpcode({
  id: "OP_NODE_POWERCYCLE",
  className: "OpNodePowercycle",
  doc: "Tries to powercycle a node.",
  result: "None or NonEmptyString",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    node_uuid: nodeUuid,
    force,
  },
});

export const OpNodeQueryStorage = defineOpcode({
  id: "OP_NODE_QUERY_STORAGE",
  className: "OpNodeQueryStorage",
  doc: "Get information on storage for node(s).",
  result: "List of (List of Anything)",
  params: {
    output_fields: req(t.listOf(t.nonEmptyString), "Selected output fields"),
    storage_type: opt(t.maybe(t.storageType), null, "Storage type"),
    nodes: opt(
      t.listOf(t.nonEmptyString),
      () => [],
      "Empty list to query all, list of names to query otherwise",
    ),
    name: storageName,
  },
});

export const OpNodeSetParams = defineOpcode({
  id: "OP_NODE_SET_PARAMS",
  className: "OpNodeSetParams",
  doc: "Change the parameters of a node.",
  result: "List of (Tuple of (NonEmptyString, Anything))",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    node_uuid: nodeUuid,
    force,
    hv_state: hvState,
    disk_state: diskState,
    master_candidate: opt(
      t.maybe(t.bool),
      null,
      "Whether the node should become a master candidate",
    ),
    offline: opt(t.maybe(t.bool), null, "Whether to mark the node offline"),
    drained: opt(t.maybe(t.bool), null, "Whether to mark the node as drained"),
    auto_promote: opt(
      t.bool,
      false,
      "Whether node(s) should be promoted to master candidate if necessary",
    ),
    master_capable: opt(
      t.maybe(t.bool),
      null,
      "Whether node can become master or master candidate",
    ),
    vm_capable: opt(t.maybe(t.bool), null, "Whether node can host instances"),
    secondary_ip: opt(t.maybe(t.nonEmptyString), null, "Secondary IP address"),
    ndparams: opt(t.maybe(t.anyDict), null, "Node parameters"),
    powered: opt(t.maybe(t.bool), null, "Whether the node should be marked as powered"),
  },
});

export const OpRepairNodeStorage = defineOpcode({
  id: "OP_REPAIR_NODE_STORAGE",
  className: "OpRepairNodeStorage",
  doc: "Repairs the volume group on a node.",
  result: "None",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    node_uuid: nodeUuid,
    storage_type: req(t.storageType, "Storage type"),
    name: storageName,
    ignore_consistency: opt(t.bool, false, "Whether to ignore disk consistency"),
  },
});

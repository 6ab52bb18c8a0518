// Node groups (OP_GROUP_*).
import { ALLOC_POLICIES } from "../constants.ts";
import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";
import { diskParams, diskState, force, groupName, hvState, jobIdListResult } from "./fields.ts";

export const OpGroupAdd = defineOpcode({
  id: "OP_GROUP_ADD",
  className: "OpGroupAdd",
  doc: "Add a node group to the cluster.",
  result: `None or (${jobIdListResult})`,
  summaryField: "group_name",
  params: {
    group_name: groupName,
    alloc_policy: opt(t.maybe(t.oneOf(...ALLOC_POLICIES)), null, "Instance allocation policy"),
    ndparams: opt(t.maybe(t.anyDict), null, "Default node parameters for group"),
    diskparams: diskParams,
    hv_state: hvState,
    disk_state: diskState,
    ipolicy: opt(t.maybe(t.anyDict), null, "Group-wide ipolicy specs"),
  },
});

export const OpGroupAssignNodes = defineOpcode({
  id: "OP_GROUP_ASSIGN_NODES",
  className: "OpGroupAssignNodes",
  doc: "Assign nodes to a node group.",
  result: "None",
  summaryField: "group_name",
  params: {
    group_name: groupName,
    force,
    nodes: req(t.listOf(t.nonEmptyString), "List of nodes to assign"),
    node_uuids: opt(t.maybe(t.listOf(t.nonEmptyString)), null, "List of node UUIDs to assign"),
  },
});

export const OpGroupRemove = defineOpcode({
  id: "OP_GROUP_REMOVE",
  className: "OpGroupRemove",
  doc: "Remove a node group from the cluster.",
  result: "None",
  summaryField: "group_name",
  params: {
    group_name: groupName,
  },
});

export const OpGroupRename = defineOpcode({
  id: "OP_GROUP_RENAME",
  className: "OpGroupRename",
  doc: "Rename a node group in the cluster.",
  result: "NonEmptyString",
  params: {
    group_name: groupName,
    new_name: req(t.nonEmptyString, "New group name"),
  },
});

export const OpGroupSetParams = defineOpcode({
  id: "OP_GROUP_SET_PARAMS",
  className: "OpGroupSetParams",
  doc: "Change the parameters of a node group.",
  result: "List of (Tuple of (NonEmptyString, Anything))",
  summaryField: "group_name",
  params: {
    group_name: groupName,
    alloc_policy: opt(t.maybe(t.oneOf(...ALLOC_POLICIES)), null, "Instance allocation policy"),
    ndparams: opt(t.maybe(t.anyDict), null, "Default node parameters for group"),
    diskparams: diskParams,
    hv_state: hvState,
    disk_state: diskState,
    ipolicy: opt(t.maybe(t.anyDict), null, "Group-wide ipolicy specs"),
  },
});

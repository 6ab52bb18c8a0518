// Node group fields (Ganeti's Query/Group.hs): 25 in Ganeti 3.0.

import type { Instance, NodeGroup } from "../model/objects.ts";
import { fillDiskParams, fillIPolicy, type SnapIndex } from "./context.ts";
import { field, FieldTable } from "./fields.ts";
import { niceSort } from "./names.ts";
import { ndParamFields } from "./node.ts";

export interface GroupRow {
  readonly group: NodeGroup;
  readonly idx: SnapIndex;
}

function primaryInstances(r: GroupRow): Instance[] {
  const out: Instance[] = [];
  for (const n of r.idx.groupNodes(r.group.uuid)) out.push(...r.idx.primaryInstances(n.uuid));
  return out;
}

const ndparamsOf = (r: GroupRow) => r.idx.groupNdparams(r.group);

export const groupFields = new FieldTable<GroupRow>([
  field("alloc_policy", "AllocPolicy", "text", "Allocation policy for group", (r) => r.group.alloc_policy),
  field("custom_diskparams", "CustomDiskParameters", "other", "Custom disk parameters", (r) => r.group.diskparams),
  field("custom_ipolicy", "CustomInstancePolicy", "other", "Custom instance policy limitations", (r) => r.group.ipolicy),
  field("custom_ndparams", "CustomNDParams", "other", "Custom node parameters", (r) => r.group.ndparams),
  field("diskparams", "DiskParameters", "other", "Disk parameters (merged)",
    (r) => fillDiskParams(r.idx.cluster.diskparams, r.group.diskparams)),
  field("ipolicy", "InstancePolicy", "other", "Instance policy limitations (merged)",
    (r) => fillIPolicy(r.idx.cluster.ipolicy, r.group.ipolicy)),
  field("name", "Group", "text", "Group name", (r) => r.group.name),
  field("ndparams", "NDParams", "other", "Node parameters", ndparamsOf),
  field("node_cnt", "Nodes", "number", "Number of nodes", (r) => r.idx.groupNodes(r.group.uuid).length),
  field("node_list", "NodeList", "other", "List of nodes", (r) => r.idx.groupNodes(r.group.uuid).map((n) => n.name)),
  field("pinst_cnt", "Instances", "number", "Number of primary instances", (r) => primaryInstances(r).length),
  field("pinst_list", "InstanceList", "other", "List of primary instances",
    (r) => niceSort(primaryInstances(r).map((i) => i.name))),
  ...ndParamFields<GroupRow>(ndparamsOf),
  field("ctime", "CTime", "timestamp", "Creation timestamp", (r) => r.group.ctime),
  field("mtime", "MTime", "timestamp", "Modification timestamp", (r) => r.group.mtime),
  field("uuid", "UUID", "text", "Group UUID", (r) => r.group.uuid),
  field("serial_no", "SerialNo", "number", "Group object serial number, incremented on each modification", (r) => r.group.serial_no),
  field("tags", "Tags", "other", "Tags", (r) => r.group.tags),
]);

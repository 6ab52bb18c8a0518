// Node fields (Ganeti's Query/Node.hs): 46 in Ganeti 3.0.

import type { Node } from "../model/objects.ts";
import type { SnapIndex } from "./context.ts";
import { field, FieldTable, live, NODATA, NoValue, OFFLINE, UNAVAIL, type FieldDef, type FieldKind } from "./fields.ts";
import type { LiveState, NodeFacts, StorageFacts } from "./live.ts";
import { niceSort } from "./names.ts";

export interface NodeRow {
  readonly node: Node;
  readonly idx: SnapIndex;
  readonly live: LiveState;
}

export type NodeRole = "M" | "C" | "D" | "O" | "R";

/** Ganeti's getNodeRole: master, candidate, drained, offline, regular — first that applies. */
export function nodeRole(node: Node, masterUuid: string): NodeRole {
  if (node.uuid === masterUuid) return "M";
  if (node.master_candidate) return "C";
  if (node.drained) return "D";
  if (node.offline) return "O";
  return "R";
}

/** The long role names `/2/nodes/X/role` uses. */
export const ROLE_NAMES: Record<NodeRole, string> = {
  M: "master", C: "master-candidate", D: "drained", O: "offline", R: "regular",
};

/** A node's facts, or the status Ganeti gives when the node-info call has no answer. */
function facts(r: NodeRow): NodeFacts | NoValue {
  if (r.node.offline) return OFFLINE;
  const l = r.live.nodes.get(r.node.uuid);
  if (!l || l.offline || !l.facts) return NODATA;
  return l.facts;
}

function liveField(r: NodeRow, get: (f: NodeFacts) => unknown): unknown {
  const f = facts(r);
  if (f instanceof NoValue) return f;
  const v = get(f);
  return v === undefined || v === null ? NODATA : v;
}

const defaultUnit = (f: NodeFacts): StorageFacts | undefined => f.storage.find((s) => s.type !== "lvm-pv");
const pvUnit = (f: NodeFacts): StorageFacts | undefined => f.storage.find((s) => s.type === "lvm-pv");

/** Node parameters: kind and title of their ndp/ fields (Ganeti's NDS_PARAMETER_*). */
export const ND_PARAMS: [name: string, kind: FieldKind, title?: string][] = [
  ["cpu_speed", "float"],
  ["exclusive_storage", "bool", "ExclusiveStorage"],
  ["oob_program", "other", "OutOfBandProgram"],
  ["ovs", "bool", "OpenvSwitch"],
  ["ovs_link", "other", "OpenvSwitchLink"],
  ["ovs_name", "other", "OpenvSwitchName"],
  ["spindle_count", "number", "SpindleCount"],
  ["ssh_port", "number"],
];

/** The ndp/* fields for any row with filled ndparams (nodes and groups). */
export function ndParamFields<R>(filled: (row: R) => Record<string, unknown> | undefined): FieldDef<R>[] {
  return ND_PARAMS.map(([p, kind, title]) =>
    field<R>(`ndp/${p}`, title ?? `ndp/${p}`, kind, `The "${p}" node parameter`, (r) => {
      const v = filled(r)?.[p];
      return v === undefined || v === null ? NODATA : v;
    }));
}

const ROLE_DOC = 'Node role; "M" for master, "C" for master candidate, "R" for regular, "D" for drained, "O" for offline';

const ndparamsOf = (r: NodeRow) => r.idx.nodeNdparams(r.node);
const instNames = (list: readonly { name: string }[]) => niceSort(list.map((i) => i.name));

export const nodeFields = new FieldTable<NodeRow>([
  field("drained", "Drained", "bool", "Whether node is drained", (r) => r.node.drained),
  field("master_candidate", "MasterC", "bool", "Whether node is a master candidate", (r) => r.node.master_candidate),
  field("master_capable", "MasterCapable", "bool", "Whether node can become a master candidate", (r) => r.node.master_capable),
  field("name", "Node", "text", "Node name", (r) => r.node.name, "hostname"),
  field("offline", "Offline", "bool", "Whether node is marked offline", (r) => r.node.offline),
  field("vm_capable", "VMCapable", "bool", "Whether node can host instances", (r) => r.node.vm_capable),
  field("pip", "PrimaryIP", "text", "Primary IP address", (r) => r.node.primary_ip),
  field("sip", "SecondaryIP", "text", "Secondary IP address", (r) => r.node.secondary_ip),
  field("master", "IsMaster", "bool", "Whether node is master", (r) => r.node.uuid === r.idx.cluster.master_node),
  field("group", "Group", "text", "Node group", (r) => r.idx.groupOfNode(r.node)?.name ?? NODATA),
  field("group.uuid", "GroupUUID", "text", "UUID of node group", (r) => r.node.group),
  field("ndparams", "NodeParameters", "other", "Merged node parameters", (r) => ndparamsOf(r) ?? NODATA),
  field("custom_ndparams", "CustomNodeParameters", "other", "Custom node parameters", (r) => r.node.ndparams),
  field("pinst_cnt", "Pinst", "number", "Number of instances with this node as primary",
    (r) => r.idx.primaryInstances(r.node.uuid).length),
  field("sinst_cnt", "Sinst", "number", "Number of instances with this node as secondary",
    (r) => r.idx.secondaryInstances(r.node.uuid).length),
  field("pinst_list", "PriInstances", "other", "List of instances with this node as primary",
    (r) => instNames(r.idx.primaryInstances(r.node.uuid))),
  field("sinst_list", "SecInstances", "other", "List of instances with this node as secondary",
    (r) => instNames(r.idx.secondaryInstances(r.node.uuid))),
  field("role", "Role", "text", ROLE_DOC, (r) => nodeRole(r.node, r.idx.cluster.master_node)),
  field("powered", "Powered", "bool", "Whether node is thought to be powered on", (r) => {
    const nd = ndparamsOf(r);
    if (!nd) return NODATA;
    return nd["oob_program"] ? r.node.powered : UNAVAIL;
  }),
  // Ganeti declares these for parity but never fills them.
  field("hv_state", "HypervisorState", "other", "Hypervisor state", () => UNAVAIL),
  field("disk_state", "DiskState", "other", "Disk state", () => UNAVAIL),

  live(field("bootid", "BootID", "text",
    "Random UUID renewed for each system reboot, can be used for detecting reboots by tracking changes",
    (r) => liveField(r, (f) => f.bootid))),
  live(field("cnodes", "CNodes", "number", "Number of NUMA domains on node (if exported by hypervisor)",
    (r) => liveField(r, (f) => f.cpu_nodes))),
  live(field("cnos", "CNOs", "number", "Number of logical processors used by the node OS (dom0 for Xen)",
    (r) => liveField(r, (f) => f.cpu_dom0))),
  live(field("csockets", "CSockets", "number", "Number of physical CPU sockets (if exported by hypervisor)",
    (r) => liveField(r, (f) => f.cpu_sockets))),
  live(field("ctotal", "CTotal", "number", "Number of logical processors", (r) => liveField(r, (f) => f.cpu_total))),
  live(field("dfree", "DFree", "unit", "Available storage space on storage unit", (r) => liveField(r, (f) => defaultUnit(f)?.free))),
  live(field("dtotal", "DTotal", "unit", "Total storage space on storage unit for instance disk allocation",
    (r) => liveField(r, (f) => defaultUnit(f)?.total))),
  live(field("spfree", "SpFree", "number", "Available spindles in volume group (exclusive storage only)",
    (r) => liveField(r, (f) => pvUnit(f)?.free))),
  live(field("sptotal", "SpTotal", "number", "Total spindles in volume group (exclusive storage only)",
    (r) => liveField(r, (f) => pvUnit(f)?.total))),
  live(field("mfree", "MFree", "unit", "Memory available for instance allocations", (r) => liveField(r, (f) => f.memory_free))),
  live(field("mnode", "MNode", "unit", "Amount of memory used by node (dom0 for Xen)", (r) => liveField(r, (f) => f.memory_dom0))),
  live(field("mtotal", "MTotal", "unit", "Total amount of memory of physical machine", (r) => liveField(r, (f) => f.memory_total))),

  ...ndParamFields<NodeRow>(ndparamsOf),

  field("ctime", "CTime", "timestamp", "Creation timestamp", (r) => r.node.ctime),
  field("mtime", "MTime", "timestamp", "Modification timestamp", (r) => r.node.mtime),
  field("uuid", "UUID", "text", "Node UUID", (r) => r.node.uuid),
  field("serial_no", "SerialNo", "number", "Node object serial number, incremented on each modification", (r) => r.node.serial_no),
  field("tags", "Tags", "other", "Tags", (r) => r.node.tags),
]);

// Storage units of nodes (OP_NODE_QUERY_STORAGE, OP_NODE_MODIFY_STORAGE,
// OP_REPAIR_NODE_STORAGE), as Ganeti's LUs check them. Corral's agents report their file
// and sharedfile storage directories (the node-info call); LVM, the only storage Ganeti can
// modify (lvm-pv allocatable) or repair (lvm-vg fix-consistency), does not exist in Corral,
// and enabling it needs a disk template no agent offers, so those requests fail their checks.

import { ECODE, GanetiError, OpExecError, OpPrereqError } from "../../model/errors.ts";
import { niceCompare } from "../../model/names.ts";
import type { Cluster, Node } from "../../model/objects.ts";
import { OpNodeModifyStorage, OpNodeQueryStorage, OpRepairNodeStorage } from "../../model/opcodes/node.ts";
import { pyRepr } from "../../model/pyrepr.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logWarning } from "../lu.ts";
import { resolveObject } from "../../query/resolve.ts";
import { expandNode, nodeLockName, oneNodeLocks } from "./common.ts";

/** The storage type behind each disk template (Ganeti's MAP_DISK_TEMPLATE_STORAGE_TYPE). */
const TEMPLATE_STORAGE: Record<string, string> = {
  blockdev: "blockdev", diskless: "diskless", drbd: "lvm-vg", ext: "ext", file: "file", gluster: "gluster",
  plain: "lvm-vg", rbd: "rbd", sharedfile: "sharedfile",
};
/** Storage types whose units a node can list (Ganeti 3.0's STS_REPORT_NODE_STORAGE). */
const REPORTABLE = ["file", "gluster", "lvm-pv", "lvm-vg", "sharedfile"];
const STORAGE_FIELDS = ["allocatable", "free", "name", "node", "size", "type", "used"];
const MODIFIABLE: Record<string, string[]> = { "lvm-pv": ["allocatable"] };
const REPAIRABLE = ["lvm-vg"];

/** Ganeti's CheckStorageTypeEnabled: some enabled disk template must use the storage type. */
function checkStorageTypeEnabled(cluster: Cluster, storageType: string): void {
  if (storageType === "lvm-pv") return checkStorageTypeEnabled(cluster, "lvm-vg");
  const templates = Object.keys(TEMPLATE_STORAGE).filter((t) => TEMPLATE_STORAGE[t] === storageType);
  if (templates.some((t) => cluster.enabled_disk_templates.includes(t))) return;
  // Ganeti raises this one without an error classification.
  throw new GanetiError("OpPrereqError", [
    `No disk template of storage type '${storageType}' is enabled in this cluster. ` +
      `Enabled disk templates are: ${cluster.enabled_disk_templates.join(",")}`,
  ]);
}

/** MiB the config's disks of the storage type take on the node. */
function usedByDisks(snap: ConfigSnapshot, node: Node, storageType: string): number {
  let used = 0;
  for (const inst of snap.instances.values()) {
    for (const disk of inst.disks) {
      if (TEMPLATE_STORAGE[disk.dev_type] === storageType && disk.nodes.includes(node.uuid)) used += disk.size;
    }
  }
  return used;
}

interface QueryPlan {
  nodes: Node[];
  storageType: string;
}

export const nodeQueryStorageLU = defineLU({
  opcode: OpNodeQueryStorage,
  locks(op, snap) {
    if (op.nodes.length === 0) return { cluster: { names: "all", mode: "shared" }, node: { names: "all", mode: "shared" } };
    const uuids = op.nodes.map((n) => nodeLockName(snap, n)).filter((u): u is string => u !== undefined);
    return { cluster: { names: "all", mode: "shared" }, node: { names: uuids, mode: "shared" } };
  },
  checkPrereq(ctx): QueryPlan {
    const op = ctx.op;
    const unknown = op.output_fields.filter((f) => !STORAGE_FIELDS.includes(f));
    if (unknown.length > 0) throw new OpPrereqError(`Unknown output fields selected: ${unknown.join(",")}`, ECODE.inval);
    const snap = ctx.snapshot();
    const nodes = op.nodes.length === 0
      ? [...snap.nodes.values()]
      : [...new Map(op.nodes.map((n) => resolveObject(snap, "node", n)).map((n) => [n.uuid, n])).values()];
    nodes.sort((a, b) => niceCompare(a.name, b.name));
    let storageType: string;
    if (op.storage_type) {
      checkStorageTypeEnabled(snap.cluster, op.storage_type);
      storageType = op.storage_type;
    } else {
      storageType = TEMPLATE_STORAGE[snap.cluster.enabled_disk_templates[0]] ?? "";
      if (!REPORTABLE.includes(storageType)) {
        throw new GanetiError("OpPrereqError", [
          `Storage reporting for storage type '${storageType}' is not supported. Please use the --storage-type ` +
            `option to specify one of the supported storage types (${REPORTABLE.join(", ")}) or set the default ` +
            "disk template to one that supports storage reporting.",
        ]);
      }
    }
    return { nodes, storageType };
  },
  async exec(ctx, { nodes, storageType }) {
    const snap = ctx.snapshot();
    const rows: unknown[][] = [];
    for (const node of nodes) {
      if (node.offline) continue;
      let units;
      try {
        units = (await ctx.master.node(node).nodeInfo({})).storage.filter((u) => u.type === storageType);
      } catch (err) {
        logWarning(ctx, `Can't get storage data from node ${node.name}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      units.sort((a, b) => niceCompare(a.name, b.name));
      for (const unit of units) {
        const size = unit.storage_size;
        const values: Record<string, unknown> = {
          node: node.name,
          type: storageType,
          name: unit.name,
          size,
          used: usedByDisks(snap, node, storageType),
          free: unit.storage_free,
          allocatable: true,
        };
        rows.push(ctx.op.output_fields.map((f) => values[f]));
      }
    }
    return rows;
  },
});

export const nodeModifyStorageLU = defineLU({
  opcode: OpNodeModifyStorage,
  locks: (op, snap) => oneNodeLocks(snap, op.node_name, "exclusive"),
  checkPrereq(ctx) {
    const op = ctx.op;
    const node = expandNode(ctx.snapshot(), op);
    const modifiable = MODIFIABLE[op.storage_type];
    if (!modifiable) throw new OpPrereqError(`Storage units of type '${op.storage_type}' can not be modified`, ECODE.inval);
    const bad = Object.keys(op.changes).filter((k) => !modifiable.includes(k));
    if (bad.length > 0) {
      throw new OpPrereqError(
        `The following fields can not be modified for storage units of type '${op.storage_type}': ${pyRepr(bad)}`,
        ECODE.inval,
      );
    }
    checkStorageTypeEnabled(ctx.snapshot().cluster, op.storage_type);
    return node;
  },
  exec(ctx, node) {
    throw new OpExecError(
      `Failed to modify storage unit '${ctx.op.name}' on ${node.name}: the node agent has no ${ctx.op.storage_type} storage`,
    );
  },
});

export const repairNodeStorageLU = defineLU({
  opcode: OpRepairNodeStorage,
  locks: (op, snap) => oneNodeLocks(snap, op.node_name, "exclusive"),
  checkPrereq(ctx) {
    const op = ctx.op;
    const node = expandNode(ctx.snapshot(), op);
    if (!REPAIRABLE.includes(op.storage_type)) {
      throw new OpPrereqError(`Storage units of type '${op.storage_type}' can not be repaired`, ECODE.inval);
    }
    checkStorageTypeEnabled(ctx.snapshot().cluster, op.storage_type);
    return node;
  },
  exec(ctx, node) {
    ctx.feedback(`Repairing storage unit '${ctx.op.name}' on ${node.name} ...`);
    throw new OpExecError(
      `Failed to repair storage unit '${ctx.op.name}' on ${node.name}: the node agent has no ${ctx.op.storage_type} storage`,
    );
  },
});

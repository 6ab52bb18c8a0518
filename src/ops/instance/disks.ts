// Instance disk operations: OP_INSTANCE_ACTIVATE_DISKS, _DEACTIVATE_DISKS, _RECREATE_DISKS,
// _GROW_DISK and _REPLACE_DISKS (which needs a DRBD secondary, something Corral's templates
// never have, so it fails as Ganeti does for them).

import { groupIPolicy, specViolations } from "../../alloc/policy.ts";
import { ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Disk, Instance } from "../../model/objects.ts";
import {
  OpInstanceActivateDisks, OpInstanceDeactivateDisks, OpInstanceGrowDisk, OpInstanceRecreateDisks, OpInstanceReplaceDisks,
} from "../../model/opcodes/instance.ts";
import { forceDictType } from "../../model/paramdicts.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import { resolveObject } from "../../query/resolve.ts";
import {
  agentOf, assembleDisks, checkInstanceState, checkNodeOnline, createDisks, diskSpec, formatUnit, INSTANCE_DOWN,
  INSTANCE_NOT_RUNNING, instanceLocks, instanceSpec, isRunning, prereqInstance, instanceNodes, nodeUuidOf, noteInstance, opInstance, raiseOnFail,
  refreshLive, shutdownDisks,
} from "./common.ts";
import { IDISK_PARAMS_TYPES } from "./devices.ts";
import { allocateNode, instanceShape } from "./placement.ts";
import { setDisksActive } from "./power.ts";

/** Templates whose disks can grow (Ganeti's DTS_GROWABLE). */
const DTS_GROWABLE = ["plain", "drbd", "file", "sharedfile", "rbd", "ext", "gluster"];

export const instanceActivateDisksLU = defineLU({
  opcode: OpInstanceActivateDisks,
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: LuContext<typeof OpInstanceActivateDisks.params>) {
    const inst = prereqInstance(ctx, { primaryOnline: true });
    return inst;
  },
  async exec(ctx, inst) {
    const result = await assembleDisks(ctx, inst);
    await setDisksActive(ctx, ctx.snapshot().instances.get(inst.uuid) ?? inst, true);
    return result;
  },
});

export const instanceDeactivateDisksLU = defineLU({
  opcode: OpInstanceDeactivateDisks,
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: LuContext<typeof OpInstanceDeactivateDisks.params>) {
    const snap = ctx.snapshot();
    const inst = opInstance(snap, ctx.op);
    noteInstance(ctx.op, inst);
    if (!ctx.op.force) checkInstanceState(snap, ctx.master.live, inst, INSTANCE_DOWN, "cannot shutdown disks");
    return inst;
  },
  async exec(ctx, inst) {
    if (!(await shutdownDisks(ctx, inst)) && !ctx.op.force) throw new OpExecError("Cannot shutdown instance disks");
    await setDisksActive(ctx, ctx.snapshot().instances.get(inst.uuid) ?? inst, false);
    return null;
  },
});

// ---- recreate ----

type RecreateCtx = LuContext<typeof OpInstanceRecreateDisks.params>;
const RECREATE_MODIFIABLE = ["size", "mode", "spindles"];

interface RecreatePlan {
  inst: Instance;
  /** Disk index → changed parameters. */
  disks: Map<number, Record<string, unknown>>;
  /** The new primary node, when the instance moves. */
  node: string | null;
}

export const instanceRecreateDisksLU = defineLU({
  opcode: OpInstanceRecreateDisks,
  locks: (op, snap) => instanceLocks(op, snap, {
    nodeMode: "exclusive",
    allNodes: op.iallocator !== null,
    extraNodes: op.nodes.map((n) => nodeUuidOf(snap, n)),
  }),
  checkPrereq(ctx: RecreateCtx): RecreatePlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    let pairs: [number, Record<string, unknown>][];
    const list = op.disks as unknown[];
    if (list.length > 0 && typeof list[0] === "number") {
      pairs = [...new Set(list as number[])].sort((a, b) => a - b).map((i) => [i, {}]);
    } else pairs = (list as [number, Record<string, unknown>][]).map(([i, p]) => [i, { ...p }]);
    const seen = pairs.map(([i]) => i);
    const dups = [...new Set(seen.filter((i, n) => seen.indexOf(i) !== n))];
    if (dups.length > 0) throw new OpPrereqError(`Some disks have been specified more than once: ${dups.join(", ")}`, ECODE.inval);
    if (op.iallocator !== null && op.nodes.length > 0) throw new OpPrereqError("Do not specify both, iallocator and node", ECODE.inval);
    for (const [i, params] of pairs) {
      forceDictType(params, IDISK_PARAMS_TYPES);
      const bad = Object.keys(params).filter((k) => !RECREATE_MODIFIABLE.includes(k));
      if (bad.length > 0) throw new OpPrereqError(`Parameters for disk ${i} try to change unmodifyable parameter(s): ${bad.join(", ")}`, ECODE.inval);
    }
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    const nodes = op.nodes.map((n) => resolveObject(snap, "node", n).uuid);
    if (nodes.length > 0 && nodes.length !== instanceNodes(inst).length) {
      throw new OpPrereqError(
        `Instance ${inst.name} currently has ${instanceNodes(inst).length} nodes, but ${nodes.length} replacement nodes were specified`,
        ECODE.inval,
      );
    }
    if (!op.iallocator) checkNodeOnline(snap, nodes[0] ?? inst.primary_node);
    if (inst.disks.length === 0) throw new OpPrereqError(`Instance '${inst.name}' has no disks`, ECODE.inval);
    const oldOffline = snap.nodes.get(inst.primary_node)?.offline === true;
    if (!((op.iallocator || nodes.length > 0) && oldOffline)) {
      checkInstanceState(snap, ctx.master.live, inst, INSTANCE_NOT_RUNNING, "cannot recreate disks");
    }
    const disks = new Map(pairs.length > 0 ? pairs : inst.disks.map((_, i) => [i, {}] as [number, Record<string, unknown>]));
    const maxIdx = Math.max(...disks.keys());
    if (maxIdx >= inst.disks.length) throw new OpPrereqError(`Invalid disk index '${maxIdx}'`, ECODE.inval);
    if ((op.iallocator || nodes.length > 0) && disks.size !== inst.disks.length) {
      throw new OpPrereqError("Can't recreate disks partially and change the nodes at the same time", ECODE.inval);
    }
    let node: string | null = nodes[0] ?? null;
    if (op.iallocator) {
      const shape = instanceShape(snap.cluster, inst);
      node = allocateNode(snap, ctx.master.live, op.iallocator, {
        name: inst.name,
        memory: 0,
        vcpus: 0,
        disk: { type: inst.disk_template, size: inst.disks.reduce((s, d) => s + d.size, 0) },
        shape,
        exclude: [inst.primary_node],
      });
    }
    if (node) op.node_uuids = [node];
    return { inst, disks, node };
  },
  async exec(ctx, plan) {
    const { inst } = plan;
    const moving = plan.node !== null && plan.node !== inst.primary_node;
    if (moving) logWarning(ctx, "Changing the instance's nodes, you will have to remove any disks left on the older nodes manually");
    const nodes = moving ? [plan.node as string] : null;
    const wanted: Disk[] = [];
    const indices: number[] = [];
    inst.disks.forEach((disk, i) => {
      const changes = plan.disks.get(i);
      if (!changes) return;
      const d: Disk = { ...disk };
      if (typeof changes.size === "number") d.size = changes.size;
      if (changes.mode === "rw" || changes.mode === "ro") d.mode = changes.mode;
      if (nodes) {
        d.nodes = nodes;
        // On another node the storage gets the name that node's agent chooses.
        if (d.dev_type === "file") d.logical_id = [];
      }
      wanted.push(d);
      indices.push(i);
    });
    const primary = nodes ? nodes[0] : inst.primary_node;
    const made: Disk[] = [];
    for (const [n, disk] of wanted.entries()) {
      made.push(...(await createDisks(ctx, { name: inst.name, primary_node: primary }, [disk], indices[n])));
    }
    await ctx.master.store.transact((tx) =>
      tx.update("instance", inst.uuid, (i) => {
        if (nodes) i.primary_node = nodes[0];
        made.forEach((d, n) => (i.disks[indices[n]] = d));
      }));
    await refreshLive(ctx, [inst.primary_node, primary]);
    return null;
  },
});

// ---- grow ----

type GrowCtx = LuContext<typeof OpInstanceGrowDisk.params>;

export const instanceGrowDiskLU = defineLU({
  opcode: OpInstanceGrowDisk,
  locks: (op, snap) => instanceLocks(op, snap, { nodeMode: "exclusive" }),
  checkPrereq(ctx: GrowCtx) {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    for (const n of instanceNodes(inst)) checkNodeOnline(snap, n);
    const disk = inst.disks[op.disk];
    if (!disk) {
      throw new OpPrereqError(`Invalid disk index: ${op.disk} (instace has disks 0 to ${inst.disks.length - 1}`, ECODE.inval);
    }
    if (!DTS_GROWABLE.includes(disk.dev_type)) {
      throw new OpPrereqError(`Instance's disk layout ${disk.dev_type} does not support growing`, ECODE.inval);
    }
    let target: number;
    let delta: number;
    if (op.absolute) {
      target = op.amount;
      delta = target - disk.size;
      if (delta < 0) {
        throw new OpPrereqError(`Requested size (${formatUnit(target)}) is smaller than current disk size (${formatUnit(disk.size)})`, ECODE.state);
      }
    } else {
      delta = op.amount;
      target = disk.size + delta;
    }
    const policy = groupIPolicy(snap.cluster, snap.groups.get(snap.nodes.get(inst.primary_node)?.group ?? ""));
    const violations = specViolations(policy, {
      memory: null, vcpus: null, spindleUse: null, nics: null,
      diskSizes: inst.disks.map((d, i) => (i === op.disk ? target : d.size)),
      diskTemplates: inst.disks.map((d) => d.dev_type),
    });
    if (violations.length > 0) {
      const msg = `Growing disk ${op.disk} violates policy: ${violations.join(", ")}`;
      if (op.ignore_ipolicy) logWarning(ctx, msg);
      else throw new OpPrereqError(msg, ECODE.inval);
    }
    return { inst, disk, delta, target };
  },
  async exec(ctx, { inst, disk, delta, target }) {
    const op = ctx.op;
    const client = agentOf(ctx, inst.primary_node);
    const node = ctx.snapshot().nodes.get(inst.primary_node)?.name ?? inst.primary_node;
    await raiseOnFail(client.blockdevAssemble({ instance: inst.name, disk: diskSpec(disk) }), "Cannot activate block device to grow");
    ctx.feedback(`Growing disk ${op.disk} of instance '${inst.name}' by ${formatUnit(delta)} to ${formatUnit(target)}`);
    if (delta > 0) {
      await raiseOnFail(client.blockdevGrow({ disk: diskSpec(disk), amount: delta, dry_run: true }), `Dry-run grow request failed to node ${node}`);
      await raiseOnFail(client.blockdevGrow({ disk: diskSpec(disk), amount: delta }), `Grow request failed to node ${node}`);
    }
    const updated = await ctx.master.store.transact((tx) =>
      tx.update("instance", inst.uuid, (i) => {
        i.disks[op.disk].size = target;
      }));
    // A running domain is told (QEMU's block_resize); the guest sees the new size at once.
    if (delta > 0 && isRunning(ctx.master.live, updated)) {
      await raiseOnFail(
        client.instanceDiskResize({ instance: instanceSpec(ctx.snapshot(), updated), index: op.disk, size: target }),
        `Could not tell the running instance about the new size of disk ${op.disk}`,
      );
    }
    if (op.wait_for_sync) {
      if (!updated.disks_active) await shutdownDisks(ctx, updated, [updated.disks[op.disk]]);
    } else if (!updated.disks_active) {
      logWarning(ctx, "Not shutting down the disk even if the instance is not supposed to be running because no wait for sync mode was requested");
    }
    return null;
  },
});

// ---- replace disks ----

export const instanceReplaceDisksLU = defineLU({
  opcode: OpInstanceReplaceDisks,
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: LuContext<typeof OpInstanceReplaceDisks.params>) {
    const op = ctx.op;
    if (op.mode === "replace_new_secondary") {
      if (op.remote_node === null && op.iallocator === null) {
        throw new OpPrereqError("When changing the secondary either an iallocator script must be used or the new node given", ECODE.inval);
      }
      if (op.remote_node !== null && op.iallocator !== null) throw new OpPrereqError("Do not specify both, iallocator and node", ECODE.inval);
    } else if (op.remote_node !== null || op.iallocator !== null) {
      throw new OpPrereqError("The iallocator and new node options can only be used when changing the secondary node", ECODE.inval);
    }
    const inst = opInstance(ctx.snapshot(), op);
    noteInstance(op, inst);
    // Only DRBD disks have a secondary to replace from or to; Corral's templates have none.
    throw new OpPrereqError(
      `The instance has a strange layout, expected one secondary but found ${inst.secondary_nodes.length}`,
      ECODE.fault,
    );
  },
  exec: () => null,
});

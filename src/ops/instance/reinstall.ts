// OP_INSTANCE_REINSTALL and OP_INSTANCE_RENAME: the two operations that run an instance's OS
// scripts again on a stopped instance.

import { dirname, join, basename } from "node:path";
import { ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Disk, Instance, ParamDict } from "../../model/objects.ts";
import { OpInstanceReinstall, OpInstanceRename } from "../../model/opcodes/instance.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import { defineLU, logInfo, type LuContext } from "../lu.ts";
import { getUpdatedParams } from "../params.ts";
import {
  agentOf, assembleDisks, hidePrivate, checkDiskTemplateEnabled, checkInstanceAbsent, checkInstanceState, checkNodeOnline, diskSpec,
  filledOsparams, INSTANCE_DOWN, INSTANCE_NOT_RUNNING, instanceLocks, instanceSpec, noteInstance, opInstance,
  raiseOnFail, refreshLive, shutdownDisks, validateOs, warnOnFail,
} from "./common.ts";
import { setDisksActive } from "./power.ts";

type ReinstallCtx = LuContext<typeof OpInstanceReinstall.params>;

interface ReinstallPlan {
  inst: Instance;
  os: string;
  osparams: ParamDict;
  osparamsPrivate: ParamDict;
  /** Everything the OS scripts get: cluster → instance → this reinstall's (private, secret) parameters. */
  osFull: ParamDict;
}

export const instanceReinstallLU = defineLU({
  opcode: OpInstanceReinstall,
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: ReinstallCtx): ReinstallPlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const inst = opInstance(snap, op);
    checkNodeOnline(snap, inst.primary_node, "Instance primary node offline, cannot reinstall");
    if (inst.disks.length === 0) throw new OpPrereqError(`Instance '${inst.name}' has no disks`, ECODE.inval);
    noteInstance(op, inst);
    checkInstanceState(snap, ctx.master.live, inst, INSTANCE_DOWN, "cannot reinstall");
    const os = op.os_type ?? inst.os;
    if (!os) throw new OpPrereqError(`Instance '${inst.name}' has no OS to reinstall; give one`, ECODE.inval);
    op.osparams ??= {};
    op.osparams_private ??= {};
    op.osparams_secret ??= {};
    const osparams = getUpdatedParams(inst.osparams, op.osparams);
    const osparamsPrivate = getUpdatedParams(inst.osparams_private, op.osparams_private);
    const osFull = { ...filledOsparams(snap.cluster, os, osparams), ...osparamsPrivate, ...op.osparams_secret };
    op.osparams_private = hidePrivate(op.osparams_private);
    op.osparams_secret = hidePrivate(op.osparams_secret);
    return { inst, os, osparams, osparamsPrivate, osFull };
  },
  async exec(ctx, plan) {
    const op = ctx.op;
    await validateOs(ctx, [plan.inst.primary_node], plan.os, plan.osFull, op.force_variant);
    if (op.os_type !== null) ctx.feedback(`Changing OS scripts to '${op.os_type}'...`);
    // The OS (when given) and the merged parameters become the instance's.
    let inst = await ctx.master.store.transact((tx) =>
      tx.update("instance", plan.inst.uuid, (i) => {
        i.os = plan.os;
        i.osparams = plan.osparams;
        i.osparams_private = plan.osparamsPrivate;
      }));
    await assembleDisks(ctx, inst);
    try {
      logInfo(ctx, "Running instance OS create scripts...");
      const spec = instanceSpec(ctx.snapshot(), inst);
      spec.osparams = plan.osFull;
      const node = ctx.snapshot().nodes.get(inst.primary_node)?.name ?? inst.primary_node;
      await raiseOnFail(
        agentOf(ctx, inst.primary_node).instanceOsAdd({ instance: spec, reinstall: true, debug: op.debug_level ?? 0 }),
        `Could not install OS for instance '${inst.name}' on node '${node}'`,
      );
    } finally {
      inst = ctx.snapshot().instances.get(inst.uuid) ?? inst;
      await shutdownDisks(ctx, inst);
      await refreshLive(ctx, [inst.primary_node]);
    }
    return null;
  },
});

// ---- rename ----

type RenameCtx = LuContext<typeof OpInstanceRename.params>;

/** Templates whose storage paths carry the instance name (Ganeti's DTS_INSTANCE_DEPENDENT_PATH). */
const NAMED_PATH_TEMPLATES = ["file", "sharedfile"];

/** The logical id a file disk gets when its instance is renamed: the instance directory renamed. */
function renamedLogicalId(disk: Disk, oldName: string, newName: string): unknown[] | null {
  if (!NAMED_PATH_TEMPLATES.includes(disk.dev_type) || disk.logical_id.length !== 2) return null;
  const [driver, path] = disk.logical_id as [string, string];
  const dir = dirname(path);
  if (basename(dir) !== oldName) return null;
  return [driver, join(dirname(dir), newName, basename(path))];
}

export const instanceRenameLU = defineLU({
  opcode: OpInstanceRename,
  locks: (op, snap) => {
    const req = instanceLocks(op, snap);
    if (req.instance) req.instance = { names: [...(req.instance.names as string[]), op.new_name], mode: "exclusive" };
    return req;
  },
  checkPrereq(ctx: RenameCtx) {
    const op = ctx.op;
    const snap = ctx.snapshot();
    if (op.ip_check && !op.name_check) throw new OpPrereqError("IP address check requires a name check", ECODE.inval);
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    if (op.new_name !== inst.name) {
      for (const d of inst.disks) if (NAMED_PATH_TEMPLATES.includes(d.dev_type)) checkDiskTemplateEnabled(snap.cluster, d.dev_type);
    }
    checkNodeOnline(snap, inst.primary_node);
    checkInstanceState(snap, ctx.master.live, inst, INSTANCE_NOT_RUNNING, "cannot rename");
    if (op.name_check) op.new_name = op.new_name.toLowerCase();
    if (op.new_name !== inst.name) checkInstanceAbsent(snap, op.new_name);
    return inst;
  },
  async exec(ctx, inst) {
    const newName = ctx.op.new_name;
    const oldName = inst.name;
    const client = agentOf(ctx, inst.primary_node);
    const node = ctx.snapshot().nodes.get(inst.primary_node)?.name ?? inst.primary_node;
    // Storage first: if a rename fails, what was renamed goes back and the config is untouched.
    const done: [Disk, unknown[]][] = [];
    const logicalIds = inst.disks.map((d) => d.logical_id);
    for (const [i, disk] of inst.disks.entries()) {
      const target = newName === oldName ? null : renamedLogicalId(disk, oldName, newName);
      if (!target) continue;
      try {
        logicalIds[i] = (await client.blockdevRename({ disk: diskSpec(disk), new_logical_id: target })).logical_id;
        done.push([disk, target]);
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        for (const [d, id] of done.reverse()) {
          await client.blockdevRename({ disk: { ...diskSpec(d), logical_id: id }, new_logical_id: d.logical_id }).catch(() => undefined);
        }
        throw new OpExecError(
          `Could not rename on node ${node} directory '${dirname(String(disk.logical_id[1]))}' to '${dirname(String(target[1]))}': ${err.message}`,
          err.failureEcode,
        );
      }
    }
    let renamed = await ctx.master.store.transact((tx) => {
      checkInstanceAbsent(tx.current, newName, inst.uuid);
      return tx.update("instance", inst.uuid, (i) => {
        i.name = newName;
        i.disks.forEach((d, n) => (d.logical_id = logicalIds[n]));
      });
    });
    try {
      for (const [i, disk] of renamed.disks.entries()) {
        await warnOnFail(ctx, client.blockdevSetInfo({ disk: diskSpec(disk), info: `originstname+${newName}` }),
          `Error setting info on node ${node} for disk ${i}`);
      }
      if (renamed.os && renamed.disks.length > 0) {
        await assembleDisks(ctx, renamed);
        await warnOnFail(ctx, client.instanceOsRename({ instance: instanceSpec(ctx.snapshot(), renamed), old_name: oldName, debug: ctx.op.debug_level ?? 0 }),
          `Could not run OS rename script for instance ${newName} on node ${node} (but the instance has been renamed in Ganeti)`);
      }
    } finally {
      renamed = ctx.snapshot().instances.get(inst.uuid) ?? renamed;
      await shutdownDisks(ctx, renamed);
      await setDisksActive(ctx, renamed, false);
      await refreshLive(ctx, [inst.primary_node]);
    }
    return newName;
  },
});


// OP_BACKUP_PREPARE, OP_BACKUP_EXPORT and OP_BACKUP_REMOVE: local exports. An export is a
// directory on a node (its agent's export dir) with config.ini and a dump of each disk,
// made by the OS export script on the primary node; import mode of instance creation
// reads it back. Remote (inter-cluster) exports are not supported.

import { ECODE, GanetiError, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Instance, Node } from "../../model/objects.ts";
import { OpBackupExport, OpBackupPrepare, OpBackupRemove } from "../../model/opcodes/backup.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import { findObject, resolveObject } from "../../query/resolve.ts";
import {
  agentOf, assembleDisks, checkNodeNotDrained, checkNodeOnline, instanceLocks, prereqInstance, instanceSpec, noteInstance, opInstance,
  raiseOnFail, refreshLive, shutdownDisks,
} from "./common.ts";
import { exportConfig } from "./exportconfig.ts";
import { setDisksActive } from "./power.ts";
import { removeInstance } from "./remove.ts";

const REMOTE_UNSUPPORTED = "Remote export (moving instances between clusters) is not supported by Corral";

export const backupPrepareLU = defineLU({
  opcode: OpBackupPrepare,
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: LuContext<typeof OpBackupPrepare.params>) {
    const inst = prereqInstance(ctx, { primaryOnline: true });
    if (ctx.op.mode === "remote") throw new OpPrereqError(REMOTE_UNSUPPORTED, ECODE.inval);
    return inst;
  },
  exec: () => null,
});

type ExportCtx = LuContext<typeof OpBackupExport.params>;

interface ExportPlan {
  inst: Instance;
  target: Node;
}

export const backupExportLU = defineLU({
  opcode: OpBackupExport,
  locks: (op, snap) => instanceLocks(op, snap, { allNodes: true, nodeMode: "exclusive" }),
  checkPrereq(ctx: ExportCtx): ExportPlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    if (op.mode === "remote") throw new OpPrereqError(REMOTE_UNSUPPORTED, ECODE.inval);
    if (op.zero_free_space && !op.shutdown) throw new GanetiError("OpPrereqError", ["Unless the instance is shut down, zeroing cannot be used."]);
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    checkNodeOnline(snap, inst.primary_node);
    if (op.remove_instance && inst.admin_state === "up" && !op.shutdown) {
      throw new OpPrereqError("Can not remove instance without shutting it down before", ECODE.state);
    }
    if (typeof op.target_node !== "string") throw new OpPrereqError("A local export needs the name of the target node", ECODE.inval);
    const target = resolveObject(snap, "node", op.target_node);
    op.target_node = target.name;
    op.target_node_uuid = target.uuid;
    checkNodeOnline(snap, target.uuid);
    checkNodeNotDrained(snap, target.uuid);
    if (op.zero_free_space) {
      if (!snap.cluster.zeroing_image) throw new OpPrereqError("A zeroing image must be set for zeroing to work", ECODE.inval);
    } else if (op.zeroing_timeout_fixed !== null || op.zeroing_timeout_per_mib !== null) {
      throw new OpPrereqError("Zeroing timeout options can only be used only with the --zero-free-space option", ECODE.inval);
    }
    if (op.long_sleep && !op.shutdown) {
      throw new OpPrereqError("The long sleep option only makes sense when the instance can be shut down.", ECODE.inval);
    }
    if (op.compress !== "none" && !snap.cluster.compression_tools.includes(op.compress)) {
      throw new OpPrereqError(`Compression tool not allowed, tools allowed are [${snap.cluster.compression_tools.join(", ")}]`, ECODE.inval);
    }
    if (op.zero_free_space) throw new OpPrereqError("Zeroing free space needs a helper VM, which Corral's hypervisors cannot run", ECODE.inval);
    return { inst, target };
  },
  async exec(ctx, { inst, target }) {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const source = snap.nodes.get(inst.primary_node) as Node;
    const src = agentOf(ctx, source.uuid);
    const dst = ctx.master.node(target);
    const name = inst.name;
    try {
      if (op.shutdown) {
        ctx.feedback(`Shutting down instance ${name}`);
        await raiseOnFail(src.instanceShutdown({ name, hypervisor: inst.hypervisor, timeout: op.shutdown_timeout }),
          `Could not shutdown instance ${name} on node ${source.name}`);
      }
      // Corral's storage takes no snapshots: a running instance is exported stopped.
      const wantSnapshot = !op.remove_instance && inst.admin_state === "up";
      if (wantSnapshot && inst.disks.length > 0) {
        if (!op.shutdown) throw new OpExecError("Not all disks could be snapshotted, and you requested a live export; aborting");
        if (!op.long_sleep) {
          throw new OpExecError(
            "Not all disks could be snapshotted, and you did not allow the instance to remain offline for a longer time through the --long-sleep option; aborting",
          );
        }
      }
      const activate = !inst.disks_active;
      if (activate && inst.disks.length > 0) {
        ctx.feedback(`Activating disks for ${name}`);
        await assembleDisks(ctx, inst);
      }
      const results: boolean[] = [];
      try {
        await raiseOnFail(src.exportPrepare({ name }), `Could not prepare the export on node ${source.name}`);
        const spec = instanceSpec(snap, inst);
        const dumps: (string | null)[] = [];
        for (const [i] of inst.disks.entries()) {
          ctx.feedback(`Exporting disk/${i} of ${name} to ${target.name}`);
          try {
            dumps.push((await src.exportDisk({ instance: spec, index: i, name, debug: op.debug_level ?? 0 })).file);
            results.push(true);
          } catch (err) {
            if (!(err instanceof RpcCallError)) throw err;
            logWarning(ctx, `Could not export disk/${i} from node ${source.name}: ${err.message}`);
            dumps.push(null);
            results.push(false);
          }
        }
        if (target.uuid !== source.uuid) await copyExport(ctx, source, target, `${name}.new`, dumps);
        ctx.feedback(`Finalizing export on ${target.name}`);
        await raiseOnFail(dst.exportFinalize({ name, config: exportConfig(ctx.snapshot(), inst, dumps) }), "Export failed, errors in export finalization");
      } catch (err) {
        await src.exportAbort({ name }).catch(() => undefined);
        if (target.uuid !== source.uuid) await dst.exportAbort({ name }).catch(() => undefined);
        throw err;
      } finally {
        if (target.uuid !== source.uuid) await src.exportAbort({ name }).catch(() => undefined);
        if (activate && inst.disks.length > 0) {
          ctx.feedback(`Deactivating disks for ${name}`);
          await shutdownDisks(ctx, inst);
        }
      }
      if (op.shutdown && inst.admin_state === "up" && !op.remove_instance) {
        ctx.feedback(`Starting instance ${name}`);
        await raiseOnFail(src.instanceStart({ instance: instanceSpec(ctx.snapshot(), inst) }), "Could not start instance");
        await setDisksActive(ctx, ctx.snapshot().instances.get(inst.uuid) ?? inst, true);
      }
      if (op.remove_instance) {
        ctx.feedback(`Removing instance ${name}`);
        await removeInstance(ctx, inst, op.ignore_remove_failures);
      }
      await removeOtherExports(ctx, name, target.uuid);
      if (results.some((r) => !r)) throw new OpExecError("Export failed, errors in disk export: disk(s) " + results.flatMap((r, i) => (r ? [] : [i])).join(", "));
      return [true, results];
    } finally {
      await refreshLive(ctx, [source.uuid]);
    }
  },
});

/** Copies a half-made export (its dumps) from one node's export dir to another's. */
async function copyExport(ctx: ExportCtx, from: Node, to: Node, exportDir: string, files: (string | null)[]): Promise<void> {
  const src = ctx.master.node(from);
  const dst = ctx.master.node(to);
  await raiseOnFail(dst.exportPrepare({ name: exportDir.replace(/\.new$/, "") }), `Could not prepare the export on node ${to.name}`);
  const WINDOW = 16 * 1024 * 1024;
  for (const file of files) {
    if (!file) continue;
    for (let offset = 0; ; offset += WINDOW) {
      const chunk = await raiseOnFail(src.exportRead({ path: exportDir, file, offset, length: WINDOW }), `Could not read the export on node ${from.name}`);
      await raiseOnFail(dst.exportWrite({ name: exportDir, file, size: chunk.size, extents: chunk.extents }), `Could not write the export on node ${to.name}`);
      if (offset + WINDOW >= chunk.size) break;
    }
  }
}

/** Ganeti's _CleanupExports: other nodes' exports of the instance go. */
async function removeOtherExports(ctx: ExportCtx, name: string, keep: string): Promise<void> {
  const others = [...ctx.snapshot().nodes.values()].filter((n) => n.uuid !== keep && !n.offline);
  if (others.length === 0) return;
  ctx.feedback(`Removing old exports for instance ${name}`);
  for (const node of others) {
    const client = ctx.master.node(node);
    try {
      if ((await client.exportList({})).includes(name)) await client.exportRemove({ name });
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      logWarning(ctx, `Could not remove older export for instance ${name} on node ${node.name}: ${err.message}`);
    }
  }
}

export const backupRemoveLU = defineLU({
  opcode: OpBackupRemove,
  locks: () => ({ cluster: { names: "all", mode: "shared" }, node: { names: "all", mode: "exclusive" } }),
  checkPrereq(ctx: LuContext<typeof OpBackupRemove.params>) {
    // The instance may be gone already: its exports can still be removed by full name.
    const inst = findObject(ctx.snapshot(), "instance", ctx.op.instance_name);
    return { name: inst?.name ?? ctx.op.instance_name, known: inst !== undefined };
  },
  async exec(ctx, { name, known }) {
    let found = false;
    for (const node of ctx.snapshot().nodes.values()) {
      if (node.offline) continue;
      const client = ctx.master.node(node);
      try {
        if (!(await client.exportList({})).includes(name)) continue;
        found = true;
        await client.exportRemove({ name });
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        logWarning(ctx, `Failed to query node ${node.name} (continuing): ${err.message}`);
      }
    }
    if (!known && !found) {
      ctx.feedback("Export not found. If trying to remove an export belonging to a deleted instance please use its Fully Qualified Domain Name.");
    }
    return null;
  },
});

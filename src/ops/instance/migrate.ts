// OP_INSTANCE_MIGRATE and OP_INSTANCE_FAILOVER (Ganeti's TLMigrateInstance). Corral's
// templates are externally mirrored (sharedfile, ext: every node reaches the storage;
// diskless: nothing to reach) or not mirrored at all (file). The former move to a target
// node, given or chosen by the allocator; the latter move only in a live migration asked to
// take its storage along (Corral's migrate_storage, migrate-storage.ts).
// Over 400 lines: Ganeti's TLMigrateInstance (plan, migrate, failover, cleanup) is one state
// machine with one abort path; its storage part is in migrate-storage.ts.

import { groupIPolicy, specViolations } from "../../alloc/policy.ts";
import { classificationOf, ECODE, OpExecError, OpPrereqError, type Ecode } from "../../model/errors.ts";
import type { Instance, Node } from "../../model/objects.ts";
import type { ParamSpec } from "../../model/params.ts";
import { OpInstanceFailover, OpInstanceMigrate } from "../../model/opcodes/instance.ts";
import type { DiskExports, InstanceSpec, MigrationStatus } from "../../rpc/calls.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import type { LockRequest } from "../../jobs/locks.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import { resolveObject } from "../../query/resolve.ts";
import {
  assembleDisks, checkNodeFreeMemory, DTS_EXT_MIRROR, filledBeparams, filledHvparams, instanceLocks, instanceSpec, nodeUuidOf, noteInstance, opInstance, raiseOnFail, refreshLive, shutdownDisks,
} from "./common.ts";
import { createTargetDisks, mirrorProgressLine, removeDisks, storageMigration, type TargetDisks } from "./migrate-storage.ts";
import { iallocatorOrNode, instanceShape, relocationTarget } from "./placement.ts";
import { setDisksActive } from "./power.ts";

/** How often the job asks the source how its migration goes (the log gets a line each time). */
const MIGRATION_POLL_MS = 500;
/** How long the job waits for a source agent that stopped answering (a restart) before it settles the migration without it. */
const SOURCE_GRACE_MS = 30_000;

/** Ganeti's progress line, with what Corral's kvm driver measures; null when the hypervisor measures nothing. */
function progressLine(st: MigrationStatus): string | null {
  if (st.transferredMiB === undefined || st.totalMiB === undefined) return null;
  const percent = st.totalMiB > 0 ? Math.min(100, (st.transferredMiB * 100) / st.totalMiB) : 0;
  const parts = [`${Math.round(st.transferredMiB)}/${Math.round(st.totalMiB)} MiB`, `pass ${st.pass ?? "?"}`];
  if (st.dirtyRateMiBps !== undefined) parts.push(`dirty rate ${st.dirtyRateMiBps} MiB/s`);
  if (st.expectedDowntimeMs !== undefined) {
    parts.push(`expected downtime ${st.expectedDowntimeMs} ms${st.downtimeLimitMs !== undefined ? ` (limit ${st.downtimeLimitMs} ms)` : ""}`);
  }
  parts.push(st.mode ?? "precopy");
  return `* memory transfer progress: ${percent.toFixed(2)} % (${parts.join(", ")})`;
}

/** The final figures for the log line that ends the memory transfer ("" when there are none). */
function summaryOf(st: MigrationStatus): string {
  if (st.elapsedMs === undefined) return "";
  const sent = st.transferredMiB !== undefined ? `, ${Math.round(st.transferredMiB)} MiB sent` : "";
  const downtime = st.downtimeMs !== undefined ? `, downtime ${st.downtimeMs} ms` : "";
  const disks = st.storageMs !== undefined ? `; disks mirrored in ${(st.storageMs / 1000).toFixed(2)} s` : "";
  return `: ${st.mode ?? "precopy"}, total time ${(st.elapsedMs / 1000).toFixed(2)} s${downtime}${sent}${disks}`;
}

/** What migrate and failover share of their opcodes. */
interface MoveOp {
  instance_name: string;
  instance_uuid: string | null;
  target_node: string | null;
  target_node_uuid: string | null;
  iallocator: string | null;
  ignore_ipolicy: boolean;
  cleanup: boolean;
  /** Corral's extensions, migrations only. */
  migrate_storage?: boolean | null;
  migrate_tls?: boolean | null;
}

interface MovePlan {
  inst: Instance;
  target: Node;
  failover: boolean;
  live: boolean;
  /** The node-local disks move too (migrate_storage). */
  storage: boolean;
  /** The traffic is encrypted (migrate_tls). */
  tls: boolean;
}

/** Ganeti's CheckTargetNodeIPolicy. */
function checkTargetPolicy(snap: ConfigSnapshot, inst: Instance, target: Node, ignore: boolean, warn: (m: string) => void): void {
  const group = snap.groups.get(target.group);
  const violations = specViolations(groupIPolicy(snap.cluster, group), instanceShape(snap.cluster, inst));
  if (violations.length === 0) return;
  const msg = `Instance ${inst.name} does not meet target node group's (${group?.name ?? target.group}) instance policy: ${violations.join(", ")}`;
  if (ignore) warn(msg);
  else throw new OpPrereqError(msg, ECODE.inval);
}

/** TLMigrateInstance.CheckPrereq for both opcodes. */
function planMove(ctx: LuContext<ParamSpec>, op: MoveOp, failoverRequested: boolean, fallback: boolean): MovePlan {
  const snap = ctx.snapshot();
  const live = ctx.master.live;
  const inst = opInstance(snap, op);
  noteInstance(op, inst);
  let failover = failoverRequested;
  if (!op.cleanup && inst.admin_state !== "up" && !failover && fallback) {
    logInfo(ctx, "Instance is marked down or offline, fallback allowed, switching to failover");
    failover = true;
  }
  const notMirrored = [...new Set(inst.disks.map((d) => d.dev_type).filter((t) => !DTS_EXT_MIRROR.includes(t) && t !== "drbd"))];
  const storage = !failover && !op.cleanup && storageMigration(inst, notMirrored, op.migrate_storage === true);
  if (notMirrored.length > 0 && !storage) {
    throw new OpPrereqError(`Instance's disk layout '${notMirrored.join(", ")}' does not allow ${failover ? "failovers" : "migrations"}`, ECODE.state);
  }
  const iallocator = iallocatorOrNode(snap, op.iallocator, op.target_node ?? op.target_node_uuid);
  let target: Node;
  if (iallocator !== null) {
    op.iallocator = iallocator;
    target = snap.nodes.get(relocationTarget(snap, live, iallocator, inst, op.ignore_ipolicy)) as Node;
    logInfo(ctx, `Selected nodes for instance ${inst.name} via iallocator ${iallocator}: ${target.name}`);
  } else {
    target = resolveObject(snap, "node", (op.target_node ?? op.target_node_uuid) as string);
  }
  op.target_node = target.name;
  op.target_node_uuid = target.uuid;
  checkTargetPolicy(snap, inst, target, op.ignore_ipolicy, (m) => logWarning(ctx, m));
  if (target.uuid === inst.primary_node) {
    throw new OpPrereqError(`Cannot migrate instance ${inst.name} to its primary (${snap.nodes.get(inst.primary_node)?.name})`, ECODE.state);
  }
  if (target.offline) throw new OpPrereqError(`Can't use offline node: ${target.name}`, ECODE.state);
  const be = filledBeparams(snap.cluster, inst.beparams);
  if (!op.cleanup && (!failover || inst.admin_state === "up")) {
    checkNodeFreeMemory(snap, live, target.uuid, `migrating instance ${inst.name}`, Number(be.minmem));
  } else {
    logInfo(ctx, "Not checking memory on the secondary node as instance will not be started");
  }
  if (!op.cleanup && !failover && be.always_failover === true) {
    logInfo(ctx, "Instance configured to always failover; fallback to failover");
    failover = true;
  }
  if (!op.cleanup) {
    if (target.drained) throw new OpPrereqError(`Can't use drained node ${target.name}`, ECODE.state);
    if (!target.vm_capable) throw new OpPrereqError(`Can't use non-vm_capable node ${target.name}`, ECODE.state);
    if (!failover && !live.instances.get(inst.uuid)?.running) {
      if (fallback) {
        logInfo(ctx, "Can't migrate, instance offline, fallback to failover");
        failover = true;
      } else {
        throw new OpPrereqError(`Can't migrate, please use failover: instance ${inst.name} is not running`, ECODE.state);
      }
    }
  }
  if (storage && failover) {
    throw new OpPrereqError(`Instance's disk layout '${notMirrored.join(", ")}' does not allow failovers (its storage moves only in a migration of the running instance)`, ECODE.state);
  }
  return { inst, target, failover, live: false, storage, tls: op.migrate_tls === true };
}

/** The migration mode (Ganeti: the opcode's mode or live flag, else the hypervisor's migration_mode). */
function migrationMode(snap: ConfigSnapshot, inst: Instance, mode: string | null, liveFlag: boolean | null): boolean {
  if (liveFlag !== null && mode !== null) throw new OpPrereqError("Only one of the 'live' and 'mode' parameters are accepted", ECODE.inval);
  if (liveFlag !== null) return liveFlag;
  if (mode !== null) return mode === "live";
  return filledHvparams(snap.cluster, inst.hypervisor, inst.os, inst.hvparams).migration_mode !== "non-live";
}

/** Moves the instance's disks (their node lists, and the logical ids of disks that moved) and primary node to `target` in the config. */
async function setPrimary(ctx: LuContext<ParamSpec>, inst: Instance, target: string, moved?: TargetDisks): Promise<Instance> {
  return await ctx.master.store.transact((tx) =>
    tx.update("instance", inst.uuid, (i) => {
      i.primary_node = target;
      i.disks.forEach((d, index) => {
        d.nodes = [target];
        const created = moved?.created.get(index);
        if (created) d.logical_id = created.logical_id;
      });
    }));
}

async function execFailover(ctx: LuContext<ParamSpec>, plan: MovePlan, shutdownTimeout: number, ignoreConsistency: boolean): Promise<void> {
  const { inst, target } = plan;
  const snap = ctx.snapshot();
  const source = snap.nodes.get(inst.primary_node) as Node;
  ctx.feedback(`Failover instance ${inst.name}`);
  if (inst.disks_active) ctx.feedback("* checking disk consistency between source and target");
  else ctx.feedback("* not checking disk consistency as instance is not running");
  ctx.feedback("* shutting down instance on source node");
  try {
    await ctx.master.node(source).instanceShutdown({ name: inst.name, hypervisor: inst.hypervisor, timeout: shutdownTimeout });
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    if (ignoreConsistency || source.offline) {
      logWarning(ctx, `Could not shutdown instance ${inst.name} on node ${source.name}, proceeding anyway; please make sure node ${source.name} is down; error details: ${err.message}`);
    } else {
      throw new OpExecError(`Could not shutdown instance ${inst.name} on node ${source.name}: ${err.message}`, err.failureEcode);
    }
  }
  ctx.feedback("* deactivating the instance's disks on source node");
  if (!(await shutdownDisks(ctx, inst)) && !source.offline && !ignoreConsistency) {
    throw new OpExecError("Can't shut down the instance's disks");
  }
  const moved = await setPrimary(ctx, inst, target.uuid);
  if (moved.admin_state === "up") {
    ctx.feedback(`* activating the instance's disks on target node ${target.name}`);
    try {
      await assembleDisks(ctx, moved);
    } catch (err) {
      await shutdownDisks(ctx, moved);
      throw err instanceof OpExecError ? new OpExecError(`Can't activate the instance's disks: ${err.message}`, classificationOf(err)) : err;
    }
    ctx.feedback(`* starting the instance on the target node ${target.name}`);
    try {
      await ctx.master.node(target).instanceStart({ instance: instanceSpec(ctx.snapshot(), moved) });
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      await shutdownDisks(ctx, moved);
      throw new OpExecError(`Could not start instance ${inst.name} on node ${target.name}: ${err.message}`, err.failureEcode);
    }
  } else await setDisksActive(ctx, moved, false);
}

async function execMigration(ctx: LuContext<ParamSpec>, plan: MovePlan, allowRuntimeChanges: boolean): Promise<void> {
  const { inst, target } = plan;
  const snap = ctx.snapshot();
  const source = snap.nodes.get(inst.primary_node) as Node;
  const src = ctx.master.node(source);
  const dst = ctx.master.node(target);
  ctx.feedback(`Migrating instance ${inst.name}`);
  const spec: InstanceSpec = instanceSpec(snap, inst);
  const running = await raiseOnFail(src.instanceInfo({ name: inst.name, hypervisor: inst.hypervisor }), `Error checking instance on node ${source.name}`);
  if (!running) throw new OpExecError(`Can't migrate, please use failover: instance ${inst.name} is not running`);
  const targetFree = ctx.master.live.nodes.get(target.uuid)?.facts?.memory_free ?? Infinity;
  if (running.memory > targetFree) {
    if (!allowRuntimeChanges) {
      throw new OpExecError(
        `Memory ballooning not allowed and not enough free memory to fit instance ${inst.name} on target node ${target.name} (have ${targetFree}MB, need ${running.memory}MB)`,
      );
    }
    ctx.feedback(`* setting instance memory to ${targetFree}`);
    await raiseOnFail(src.instanceBalloonMemory({ name: inst.name, hypervisor: inst.hypervisor, memory: targetFree }), "Cannot modify instance runtime memory");
  }
  const { info } = await raiseOnFail(src.migrationInfo({ instance: spec }), `Failed fetching source migration information from ${source.name}`);
  // With its storage: the target's new disks, removed again unless the migration succeeds.
  const moved = plan.storage ? await createTargetDisks(ctx, spec, target) : undefined;
  const dropNewDisks = () => (moved ? removeDisks(ctx, target, [...moved.created.values()], "new") : Promise.resolve());
  ctx.feedback(`* preparing ${target.name} to accept the instance`);
  let exports: DiskExports | null = null;
  try {
    ({ disks: exports } = await dst.acceptInstance({ instance: moved?.spec ?? spec, info, target: target.primary_ip, storage: plan.storage, tls: plan.tls }));
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    ctx.feedback("Pre-migration failed, aborting");
    await dropNewDisks();
    throw new OpExecError(`Could not pre-migrate instance ${inst.name}: ${err.message}`, err.failureEcode);
  }
  if (plan.storage && !exports) {
    await dst.finalizeMigrationDst({ instance: moved?.spec ?? spec, info, success: false }).catch(() => undefined);
    await dropNewDisks();
    throw new OpExecError(`Could not pre-migrate instance ${inst.name}: node ${target.name} exports no disks to mirror into`, ECODE.environ);
  }
  // On any failure once memory may move: the source is told to cancel and resume first. Only
  // when it cannot be (its agent is away, or the migration completed meanwhile: its QEMU then
  // refuses to resume) does the target decide: a target QEMU that runs the guest makes the
  // target the primary node, so the config always names where the VM runs.
  const abort = async (why: string, ecode?: Ecode): Promise<never> => {
    ctx.feedback("Migration failed, aborting");
    let sourceProblem: string | null = null;
    try {
      await src.finalizeMigrationSource({ instance: spec, success: false, live: plan.live });
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      sourceProblem = err.message;
    }
    if (sourceProblem === null) {
      // The target QEMU exits by itself once the stream breaks; this is for one still waiting.
      await dst.finalizeMigrationDst({ instance: moved?.spec ?? spec, info, success: false }).catch(() => undefined);
      await dropNewDisks();
      throw new OpExecError(`Could not migrate instance ${inst.name}: ${why}`, ecode);
    }
    ctx.feedback(`* the source node ${source.name} could not resume the instance (${sourceProblem}); checking the target`);
    const onTarget = await dst.instanceInfo({ name: inst.name, hypervisor: inst.hypervisor }).catch(() => undefined);
    if (onTarget) {
      await dst.finalizeMigrationDst({ instance: moved?.spec ?? spec, info, success: true }).catch(() => undefined);
      await setPrimary(ctx, inst, target.uuid, moved);
      ctx.feedback(`* instance running on the target node ${target.name}, updating config`);
      await src.finalizeMigrationSource({ instance: spec, success: true, live: plan.live }).catch(() => undefined);
      throw new OpExecError(
        `Could not migrate instance ${inst.name} cleanly: ${why}; it runs on ${target.name} now (its primary node), `
          + `node ${source.name} could not be cleaned up: ${sourceProblem}`, ECODE.environ);
    }
    if (onTarget === null) {
      await dst.finalizeMigrationDst({ instance: moved?.spec ?? spec, info, success: false }).catch(() => undefined);
      await dropNewDisks();
    }
    throw new OpExecError(
      `Could not migrate instance ${inst.name}: ${why}; node ${source.name} could not resume it (${sourceProblem}) and `
        + `${onTarget === null ? `it does not run on ${target.name}` : `${target.name} does not answer either`}: `
        + "run the migration with cleanup once the nodes answer", ECODE.environ);
  };
  ctx.feedback(`* migrating instance to ${target.name}${plan.tls ? " (encrypted: TLS with the cluster's certificates)" : ""}`);
  try {
    await src.migrateInstance({ instance: spec, target: target.primary_ip, live: plan.live, tls: plan.tls, ...(exports ? { storage: exports } : {}) });
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    await abort(err.message, err.failureEcode);
  }
  ctx.feedback(plan.storage ? "* mirroring the disks to the target, then the memory" : "* starting memory transfer");
  let final: MigrationStatus;
  let sourceLostAt: number | null = null;
  let polledAt = 0;
  for (;;) {
    let st: MigrationStatus;
    try {
      polledAt = Date.now();
      st = await src.migrationStatus({ instance: spec, wait_ms: MIGRATION_POLL_MS });
      if (sourceLostAt !== null) ctx.feedback(`* node ${source.name} answers again`);
      sourceLostAt = null;
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      // QEMU migrates on without its agent: a restarted agent reads the outcome back from it.
      if (sourceLostAt === null) {
        sourceLostAt = Date.now();
        ctx.feedback(`* node ${source.name} does not answer (${err.message}); waiting up to ${SOURCE_GRACE_MS / 1000} s for it`);
      }
      if (Date.now() - sourceLostAt >= SOURCE_GRACE_MS) return abort(err.message, err.failureEcode);
      await new Promise((r) => setTimeout(r, MIGRATION_POLL_MS));
      continue;
    }
    // What the source's convergence policy did (a postcopy switch, a raised downtime limit).
    if ((st.status === "active" || st.status === "completed") && st.message) ctx.feedback(`* ${st.message}`);
    if (st.status === "completed") {
      final = st;
      break;
    }
    if (st.status !== "active") return abort(st.message ?? "hypervisor returned failure");
    const line = mirrorProgressLine(st) ?? progressLine(st);
    if (line) ctx.feedback(line);
    // A target whose agent is gone could never be finalized: cancel while the source still can.
    try {
      await dst.version({});
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      return abort(`the target node ${target.name} does not answer: ${err.message}`, err.failureEcode);
    }
    // The source's agent held the call until the migration ended or the poll time passed; one that answers at once is asked again a poll time later.
    const left = MIGRATION_POLL_MS - (Date.now() - polledAt);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
  ctx.feedback(`* memory transfer complete${summaryOf(final)}`);
  const errors: string[] = [];
  try {
    await dst.finalizeMigrationDst({ instance: moved?.spec ?? spec, info, success: true });
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    errors.push(err.message);
  }
  try {
    await src.finalizeMigrationSource({ instance: spec, success: true, live: plan.live });
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    errors.push(err.message);
  }
  // A completed migration has the guest running on the target (its QEMU resumes by itself), finalized or not.
  await setPrimary(ctx, inst, target.uuid, moved);
  if (moved) {
    ctx.feedback(`* removing the instance's old disks on ${source.name}`);
    await removeDisks(ctx, source, spec.disks.filter((_, i) => moved.created.has(i)), "old");
  }
  if (errors.length > 0) throw new OpExecError(`Could not finalize instance migration: ${errors.join(" ")}`, ECODE.environ);
  ctx.feedback("* done");
}

/** Migration cleanup: find where the instance runs and make the config say so. */
async function execCleanup(ctx: LuContext<ParamSpec>, plan: MovePlan): Promise<void> {
  const { inst, target } = plan;
  const source = ctx.snapshot().nodes.get(inst.primary_node) as Node;
  ctx.feedback("* checking where the instance actually runs (if this hangs, the hypervisor might be in a bad state)");
  const runsOn = async (n: Node) => (await raiseOnFail(ctx.master.node(n).instanceInfo({ name: inst.name, hypervisor: inst.hypervisor }),
    `Can't contact node ${n.name}`)) !== null;
  const [onSource, onTarget] = [await runsOn(source), await runsOn(target)];
  ctx.feedback(`* instance running on: ${[onSource ? source.name : null, onTarget ? target.name : null].filter(Boolean).join(",")}`);
  if (onSource && onTarget) {
    throw new OpExecError("Instance seems to be running on two nodes, or the hypervisor is confused; you will have to ensure manually that it runs only on one and restart this operation");
  }
  if (!onSource && !onTarget) {
    throw new OpExecError("Instance does not seem to be running at all; in this case it's safer to repair by running 'gnt-instance stop' to ensure disk shutdown, and then restarting it");
  }
  if (onTarget) {
    ctx.feedback(`* instance running on secondary node (${target.name}), updating config`);
    await setPrimary(ctx, inst, target.uuid);
  } else {
    ctx.feedback(`* instance confirmed to be running on its primary node (${source.name})`);
  }
  ctx.feedback("* done");
}

/**
 * Ganeti's locks for a move of an externally mirrored instance: the primary and the target
 * node when the target is given, every node when the allocator is to choose one.
 */
function moveLocks(op: MoveOp, snap: ConfigSnapshot): LockRequest {
  const target = nodeUuidOf(snap, op.target_node ?? op.target_node_uuid);
  return target
    ? instanceLocks(op, snap, { nodeMode: "exclusive", extraNodes: [target] })
    : instanceLocks(op, snap, { nodeMode: "exclusive", allNodes: true });
}

export const instanceMigrateLU = defineLU({
  opcode: OpInstanceMigrate,
  locks: moveLocks,
  checkPrereq(ctx: LuContext<typeof OpInstanceMigrate.params>): MovePlan {
    const op = ctx.op;
    const plan = planMove(ctx, op, false, op.allow_failover);
    if (!plan.failover) plan.live = migrationMode(ctx.snapshot(), plan.inst, op.mode, op.live);
    if (!plan.failover && op.mode === null) op.mode = plan.live ? "live" : "non-live";
    op.live = null;
    return plan;
  },
  async exec(ctx, plan) {
    try {
      if (plan.failover) await execFailover(ctx, plan, 120, false);
      else if (ctx.op.cleanup) await execCleanup(ctx, plan);
      else await execMigration(ctx, plan, ctx.op.allow_runtime_changes);
    } finally {
      await refreshLive(ctx, [plan.inst.primary_node, plan.target.uuid]);
    }
    return null;
  },
});

export const instanceFailoverLU = defineLU({
  opcode: OpInstanceFailover,
  locks: moveLocks,
  checkPrereq(ctx: LuContext<typeof OpInstanceFailover.params>): MovePlan {
    return planMove(ctx, ctx.op, true, false);
  },
  async exec(ctx, plan) {
    try {
      if (ctx.op.cleanup) await execCleanup(ctx, plan);
      else await execFailover(ctx, plan, ctx.op.shutdown_timeout, ctx.op.ignore_consistency);
    } finally {
      await refreshLive(ctx, [plan.inst.primary_node, plan.target.uuid]);
    }
    return null;
  },
});

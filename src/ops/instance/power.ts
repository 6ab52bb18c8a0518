// OP_INSTANCE_STARTUP, OP_INSTANCE_SHUTDOWN and OP_INSTANCE_REBOOT. The admin state (what
// the operator wants: up, down, offline) is recorded in the config; whether the instance
// runs is the hypervisor's business, read back into the live view at the end.

import { classificationOf, GanetiError, OpExecError } from "../../model/errors.ts";
import type { Instance, ParamDict } from "../../model/objects.ts";
import { OpInstanceReboot, OpInstanceShutdown, OpInstanceStartup } from "../../model/opcodes/instance.ts";
import { BES_PARAMETER_TYPES, forceDictType } from "../../model/paramdicts.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import {
  agentOf, checkInstanceState, checkNodeFreeMemory, checkNodeOnline, filledBeparams, INSTANCE_ONLINE, instanceLocks,
  instanceSpec, noteInstance, opInstance, raiseOnFail, refreshLive, shutdownDisks,
} from "./common.ts";
import { checkHvparams } from "./params.ts";
import { upgradeBeparams } from "./devices.ts";
import type { ParamSpec } from "../../model/params.ts";

/** Records a new admin state (and whether the disks are meant to be active). */
export async function setAdminState(ctx: Pick<LuContext<ParamSpec>, "master">, inst: Instance, state: Instance["admin_state"], source: Instance["admin_state_source"] = "admin"): Promise<Instance> {
  return await ctx.master.store.transact((tx) =>
    tx.update("instance", inst.uuid, (i) => {
      i.admin_state = state;
      i.admin_state_source = source;
      if (state === "up") i.disks_active = true;
    }));
}

/** Marks the instance's disks active or not (Ganeti's MarkInstanceDisksActive/Inactive). */
export async function setDisksActive(ctx: Pick<LuContext<ParamSpec>, "master">, inst: Instance, active: boolean): Promise<void> {
  if (inst.disks_active === active) return;
  await ctx.master.store.transact((tx) => {
    if (tx.current.instances.has(inst.uuid)) tx.update("instance", inst.uuid, (i) => void (i.disks_active = active));
  });
}

type StartupCtx = LuContext<typeof OpInstanceStartup.params>;

interface StartPlan {
  inst: Instance;
  primaryOffline: boolean;
  beparams: ParamDict;
}

export const instanceStartupLU = defineLU({
  opcode: OpInstanceStartup,
  // Starting takes memory on the primary: its node lock is exclusive.
  locks: (op, snap) => instanceLocks(op, snap, { nodeMode: "exclusive" }),
  checkPrereq(ctx: StartupCtx): StartPlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const live = ctx.master.live;
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    if (Object.keys(op.beparams).length > 0) {
      upgradeBeparams(op.beparams);
      forceDictType(op.beparams, BES_PARAMETER_TYPES);
    }
    if (Object.keys(op.hvparams).length > 0) checkHvparams(op.hvparams, inst.hypervisor);
    checkInstanceState(snap, live, inst, INSTANCE_ONLINE);
    const primaryOffline = snap.nodes.get(inst.primary_node)?.offline === true;
    const beparams: ParamDict = { ...filledBeparams(snap.cluster, inst.beparams), ...op.beparams };
    if (primaryOffline && op.ignore_offline_nodes) {
      logWarning(ctx, "Ignoring offline primary node");
      if (Object.keys(op.hvparams).length > 0 || Object.keys(op.beparams).length > 0) {
        logWarning(ctx, "Overridden parameters are ignored");
      }
    } else {
      checkNodeOnline(snap, inst.primary_node);
      if (!live.instances.get(inst.uuid)?.running) {
        checkNodeFreeMemory(snap, live, inst.primary_node, `starting instance ${inst.name}`, Number(beparams.minmem));
      }
    }
    return { inst, primaryOffline, beparams };
  },
  async exec(ctx, plan) {
    const op = ctx.op;
    let inst = plan.inst;
    if (!op.no_remember) inst = await setAdminState(ctx, inst, "up");
    if (plan.primaryOffline) {
      logInfo(ctx, "Primary node offline, marked instance as started");
      return null;
    }
    const spec = instanceSpec(ctx.snapshot(), inst, { beparams: op.beparams, hvparams: op.hvparams });
    try {
      await raiseOnFail(
        agentOf(ctx, inst.primary_node).instanceStart({ instance: spec, startup_paused: op.startup_paused }),
        `Could not start instance '${inst.name}'`,
      );
      await setDisksActive(ctx, ctx.snapshot().instances.get(inst.uuid) ?? inst, true);
    } finally {
      await refreshLive(ctx, [inst.primary_node]);
    }
    return null;
  },
});

type ShutdownCtx = LuContext<typeof OpInstanceShutdown.params>;

export const instanceShutdownLU = defineLU({
  opcode: OpInstanceShutdown,
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: ShutdownCtx) {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    if (op.no_remember && op.admin_state_source !== null) {
      logWarning(ctx, "Parameter 'admin_state_source' has no effect if used with parameter 'no_remember'");
    }
    op.admin_state_source ??= "admin";
    if (op.force) logWarning(ctx, "Ignoring offline instance check");
    else checkInstanceState(snap, ctx.master.live, inst, INSTANCE_ONLINE);
    const primaryOffline = snap.nodes.get(inst.primary_node)?.offline === true;
    if (primaryOffline && op.ignore_offline_nodes) logWarning(ctx, "Ignoring offline primary node");
    else checkNodeOnline(snap, inst.primary_node);
    if (op.admin_state_source === "user") {
      const info = ctx.master.live.instances.get(inst.uuid);
      if (!snap.cluster.enabled_user_shutdown || !info || info.running) {
        throw new GanetiError("OpPrereqError", [`Instance '${inst.name}' was not shutdown by the user`]);
      }
    }
    return { inst, primaryOffline };
  },
  async exec(ctx, { inst, primaryOffline }) {
    const op = ctx.op;
    let current = inst;
    if (!op.no_remember && (INSTANCE_ONLINE as readonly string[]).includes(inst.admin_state)) {
      current = await setAdminState(ctx, inst, "down", op.admin_state_source ?? "admin");
    }
    if (primaryOffline) {
      logInfo(ctx, "Primary node offline, marked instance as stopped");
      return null;
    }
    try {
      await raiseOnFail(
        agentOf(ctx, inst.primary_node).instanceShutdown({ name: inst.name, hypervisor: inst.hypervisor, timeout: op.timeout }),
        `Could not shutdown instance '${inst.name}'`,
      );
      await shutdownDisks(ctx, current);
      await setDisksActive(ctx, ctx.snapshot().instances.get(inst.uuid) ?? current, false);
    } finally {
      await refreshLive(ctx, [inst.primary_node]);
    }
    return null;
  },
});

type RebootCtx = LuContext<typeof OpInstanceReboot.params>;

export const instanceRebootLU = defineLU({
  opcode: OpInstanceReboot,
  // The instance keeps its memory across a reboot: the node is shared (Ganeti locks the instance only).
  locks: (op, snap) => instanceLocks(op, snap),
  checkPrereq(ctx: RebootCtx) {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const inst = opInstance(snap, op);
    noteInstance(op, inst);
    checkInstanceState(snap, ctx.master.live, inst, INSTANCE_ONLINE);
    checkNodeOnline(snap, inst.primary_node);
    return inst;
  },
  async exec(ctx, inst) {
    const op = ctx.op;
    const client = agentOf(ctx, inst.primary_node);
    const nodeName = ctx.snapshot().nodes.get(inst.primary_node)?.name ?? inst.primary_node;
    try {
      const running = await raiseOnFail(client.instanceInfo({ name: inst.name, hypervisor: inst.hypervisor }), `Error checking node ${nodeName}`);
      const spec = instanceSpec(ctx.snapshot(), inst);
      if (running && (op.reboot_type === "soft" || op.reboot_type === "hard")) {
        await raiseOnFail(client.instanceReboot({ instance: spec, type: op.reboot_type, shutdown_timeout: op.shutdown_timeout }), "Could not reboot instance");
      } else {
        if (running) {
          await raiseOnFail(
            client.instanceShutdown({ name: inst.name, hypervisor: inst.hypervisor, timeout: op.shutdown_timeout }),
            "Could not shutdown instance for full reboot",
          );
          await shutdownDisks(ctx, inst);
        } else {
          logInfo(ctx, `Instance ${inst.name} was already stopped, starting now`);
        }
        try {
          await client.instanceStart({ instance: spec });
        } catch (err) {
          await shutdownDisks(ctx, inst);
          throw new OpExecError(`Could not start instance for full reboot: ${err instanceof Error ? err.message : String(err)}`, classificationOf(err));
        }
      }
      await setAdminState(ctx, ctx.snapshot().instances.get(inst.uuid) ?? inst, "up");
    } finally {
      await refreshLive(ctx, [inst.primary_node]);
    }
    return null;
  },
});


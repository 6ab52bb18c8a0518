// OP_INSTANCE_SET_PARAMS: backend, hypervisor and OS parameters, NIC and disk additions,
// changes and removals, disk template conversion (between file, sharedfile and ext, whose
// data Corral's agents can copy), the offline flag, runtime memory and the primary node.
// The job result lists what changed as [name, value] pairs, in Ganeti's order and words.

import { groupIPolicy, specViolations } from "../../alloc/policy.ts";
import { classificationOf, ECODE, GanetiError, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Disk, Instance, Nic, ParamDict } from "../../model/objects.ts";
import { OpInstanceSetParams } from "../../model/opcodes/instance.ts";
import { defineLU, logInfo, logWarning } from "../lu.ts";
import { getUpdatedParams } from "../params.ts";
import { resolveObject } from "../../query/resolve.ts";
import {
  agentOf, checkInstanceState, checkNodeFreeMemory, createDisks, diskSpec, filledBeparams, filledOsparams, formatUnit, hidePrivate,
  INSTANCE_NOT_RUNNING, instanceLocks, instanceNodes, isRunning, nodeUuidOf, noteInstance, opInstance, raiseOnFail, refreshLive,
  removeDisks, shutdownDisks, validateOs,
} from "./common.ts";
import { NetworkIps } from "./devices.ts";
import { hotplug, hotplugChanges, HYPERVISORS_WITH_HOTPLUG } from "./hotplug.ts";
import { checkBeparamsUpdate, checkHvparams } from "./params.ts";
import { checkArguments, type Ctx } from "./modify-mods.ts";
import { planNics } from "./modify-nics.ts";
import { planConversion, planDisks, type Conversion, type DiskAction } from "./modify-disks.ts";

interface ModifyPlan {
  inst: Instance;
  result: [string, unknown][];
  /** Disk changes to carry out, and the disk list they lead to (new disks without storage yet). */
  diskActions: DiskAction[];
  disks: Disk[];
  diskResult: [string, unknown][];
  conversion: Conversion | null;
  nics: Nic[] | null;
  nicResult: [string, unknown][];
  ips: NetworkIps;
  hvparams: ParamDict | null;
  beparams: ParamDict | null;
  osparams: ParamDict | null;
  osparamsPrivate: ParamDict | null;
  validateOs: { os: string; params: ParamDict } | null;
  runtimeMem: number | null;
}

function checkPrereq(ctx: Ctx): ModifyPlan {
  const op = ctx.op;
  const snap = ctx.snapshot();
  const live = ctx.master.live;
  const log = (m: string) => ctx.feedback(m);
  const mods = checkArguments(op, log);
  const inst = opInstance(snap, op);
  noteInstance(op, inst);
  if (op.pnode) {
    const node = resolveObject(snap, "node", op.pnode);
    op.pnode = node.name;
    op.pnode_uuid = node.uuid;
    if (node.uuid !== inst.primary_node && !op.force && isRunning(live, inst)) {
      throw new OpPrereqError(`Instance is still running on ${snap.nodes.get(inst.primary_node)?.name}`, ECODE.state);
    }
  }
  if (op.hotplug && (mods.nics.length > 0 || mods.disks.length > 0)) {
    if (!HYPERVISORS_WITH_HOTPLUG.has(inst.hypervisor)) {
      logWarning(ctx, `Hotplug is not supported by the ${inst.hypervisor} hypervisor`);
      logInfo(ctx, "Modification will take place without hotplugging.");
      op.hotplug = false;
    } else if (!isRunning(live, inst)) op.hotplug = false; // nothing runs to plug into
  }
  if (op.instance_communication !== null) {
    const name = `ganeti:communication:${inst.name}`;
    const has = inst.nics.some((n) => n.name === name);
    if (op.instance_communication && !has) {
      mods.nics.push(["add", -1, { name, mac: "generate", ip: "pool", network: snap.cluster.instance_communication_network || null }]);
    } else if (!op.instance_communication && has) mods.nics.push(["remove", -1, {}]);
  }
  const conversion = op.disk_template ? planConversion(ctx, snap, inst) : null;
  const planned = planDisks(ctx, snap, inst, mods.disks);
  if (op.offline !== null) {
    checkInstanceState(snap, live, inst, INSTANCE_NOT_RUNNING,
      op.offline ? "can't change to offline without being down first" : "can't change to online (down) without being offline first");
  }

  // Parameters: what the instance will have (own values) and filled.
  let hvparams: ParamDict | null = null;
  if (Object.keys(op.hvparams).length > 0) hvparams = checkHvparams(getUpdatedParams(inst.hvparams, op.hvparams), inst.hypervisor);
  let beparams: ParamDict | null = null;
  if (Object.keys(op.beparams).length > 0) {
    checkBeparamsUpdate(op.beparams);
    beparams = checkBeparamsUpdate(getUpdatedParams(inst.beparams, op.beparams, { useNone: true }));
  }
  const beOld = filledBeparams(snap.cluster, inst.beparams);
  const beNew = filledBeparams(snap.cluster, beparams ?? inst.beparams);

  let osparams: ParamDict | null = null;
  let osparamsPrivate: ParamDict | null = null;
  let validate: ModifyPlan["validateOs"] = null;
  const os = op.os_name && !op.force ? op.os_name : inst.os;
  if (Object.keys(op.osparams).length > 0 || op.osparams_private) {
    const pub = op.osparams;
    const priv = op.osparams_private ?? {};
    const dupes = Object.keys(pub).filter((k) => k in priv);
    if (dupes.length > 0) throw new GanetiError("OpPrereqError", [`OS parameters repeated multiple times: ${dupes.join(", ")}`]);
    osparams = getUpdatedParams(inst.osparams, pub);
    osparamsPrivate = getUpdatedParams(inst.osparams_private, priv);
    op.osparams_private = hidePrivate(op.osparams_private);
    validate = { os, params: { ...filledOsparams(snap.cluster, os, osparams), ...osparamsPrivate } };
  } else if (op.os_name && !op.force) {
    validate = { os, params: filledOsparams(snap.cluster, os, inst.osparams) };
  }

  // Memory (Ganeti's _ProcessMem).
  const pnodeName = snap.nodes.get(inst.primary_node)?.name ?? inst.primary_node;
  if ("maxmem" in op.beparams && !op.force && Number(beNew.maxmem) > Number(beOld.maxmem)) {
    const facts = live.nodes.get(inst.primary_node)?.facts;
    if (!facts) log(` - WARNING: Can't get info from primary node ${pnodeName}`);
    else {
      const current = live.instances.get(inst.uuid)?.running ? (live.instances.get(inst.uuid)?.memory ?? 0) : 0;
      const missing = Number(beNew.maxmem) - current - facts.memory_free;
      if (missing > 0) {
        throw new OpPrereqError(`This change will prevent the instance from starting, due to ${missing} MB of memory missing on its primary node`, ECODE.noRes);
      }
    }
  }
  if (op.runtime_mem) {
    const info = live.instances.get(inst.uuid);
    if (!info?.running) throw new OpPrereqError(`Instance ${inst.name} is not running`, ECODE.state);
    if (!op.force && (op.runtime_mem > Number(beNew.maxmem) || op.runtime_mem < Number(beNew.minmem))) {
      throw new OpPrereqError(
        `Instance ${inst.name} must have memory between ${String(beNew.minmem)} and ${String(beNew.maxmem)} MB of memory unless --force is given`,
        ECODE.inval,
      );
    }
    const delta = op.runtime_mem - info.memory;
    if (delta > 0) checkNodeFreeMemory(snap, live, inst.primary_node, `ballooning memory for instance ${inst.name}`, delta);
  }

  const ips = new NetworkIps(snap);
  const nicPlan = mods.nics.length > 0 ? planNics(snap, op, inst, mods.nics, ips, log) : null;

  if (!op.ignore_ipolicy) {
    const group = snap.groups.get(snap.nodes.get(inst.primary_node)?.group ?? "");
    const policy = groupIPolicy(snap.cluster, group);
    const finalDisks = conversion ? conversion.disks : planned.disks;
    const base = {
      vcpus: typeof beNew.vcpus === "number" ? beNew.vcpus : null,
      spindleUse: typeof beNew.spindle_use === "number" ? beNew.spindle_use : null,
      nics: (nicPlan?.nics ?? inst.nics).length,
      diskSizes: finalDisks.map((d) => d.size),
      diskTemplates: finalDisks.map((d) => d.dev_type),
    };
    const errs = new Set([
      ...specViolations(policy, { ...base, memory: beparams ? Number(beNew.maxmem) : null }),
      ...specViolations(policy, { ...base, memory: beparams ? Number(beNew.minmem) : null }),
    ]);
    if (errs.size > 0) {
      throw new OpPrereqError(`Instance allocation to group ${group?.uuid} (${group?.name}) violates policy: ${[...errs].join(", ")}`, ECODE.inval);
    }
  }

  return {
    inst,
    result: [],
    diskActions: planned.actions,
    disks: planned.disks,
    diskResult: planned.result,
    conversion,
    nics: nicPlan?.nics ?? null,
    nicResult: nicPlan?.result ?? [],
    ips,
    hvparams,
    beparams,
    osparams,
    osparamsPrivate,
    validateOs: validate,
    runtimeMem: op.runtime_mem,
  };
}

/**
 * Creates the added disks (all or none: on a failure the ones made are removed again); the
 * final disk list with their storage. Removed disks go only once the config no longer has them.
 */
async function createAddedDisks(ctx: Ctx, plan: ModifyPlan): Promise<Disk[]> {
  const inst = plan.inst;
  const created = new Map<string, Disk>();
  try {
    for (const action of plan.diskActions) {
      if (action.kind !== "add") continue;
      const [made] = await createDisks(ctx, inst, [action.disk], action.index);
      created.set(made.uuid, made);
    }
  } catch (err) {
    await removeDisks(ctx, { ...inst, disks: [...created.values()] });
    throw err;
  }
  return plan.disks.map((d) => created.get(d.uuid) ?? d);
}

async function dropRemovedDisks(ctx: Ctx, plan: ModifyPlan): Promise<void> {
  const removed = plan.diskActions.flatMap((a) => (a.kind === "remove" ? [a.disk] : []));
  if (removed.length === 0) return;
  await shutdownDisks(ctx, plan.inst, removed);
  await removeDisks(ctx, plan.inst, removed);
}

async function convertTemplate(ctx: Ctx, inst: Instance, conv: Conversion): Promise<Disk[]> {
  const old = inst.disks[0]?.dev_type ?? "diskless";
  ctx.feedback(`Converting disk template from '${old}' to '${conv.label}'`);
  if (!(await shutdownDisks(ctx, inst))) throw new OpExecError("Cannot shutdown instance disks, unable to proceed with disk template conversion");
  ctx.feedback(`Generating new '${conv.label}' disk template...`);
  ctx.feedback(`Creating new empty disks of type '${conv.label}'...`);
  const made = await createDisks(ctx, inst, conv.disks);
  ctx.feedback(`Populating the new empty disks of type '${conv.label}'...`);
  const client = agentOf(ctx, inst.primary_node);
  for (const [i, disk] of inst.disks.entries()) {
    ctx.feedback(` - copying data from disk ${i} (${disk.dev_type}), size ${formatUnit(made[i].size)}`);
    try {
      await client.blockdevConvert({ src: diskSpec(disk), dst: diskSpec(made[i]) });
    } catch (err) {
      ctx.feedback(` - ERROR: Could not copy disk '${String(disk.logical_id[1])}' to '${String(made[i].logical_id[1])}'`);
      logInfo(ctx, "Some disks failed to copy");
      logInfo(ctx, "The instance will not be affected, aborting operation");
      logInfo(ctx, `Removing newly created disks of type '${conv.label}'...`);
      await removeDisks(ctx, { ...inst, disks: made }, made);
      logInfo(ctx, "Newly created disks removed successfully");
      throw new OpExecError(`Error while converting the instance's template: ${err instanceof Error ? err.message : String(err)}`, classificationOf(err));
    }
  }
  ctx.feedback(`Detaching old disks (${old}) from the instance and removing them from cluster config`);
  ctx.feedback(`Adding new disks (${conv.label}) to cluster config and attaching them to the instance`);
  return made;
}

/** Everything the modification changes in the config, in one transaction. */
async function commitChanges(ctx: Ctx, plan: ModifyPlan, disks: Disk[]): Promise<void> {
  const op = ctx.op;
  await ctx.master.store.transact((tx) => {
    tx.update("instance", plan.inst.uuid, (i) => {
      if (op.pnode_uuid) {
        i.primary_node = op.pnode_uuid;
        for (const d of disks) d.nodes = [op.pnode_uuid];
      }
      i.disks = disks;
      i.disk_template = plan.conversion?.template ?? (disks.length === 0 ? "diskless" : disks[0].dev_type);
      if (plan.nics) i.nics = plan.nics;
      if (plan.hvparams) i.hvparams = plan.hvparams;
      if (plan.beparams) i.beparams = plan.beparams;
      if (op.os_name) i.os = op.os_name;
      if (plan.osparams) i.osparams = plan.osparams;
      if (plan.osparamsPrivate) i.osparams_private = plan.osparamsPrivate;
      if (op.offline === true) i.admin_state = "offline";
      else if (op.offline === false) i.admin_state = "down";
    });
    plan.ips.commit(tx);
  });
}

export const instanceSetParamsLU = defineLU({
  opcode: OpInstanceSetParams,
  locks: (op, snap) => instanceLocks(op, snap, { nodeMode: "exclusive", extraNodes: [nodeUuidOf(snap, op.pnode)] }),
  checkPrereq,
  async exec(ctx, plan) {
    const op = ctx.op;
    const inst = plan.inst;
    if (plan.validateOs) await validateOs(ctx, [inst.primary_node], plan.validateOs.os, plan.validateOs.params, op.force_variant);
    const result: [string, unknown][] = [];
    if (plan.runtimeMem) {
      await raiseOnFail(
        agentOf(ctx, inst.primary_node).instanceBalloonMemory({ name: inst.name, hypervisor: inst.hypervisor, memory: plan.runtimeMem }),
        "Cannot modify instance runtime memory",
      );
      result.push(["runtime_memory", plan.runtimeMem]);
    }
    let disks = await createAddedDisks(ctx, plan);
    result.push(...plan.diskResult);
    let oldDisks: Disk[] = [];
    if (plan.conversion) {
      disks = await convertTemplate(ctx, inst, plan.conversion);
      oldDisks = inst.disks;
      result.push(["disk_template", plan.conversion.template]);
    }
    result.push(...plan.nicResult);
    for (const [k, v] of Object.entries(op.hvparams)) result.push([`hv/${k}`, v]);
    for (const [k, v] of Object.entries(op.beparams)) result.push([`be/${k}`, v]);
    for (const [k, v] of Object.entries(op.osparams)) result.push([`os/${k}`, v]);
    for (const k of Object.keys(op.osparams_private ?? {})) result.push([`os_private/${k}`, `Private(?, descr='${k}')`]);
    const made = disks.filter((d) => !inst.disks.some((o) => o.uuid === d.uuid));
    const plugged = op.hotplug ? hotplugChanges(inst, { disks, nics: plan.nics ?? inst.nics }) : [];
    await hotplug(ctx, inst, plugged, "remove");
    try {
      await commitChanges(ctx, plan, disks);
    } catch (err) {
      await removeDisks(ctx, { ...inst, disks: made }, made);
      throw err;
    }
    const updated = ctx.snapshot().instances.get(inst.uuid);
    if (updated) await hotplug(ctx, updated, plugged, "add");
    if (op.offline !== null) result.push(["admin_state", op.offline ? "offline" : "down"]);
    await dropRemovedDisks(ctx, plan);
    if (oldDisks.length > 0) {
      ctx.feedback(`Removing old block devices of type '${oldDisks[0].dev_type}'...`);
      await removeDisks(ctx, { ...inst, disks: oldDisks }, oldDisks);
    }
    await refreshLive(ctx, instanceNodes(inst));
    return result;
  },
});

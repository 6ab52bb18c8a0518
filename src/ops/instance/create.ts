// OP_INSTANCE_CREATE (modes create and import) and OP_INSTANCE_MULTI_ALLOC.
//
// checkPrereq works out everything from the config and the live facts: names, template,
// disks, NICs (MACs, pool addresses), the primary node (given, or chosen by the allocator),
// policy and memory. exec then validates the OS on the node, creates the disks, adds the
// instance, runs the OS create (or import) scripts and starts it. A failure after disks
// exist removes them and the instance again.
//
// Import reads the export on its node, which checkPrereq may not touch: there the checks run
// once more in exec, on the opcode completed from the export (disks, NICs, OS, parameters).

import { HYPERVISORS_WITH_PORT } from "../../model/hvparams.ts";
import { allocatePort, releasePort } from "./ports.ts";
import { randomUUID } from "node:crypto";
import type { LockRequest } from "../../jobs/locks.ts";
import { OpExecError } from "../../model/errors.ts";
import type { Instance, Node, ParamDict } from "../../model/objects.ts";
import { OpInstanceCreate } from "../../model/opcodes/instance.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU } from "../lu.ts";
import { findObject, resolveObject } from "../../query/resolve.ts";
import { agentOf, checkInstanceAbsent, checkNodeOnline, createDisks, formatUnit, hidePrivate, instanceSpec, raiseOnFail, refreshLive, removeDisks, validateOs } from "./common.ts";
import { NetworkIps, newDisk } from "./devices.ts";

import { checkCreateArguments, planCreate, type CreateOp, type CreatePlan, type Ctx } from "./create-plan.ts";
import { readExport, runImport, withExport } from "./create-import.ts";

/** Locks: the new name, its nodes (all of them when the allocator chooses), its networks. */
function createLocks(op: CreateOp, snap: ConfigSnapshot): LockRequest {
  const req: LockRequest = {
    cluster: { names: "all", mode: "shared" },
    instance: { names: [op.instance_name.toLowerCase()], mode: "exclusive" },
  };
  const pick = (name: string | null) => (name ? findObject(snap, "node", name)?.uuid : undefined);
  const pnode = pick(op.pnode ?? op.pnode_uuid);
  const src = op.mode === "import" ? pick(op.src_node) : undefined;
  const searchAll = op.mode === "import" && !op.src_node;
  if (!pnode || searchAll) req.node = { names: "all", mode: "exclusive" };
  else req.node = { names: [...new Set([pnode, ...(src ? [src] : [])])], mode: "exclusive" };
  const nets = new Set<string>();
  for (const nic of op.nics) {
    const net = typeof nic.network === "string" ? findObject(snap, "network", nic.network) : undefined;
    if (net) nets.add(net.uuid);
  }
  if (nets.size > 0) req.network = { names: [...nets], mode: "exclusive" };
  return req;
}

/** Adds the instance; on any failure after the disks exist, removes what was made. */
async function execCreate(ctx: Ctx, plan: CreatePlan): Promise<string[]> {
  const op = ctx.op;
  if (plan.os) await validateOs(ctx, [plan.pnode.uuid], plan.os, plan.osFull, plan.forceVariant);
  const disks = plan.disks.map((d) => newDisk(d, plan.template, [plan.pnode.uuid]));
  disks.forEach((d, i) => ctx.feedback(`* disk ${i}, size ${formatUnit(d.size)}`));
  ctx.feedback("* creating instance disks...");
  const made = await createDisks(ctx, { name: plan.name, primary_node: plan.pnode.uuid }, disks);
  const inst: Instance = {
    uuid: randomUUID(),
    name: plan.name,
    primary_node: plan.pnode.uuid,
    secondary_nodes: [],
    os: plan.os,
    hypervisor: plan.hypervisor,
    hvparams: plan.hvparams,
    beparams: plan.beparams,
    osparams: plan.osparams,
    osparams_private: plan.osparamsPrivate,
    admin_state: "down",
    admin_state_source: "admin",
    disk_template: plan.template,
    disks: made,
    nics: plan.nics,
    network_port: null,
    disks_active: false,
    tags: plan.tags,
    serial_no: 1,
    ctime: 0,
    mtime: 0,
  };
  const undo = async () => {
    await removeDisks(ctx, inst);
    await ctx.master.store.transact((tx) => {
      if (tx.current.instances.has(inst.uuid)) {
        tx.remove("instance", inst.uuid);
        releasePort(tx, inst.network_port);
      }
      for (const nic of inst.nics) {
        if (nic.network && nic.ip) {
          const net = tx.current.networks.get(nic.network);
          if (!net) continue;
          const ips = new NetworkIps(tx.current);
          ips.release(nic.network, nic.ip);
          ips.commit(tx);
        }
      }
    });
  };
  ctx.feedback(`adding instance ${plan.name} to cluster config`);
  try {
    await ctx.master.store.transact((tx) => {
      checkInstanceAbsent(tx.current, plan.name);
      if (HYPERVISORS_WITH_PORT.has(inst.hypervisor)) inst.network_port = allocatePort(tx);
      tx.add("instance", inst);
      plan.ips.commit(tx);
    });
  } catch (err) {
    await removeDisks(ctx, inst);
    throw err;
  }
  ctx.feedback("adding disks to cluster config");
  if (plan.install && plan.os && made.length > 0) {
    try {
      if (plan.source) await runImport(ctx, plan, ctx.snapshot().instances.get(inst.uuid) as Instance);
      else {
        ctx.feedback("* running the instance OS create scripts...");
        const spec = instanceSpec(ctx.snapshot(), inst);
        spec.osparams_private = { ...spec.osparams_private, ...plan.osparamsSecret };
        await agentOf(ctx, plan.pnode.uuid).instanceOsAdd({
          instance: spec,
          reinstall: false,
          debug: op.debug_level ?? 0,
        });
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      ctx.feedback(` - WARNING: OS installation failed, removing the instance's disks and configuration again`);
      await undo();
      const what = plan.source ? "Could not import os for instance" : "Could not add os for instance";
      throw new OpExecError(`${what} ${plan.name} on node ${plan.pnode.name}: ${msg}`);
    }
  }
  if (plan.start) {
    const up = await ctx.master.store.transact((tx) =>
      tx.update("instance", inst.uuid, (i) => {
        i.admin_state = "up";
        i.disks_active = true;
      }));
    ctx.feedback("* starting instance...");
    try {
      await raiseOnFail(agentOf(ctx, plan.pnode.uuid).instanceStart({ instance: instanceSpec(ctx.snapshot(), up) }), "Could not start instance");
    } finally {
      await refreshLive(ctx, [plan.pnode.uuid]);
    }
  } else await refreshLive(ctx, [plan.pnode.uuid]);
  return [plan.pnode.name];
}

/** An import whose disks or NICs come from the export: planned in exec, once the export is read. */
interface DeferredImport {
  deferred: true;
  pnode: Node | null;
}

/** The private and secret OS parameters, read before the opcode shows them hidden. */
interface Secrets {
  osparams_private: ParamDict | null;
  osparams_secret: ParamDict | null;
}

const secretsOf = new WeakMap<object, Secrets>();

export const instanceCreateLU = defineLU({
  opcode: OpInstanceCreate,
  locks: createLocks,
  checkPrereq(ctx: Ctx): CreatePlan | DeferredImport {
    const snap = ctx.snapshot();
    const op = ctx.op;
    checkCreateArguments(snap, op, ctx.feedback);
    const secrets: Secrets = { osparams_private: structuredClone(op.osparams_private), osparams_secret: structuredClone(op.osparams_secret) };
    let prepared: CreatePlan | DeferredImport;
    if (op.mode === "import" && (op.disks.length === 0 || op.nics.length === 0)) {
      checkInstanceAbsent(snap, op.instance_name);
      const given = op.pnode ?? op.pnode_uuid;
      const pnode = given ? resolveObject(snap, "node", given) : null;
      if (pnode) checkNodeOnline(snap, pnode.uuid, "Cannot use offline primary node");
      prepared = { deferred: true, pnode };
    } else prepared = planCreate(snap, ctx.master.live, op, ctx.feedback);
    secretsOf.set(prepared, secrets);
    op.osparams_private = hidePrivate(op.osparams_private);
    op.osparams_secret = hidePrivate(op.osparams_secret);
    return prepared;
  },
  async exec(ctx, prepared) {
    let plan = prepared;
    if (ctx.op.mode === "import") {
      const source = await readExport(ctx);
      ctx.op.os_type = source.params.os;
      const op = { ...ctx.op, ...secretsOf.get(prepared) };
      plan = planCreate(ctx.snapshot(), ctx.master.live, withExport(op, source.params), ctx.feedback, source);
    }
    return execCreate(ctx, plan as CreatePlan);
  },
  dryRunResult: (_ctx, plan) => ("deferred" in plan ? (plan.pnode ? [plan.pnode.uuid] : []) : [plan.pnode.uuid]),
});


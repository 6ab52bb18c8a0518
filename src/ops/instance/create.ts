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
import type { AllocRequest } from "../../alloc/allocator.ts";
import { groupIPolicy, specViolations, type InstanceShape } from "../../alloc/policy.ts";
import type { LockRequest } from "../../jobs/locks.ts";
import { ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Instance, Nic, Node, ParamDict } from "../../model/objects.ts";
import type { Opcode } from "../../model/opcode.ts";
import { OpInstanceCreate, OpInstanceMultiAlloc } from "../../model/opcodes/instance.ts";
import { forceDictType } from "../../model/paramdicts.ts";
import type { LiveState } from "../../query/live.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, type LuContext } from "../lu.ts";
import { findObject, resolveObject } from "../resolve.ts";
import { checkTag } from "../tags.ts";
import {
  agentOf, checkDiskTemplateEnabled, checkInstanceAbsent, checkNodeFreeMemory, checkNodeOnline, createDisks, formatUnit,
  hidePrivate, instanceSpec, normalizeHostname, osBaseName, raiseOnFail, refreshLive, removeDisks, validateOs,
} from "./common.ts";
import {
  computeDisks, computeNics, finishNic, INIC_PARAMS_TYPES, MacPool, NetworkIps, newDisk, validateDeviceNames,
  type DiskRequest, type PendingNic,
} from "./devices.ts";
import { parseIni, readExportParams, type ExportParams } from "./exportconfig.ts";
import { checkHvparams, computeFullBeparams } from "./params.ts";
import { allocateNode, allocateNodes, iallocatorOrNode } from "./placement.ts";
import { submitChildJobs } from "../childjobs.ts";

type CreateSpec = typeof OpInstanceCreate.params;
export type CreateOp = Opcode<CreateSpec>;
type Ctx = LuContext<CreateSpec>;

/** Ganeti's HELPER_VM_STARTUP / HELPER_VM_SHUTDOWN defaults (seconds). */
const HELPER_VM_STARTUP = 300;
const HELPER_VM_SHUTDOWN = 7200;
/** Templates with file disks (Ganeti's DTS_FILEBASED). */
const DTS_FILEBASED = ["file", "sharedfile", "gluster"];
/** Ganeti's INSTANCE_COMMUNICATION_NIC_PREFIX. */
const COMMUNICATION_NIC_PREFIX = "ganeti:communication:";

/** The export an import reads: where it is and what it says. */
interface ImportSource {
  node: Node;
  path: string;
  params: ExportParams;
}

export interface CreatePlan {
  name: string;
  os: string;
  hypervisor: string;
  template: string;
  disks: DiskRequest[];
  nics: Nic[];
  pnode: Node;
  beparams: ParamDict;
  hvparams: ParamDict;
  osparams: ParamDict;
  osparamsPrivate: ParamDict;
  /** Given to the OS scripts of this creation only, never stored. */
  osparamsSecret: ParamDict;
  osFull: ParamDict;
  tags: string[];
  ips: NetworkIps;
  start: boolean;
  install: boolean;
  forceVariant: boolean;
  source?: ImportSource;
}

function shapeOf(be: ParamDict, disks: DiskRequest[], template: string, nicCount: number): InstanceShape {
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  return {
    memory: num(be.maxmem),
    vcpus: num(be.vcpus),
    spindleUse: num(be.spindle_use),
    nics: nicCount,
    diskSizes: disks.map((d) => d.size),
    diskTemplates: disks.map(() => template),
  };
}

/** What a new instance needs from the allocator. */
function allocRequest(name: string, be: ParamDict, disks: DiskRequest[], template: string, nicCount: number, group: string | undefined, ignoreIpolicy: boolean, start: boolean): AllocRequest {
  const size = disks.reduce((s, d) => s + d.size, 0);
  return {
    name,
    memory: start ? Number(be.maxmem ?? 0) : 0,
    vcpus: Number(be.vcpus ?? 1),
    disk: template === "diskless" || size === 0 ? null : { type: template, size },
    shape: shapeOf(be, disks, template, nicCount),
    group,
    ignoreIpolicy,
  };
}

/**
 * The opcode's own checks (Ganeti's CheckArguments) and its defaults filled in; `op` is
 * changed as Ganeti's LU changes it, so the job shows the values used.
 */
export function checkCreateArguments(snap: ConfigSnapshot, op: CreateOp, log: (m: string) => void): void {
  if (op.forthcoming && op.commit) {
    throw new OpPrereqError("Forthcoming generation and commiting are mutually exclusive", ECODE.inval);
  }
  if (op.forthcoming || op.commit) {
    throw new OpPrereqError("Forthcoming instances (resource reservations) are not supported by Corral", ECODE.inval);
  }
  if (op.no_install && op.start) {
    log(" - INFO: No-installation mode selected, disabling startup");
    op.start = false;
  }
  op.instance_name = normalizeHostname(op.instance_name);
  if (op.ip_check && !op.name_check) throw new OpPrereqError("Cannot do IP address check without a name check", ECODE.inval);
  if (op.instance_communication) {
    const net = snap.cluster.instance_communication_network;
    if (!net) {
      throw new OpPrereqError("Instance communication needs the cluster's instance communication network, and none is set", ECODE.state);
    }
    const nicName = COMMUNICATION_NIC_PREFIX + op.instance_name;
    if (!op.nics.some((n) => n.name === nicName)) {
      op.nics.push({ name: nicName, mac: "generate", ip: "pool", network: net } as CreateOp["nics"][number]);
    }
  }
  op.helper_startup_timeout ??= HELPER_VM_STARTUP;
  op.helper_shutdown_timeout ??= HELPER_VM_SHUTDOWN;
  for (const nic of op.nics) forceDictType(nic, INIC_PARAMS_TYPES);
  validateDeviceNames("NIC", op.nics);
  op.disk_template ??= (snap.cluster.enabled_disk_templates[0] ?? "diskless") as CreateOp["disk_template"];
  const template = op.disk_template as string;
  checkDiskTemplateEnabled(snap.cluster, template);
  if (!op.file_driver && DTS_FILEBASED.includes(template)) op.file_driver = "loop";
  if (op.iallocator !== null && (op.pnode !== null || op.pnode_uuid !== null)) {
    throw new OpPrereqError("Do not specify both, iallocator and node", ECODE.inval);
  }
  if (op.snode !== null && op.disk_template !== "drbd") {
    log(" - WARNING: Secondary node will be ignored on non-mirrored disk template");
    op.snode = null;
  }
  if (op.opportunistic_locking && !op.iallocator) {
    throw new OpPrereqError("Opportunistic locking is only available in combination with an instance allocator", ECODE.inval);
  }
  if (op.mode === "import") {
    op.force_variant = true;
    if (op.no_install) log(" - INFO: No-installation mode has no effect during import");
    op.src_path ??= op.instance_name;
    if (op.src_node === null && op.src_path.startsWith("/")) {
      throw new OpPrereqError("Importing an instance from a path requires a source node option", ECODE.inval);
    }
  } else if (op.mode === "create") {
    if (!op.os_type) throw new OpPrereqError("No guest OS or OS image specified", ECODE.inval);
    if (snap.cluster.blacklisted_os.includes(op.os_type) || snap.cluster.blacklisted_os.includes(osBaseName(op.os_type))) {
      throw new OpPrereqError(`Guest OS '${op.os_type}' is not allowed for installation`, ECODE.state);
    }
  } else {
    throw new OpPrereqError("Remote import (moving instances between clusters) is not supported by Corral", ECODE.inval);
  }
  op.osparams_private ??= {};
  op.osparams_secret ??= {};
  // An import takes the hypervisor from the export when the opcode names none.
  if (op.mode !== "import") op.hypervisor ??= (snap.cluster.enabled_hypervisors[0] ?? null) as CreateOp["hypervisor"];
}

/** The opcode with what the export provides where the opcode says nothing (Ganeti's _ReadExportParams). */
function withExport(op: CreateOp, exp: ExportParams): CreateOp {
  const merged = structuredClone(op);
  merged.os_type = exp.os;
  if (merged.disks.length === 0) {
    merged.disks = exp.disks.map((d) => ({ ...d })) as CreateOp["disks"];
    if (merged.disks.length === 0 && merged.disk_template !== "diskless") {
      throw new OpPrereqError("No disk info specified and the export is missing the disk information", ECODE.inval);
    }
  }
  if (merged.nics.length === 0) merged.nics = exp.nics.map((n) => ({ ...n }) as CreateOp["nics"][number]);
  if (merged.tags.length === 0) merged.tags = [...exp.tags];
  merged.hypervisor ??= exp.hypervisor as CreateOp["hypervisor"];
  merged.hvparams = { ...exp.hvparams, ...merged.hvparams };
  merged.beparams = { ...exp.beparams, ...merged.beparams };
  merged.osparams = { ...exp.osparams, ...merged.osparams };
  merged.osparams_private = { ...exp.osparams_private, ...(merged.osparams_private ?? {}) };
  // An instance imported under its old name keeps its MAC addresses.
  if (merged.instance_name === exp.name) {
    merged.nics.forEach((nic, i) => {
      if ((nic.mac === undefined || nic.mac === "auto") && exp.macs[i]) nic.mac = exp.macs[i];
    });
  }
  return merged;
}

/** Everything the new instance will be (Ganeti's CheckPrereq), or an OpPrereqError. */
export function planCreate(snap: ConfigSnapshot, live: LiveState, op: CreateOp, log: (m: string) => void, source?: ImportSource): CreatePlan {
  const cluster = snap.cluster;
  const name = op.instance_name;
  checkInstanceAbsent(snap, name);
  const hypervisor = op.hypervisor ?? cluster.enabled_hypervisors[0];
  if (!cluster.enabled_hypervisors.includes(hypervisor)) {
    throw new OpPrereqError(`Selected hypervisor (${hypervisor}) not enabled in the cluster (${cluster.enabled_hypervisors.join(",")})`, ECODE.state);
  }
  for (const tag of op.tags) checkTag(tag);
  const hvparams = checkHvparams(structuredClone(op.hvparams), hypervisor);
  const beparams = structuredClone(op.beparams);
  const beFull = computeFullBeparams(beparams, cluster);
  const os = op.os_type ?? "";
  const osparams = structuredClone(op.osparams);
  const osparamsPrivate = structuredClone(op.osparams_private ?? {});
  const osFull = { ...(cluster.osparams[osBaseName(os)] ?? {}), ...osparams, ...osparamsPrivate, ...(op.osparams_secret ?? {}) };
  if (op.identify_defaults) revertToDefaults(snap, hypervisor, os, hvparams, beparams, osparams, op.nics);

  const pending: PendingNic[] = computeNics(snap, op.nics);
  const template = op.disk_template ?? "diskless";
  const disks = computeDisks(op.disks as Record<string, unknown>[], template);
  if (template === "diskless" && disks.length > 0) {
    throw new OpPrereqError("Disk template 'diskless' takes no disks", ECODE.inval);
  }

  // The primary node: given, or the allocator's choice.
  const iallocator = iallocatorOrNode(snap, op.iallocator, op.pnode ?? op.pnode_uuid);
  let pnode: Node;
  if (iallocator !== null) {
    let group: string | undefined;
    if (op.group_name) group = resolveObject(snap, "nodegroup", op.group_name).uuid;
    const req = allocRequest(name, beFull, disks, template, pending.length, group, op.ignore_ipolicy, op.start);
    pnode = snap.nodes.get(allocateNode(snap, live, iallocator, req)) as Node;
    log(` - INFO: Selected nodes for instance ${name} via iallocator ${iallocator}: ${pnode.name}`);
  } else {
    pnode = resolveObject(snap, "node", (op.pnode ?? op.pnode_uuid) as string);
  }
  op.pnode = pnode.name;
  op.pnode_uuid = pnode.uuid;
  if (pnode.offline) throw new OpPrereqError(`Cannot use offline primary node '${pnode.name}'`, ECODE.state);
  if (pnode.drained) throw new OpPrereqError(`Cannot use drained primary node '${pnode.name}'`, ECODE.state);
  if (!pnode.vm_capable) throw new OpPrereqError(`Cannot use non-vm_capable primary node '${pnode.name}'`, ECODE.state);

  const macs = new MacPool(snap);
  const ips = new NetworkIps(snap);
  const nics = pending.map((nic, i) => finishNic(snap, nic, i, pnode.uuid, macs, ips, op.conflicts_check, log));

  if (!op.ignore_ipolicy) {
    const group = snap.groups.get(pnode.group);
    const violations = specViolations(groupIPolicy(cluster, group), shapeOf(beFull, disks, template, nics.length));
    if (violations.length > 0) {
      throw new OpPrereqError(
        `Instance allocation to group ${pnode.group} (${group?.name ?? "?"}) violates policy: ${violations.join(", ")}`,
        ECODE.inval,
      );
    }
  }
  if (op.start) checkNodeFreeMemory(snap, live, pnode.uuid, `creating instance ${name}`, Number(beFull.maxmem));
  return {
    name,
    os,
    hypervisor,
    template,
    disks,
    nics,
    pnode,
    beparams,
    hvparams,
    osparams,
    osparamsPrivate,
    osparamsSecret: structuredClone(op.osparams_secret ?? {}),
    osFull,
    tags: [...op.tags],
    ips,
    start: op.start,
    install: op.mode === "import" || !op.no_install,
    forceVariant: op.force_variant,
    source,
  };
}

/** Ganeti's _RevertToDefaults: parameters equal to the cluster's defaults are dropped. */
function revertToDefaults(snap: ConfigSnapshot, hv: string, os: string, hvparams: ParamDict, beparams: ParamDict, osparams: ParamDict, nics: CreateOp["nics"]): void {
  const c = snap.cluster;
  const drop = (own: Record<string, unknown>, defaults: ParamDict | undefined) => {
    for (const k of Object.keys(own)) if (defaults && k in defaults && defaults[k] === own[k]) delete own[k];
  };
  drop(hvparams, { ...c.hvparams[hv], ...c.os_hvp[os]?.[hv] });
  drop(beparams, c.beparams.default);
  for (const nic of nics) drop(nic, c.nicparams.default);
  drop(osparams, c.osparams[osBaseName(os)]);
}

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

/** Finds the export an import names (Ganeti's _ReadExportInfo). */
async function readExport(ctx: Ctx): Promise<ImportSource> {
  const op = ctx.op;
  const snap = ctx.snapshot();
  const path = op.src_path ?? op.instance_name;
  let node: Node | undefined;
  if (op.src_node) {
    node = resolveObject(snap, "node", op.src_node);
  } else {
    for (const candidate of snap.nodes.values()) {
      if (candidate.offline) continue;
      try {
        if ((await ctx.master.node(candidate).exportList({})).includes(path)) {
          node = candidate;
          break;
        }
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
      }
    }
    if (!node) throw new OpPrereqError(`No export found for relative path ${path}`, ECODE.inval);
    op.src_node = node.name;
  }
  op.src_node_uuid = node.uuid;
  if (node.offline) throw new OpPrereqError(`Can't use offline node: ${node.name}`, ECODE.state);
  const info = await raiseOnFail(ctx.master.node(node).exportInfo({ path }), `No export or invalid export found in dir ${path}`);
  op.src_path = info.path;
  const params = readExportParams(parseIni(info.config));
  if (params.version !== 0) {
    throw new OpPrereqError(`Wrong export version ${String(params.version)} (wanted 0)`, ECODE.environ);
  }
  return { node, path: info.path, params };
}

/**
 * Makes the export's dumps readable on `target`: the same export when it is there, else a
 * copy (non-zero blocks only) in a staging export that the caller removes.
 */
async function stageImport(ctx: Ctx, source: ImportSource, target: Node, files: string[]): Promise<{ path: string; staged: string | null }> {
  if (source.node.uuid === target.uuid) return { path: source.path, staged: null };
  const staged = `${source.params.name || "import"}.import-${randomUUID().slice(0, 8)}`;
  const from = ctx.master.node(source.node);
  const to = ctx.master.node(target);
  const WINDOW = 16 * 1024 * 1024;
  for (const file of files) {
    for (let offset = 0; ; offset += WINDOW) {
      const chunk = await raiseOnFail(from.exportRead({ path: source.path, file, offset, length: WINDOW }),
        `Could not read export ${source.path} on node ${source.node.name}`);
      await raiseOnFail(to.exportWrite({ name: staged, file, size: chunk.size, extents: chunk.extents }),
        `Could not copy the export to node ${target.name}`);
      if (offset + WINDOW >= chunk.size) break;
    }
  }
  return { path: staged, staged };
}

async function runImport(ctx: Ctx, plan: CreatePlan, inst: Instance): Promise<void> {
  const source = plan.source as ImportSource;
  ctx.feedback("* running the instance OS import scripts...");
  const dumps = source.params.dumps;
  const files = inst.disks.map((_, i) => dumps[i]).filter((f): f is string => !!f);
  const spec = instanceSpec(ctx.snapshot(), inst);
  const { path, staged } = await stageImport(ctx, source, plan.pnode, files);
  const client = agentOf(ctx, plan.pnode.uuid);
  try {
    for (const [i] of inst.disks.entries()) {
      const file = dumps[i];
      if (!file) continue;
      await client.importDisk({ instance: spec, index: i, path, file, debug: ctx.op.debug_level ?? 0 });
    }
  } finally {
    if (staged) await client.exportRemove({ name: staged }).catch(() => undefined);
  }
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
    ctx.master.store.transact((tx) => {
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
    ctx.master.store.transact((tx) => {
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
    const up = ctx.master.store.transact((tx) =>
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

// ---- multi-alloc ----

type MultiSpec = typeof OpInstanceMultiAlloc.params;

interface MultiPlan {
  ops: CreateOp[];
  allocatable: string[];
  failed: string[];
}

export const instanceMultiAllocLU = defineLU({
  opcode: OpInstanceMultiAlloc,
  // Only plans and submits one creation job per instance (each locks its nodes), so the
  // nodes are shared, as in Ganeti.
  locks: () => ({ cluster: { names: "all", mode: "shared" }, node: { names: "all", mode: "shared" } }),
  checkPrereq(ctx: LuContext<MultiSpec>): MultiPlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const ops = op.instances as CreateOp[];
    const nodes: boolean[] = [];
    for (const inst of ops) {
      if (inst.iallocator !== null && inst.iallocator !== undefined) {
        throw new OpPrereqError("iallocator are not allowed to be set on instance objects", ECODE.inval);
      }
      nodes.push(Boolean(inst.pnode));
    }
    const hasNodes = nodes.some((n) => n);
    if (hasNodes && !nodes.every((n) => n)) {
      throw new OpPrereqError("There are instance objects providing pnode/snode while others do not", ECODE.inval);
    }
    if (!hasNodes && op.iallocator === null) {
      if (!snap.cluster.default_iallocator) {
        throw new OpPrereqError(
          "No iallocator or nodes on the instances given and no cluster-wide default iallocator found; please specify either an iallocator or nodes on the instances or set a cluster-wide default iallocator",
          ECODE.inval,
        );
      }
      op.iallocator = snap.cluster.default_iallocator;
    }
    if (op.opportunistic_locking && !op.iallocator) {
      throw new OpPrereqError("Opportunistic locking is only available in combination with an instance allocator", ECODE.inval);
    }
    for (const inst of ops) inst.instance_name = normalizeHostname(inst.instance_name);
    const names = ops.map((o) => o.instance_name);
    const dups = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
    if (dups.length > 0) throw new OpPrereqError(`There are duplicate instance names: ${dups.join(", ")}`, ECODE.inval);
    if (!op.iallocator) return { ops, allocatable: names, failed: [] };
    // Each instance placed in turn on what the ones before it left (Ganeti's multi-allocation request).
    const reqs: AllocRequest[] = [];
    for (const inst of ops) {
      const copy = structuredClone(inst);
      checkCreateArguments(snap, copy, () => undefined);
      const be = computeFullBeparams(structuredClone(copy.beparams), snap.cluster);
      const disks = computeDisks(copy.disks as Record<string, unknown>[], copy.disk_template ?? "diskless");
      reqs.push(allocRequest(copy.instance_name, be, disks, copy.disk_template ?? "diskless", copy.nics.length, undefined, copy.ignore_ipolicy, copy.start));
    }
    for (const [name, node] of allocateNodes(snap, ctx.master.live, op.iallocator, reqs)) {
      const inst = ops.find((o) => o.instance_name === name) as CreateOp;
      inst.pnode = (snap.nodes.get(node) as Node).name;
    }
    return { ops, allocatable: names, failed: [] };
  },
  async exec(ctx, plan) {
    const jobs = plan.ops.filter((o) => plan.allocatable.includes(o.instance_name)).map((o) => [o as Opcode]);
    const submitted = await submitChildJobs(ctx, jobs);
    return { allocatable: plan.allocatable, failed: plan.failed, jobs: submitted.jobs };
  },
  dryRunResult: (_ctx, plan) => ({ allocatable: plan.allocatable, failed: plan.failed, jobs: [] }),
});

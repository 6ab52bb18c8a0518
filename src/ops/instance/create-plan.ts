// Instance creation planned from the opcode and the config (Ganeti's LUInstanceCreate
// CheckArguments and CheckPrereq): parameters filled and checked, nodes chosen, disks and NICs
// described. Nothing changes until the plan is carried out (create.ts).

import type { AllocRequest } from "../../alloc/allocator.ts";
import { groupIPolicy, specViolations, type InstanceShape } from "../../alloc/policy.ts";
import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Nic, Node, ParamDict } from "../../model/objects.ts";
import type { Opcode } from "../../model/opcode.ts";
import { OpInstanceCreate } from "../../model/opcodes/instance.ts";
import { forceDictType } from "../../model/paramdicts.ts";
import type { LiveState } from "../../query/live.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import type { LuContext } from "../lu.ts";
import { resolveObject } from "../../query/resolve.ts";
import { checkTag } from "../tags.ts";
import { checkDiskTemplateEnabled, checkInstanceAbsent, checkNodeFreeMemory, normalizeHostname, osBaseName } from "./common.ts";
import { computeDisks, computeNics, finishNic, INIC_PARAMS_TYPES, MacPool, NetworkIps, validateDeviceNames, type DiskRequest, type PendingNic } from "./devices.ts";
import { checkHvparams, computeFullBeparams } from "./params.ts";
import type { ExportParams } from "./exportconfig.ts";
import { allocateNode, iallocatorOrNode } from "./placement.ts";


export type CreateSpec = typeof OpInstanceCreate.params;
export type CreateOp = Opcode<CreateSpec>;
export type Ctx = LuContext<CreateSpec>;

/** Ganeti's HELPER_VM_STARTUP / HELPER_VM_SHUTDOWN defaults (seconds). */
export const HELPER_VM_STARTUP = 300;
export const HELPER_VM_SHUTDOWN = 7200;
/** Templates with file disks (Ganeti's DTS_FILEBASED). */
export const DTS_FILEBASED = ["file", "sharedfile", "gluster"];
/** Ganeti's INSTANCE_COMMUNICATION_NIC_PREFIX. */
export const COMMUNICATION_NIC_PREFIX = "ganeti:communication:";

/** The export an import reads: where it is and what it says. */
export interface ImportSource {
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

export function shapeOf(be: ParamDict, disks: DiskRequest[], template: string, nicCount: number): InstanceShape {
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
export function allocRequest(name: string, be: ParamDict, disks: DiskRequest[], template: string, nicCount: number, group: string | undefined, ignoreIpolicy: boolean, start: boolean, tags: readonly string[]): AllocRequest {
  const size = disks.reduce((s, d) => s + d.size, 0);
  return {
    name,
    memory: start ? Number(be.maxmem ?? 0) : 0,
    vcpus: Number(be.vcpus ?? 1),
    disk: template === "diskless" || size === 0 ? null : { type: template, size },
    shape: shapeOf(be, disks, template, nicCount),
    group,
    ignoreIpolicy,
    tags,
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
    const req = allocRequest(name, beFull, disks, template, pending.length, group, op.ignore_ipolicy, op.start, op.tags);
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
export function revertToDefaults(snap: ConfigSnapshot, hv: string, os: string, hvparams: ParamDict, beparams: ParamDict, osparams: ParamDict, nics: CreateOp["nics"]): void {
  const c = snap.cluster;
  const drop = (own: Record<string, unknown>, defaults: ParamDict | undefined) => {
    for (const k of Object.keys(own)) if (defaults && k in defaults && defaults[k] === own[k]) delete own[k];
  };
  drop(hvparams, { ...c.hvparams[hv], ...c.os_hvp[os]?.[hv] });
  drop(beparams, c.beparams.default);
  for (const nic of nics) drop(nic, c.nicparams.default);
  drop(osparams, c.osparams[osBaseName(os)]);
}


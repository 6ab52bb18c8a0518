// OP_INSTANCE_SET_PARAMS: backend, hypervisor and OS parameters, NIC and disk additions,
// changes and removals, disk template conversion (between file, sharedfile and ext, whose
// data Corral's agents can copy), the offline flag, runtime memory and the primary node.
// The job result lists what changed as [name, value] pairs, in Ganeti's order and words.

import { groupIPolicy, specViolations } from "../../alloc/policy.ts";
import { classificationOf, ECODE, GanetiError, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Disk, Instance, Nic, ParamDict } from "../../model/objects.ts";
import type { Opcode } from "../../model/opcode.ts";
import { OpInstanceSetParams } from "../../model/opcodes/instance.ts";
import { forceDictType, NICS_PARAMETER_TYPES } from "../../model/paramdicts.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import { getUpdatedParams } from "../params.ts";
import { findObject, resolveObject } from "../resolve.ts";
import {
  agentOf, checkInstanceState, checkNodeFreeMemory, createDisks, diskSpec, filledBeparams, filledNicparams, filledOsparams,
  formatUnit, hidePrivate, INSTANCE_DOWN, INSTANCE_NOT_RUNNING, instanceLocks, instanceNodes, isRunning, nodeUuidOf, noteInstance,
  opInstance, raiseOnFail, refreshLive, removeDisks, shutdownDisks, validateOs,
} from "./common.ts";
import {
  checkConflictingIp, checkExtProvider, checkNicParamSyntax, DISK_ACCESS_MODES, diskRequest, groupNetParams, IDISK_PARAMS,
  IDISK_PARAMS_TYPES, INIC_PARAMS_TYPES, isValidIp, MacPool, macPrefix, MAX_DISKS, MAX_NICS, MODIFIABLE_IDISK_PARAMS_TYPES,
  NetworkIps, newDisk, normalizeMac, validateDeviceNames,
} from "./devices.ts";
import { hotplug, hotplugChanges, HYPERVISORS_WITH_HOTPLUG } from "./hotplug.ts";
import { checkBeparamsUpdate, checkHvNotGlobal, checkHvparams } from "./params.ts";

type SetSpec = typeof OpInstanceSetParams.params;
type SetOp = Opcode<SetSpec>;
type Ctx = LuContext<SetSpec>;
type Params = Record<string, unknown>;
type Mod = [op: string, id: number | string, params: Params];

/** Templates Corral can convert between: it copies their data on the primary node. */
const CONVERTIBLE = ["file", "sharedfile", "ext"];
const isNone = (v: unknown) => typeof v === "string" && v.toLowerCase() === "none";

/** Ganeti's _UpgradeDiskNicMods: the deprecated [op-or-index, params] form as [op, index, params]. */
function upgradeMods(kind: string, mods: unknown[]): Mod[] {
  if (mods.length === 0 || (mods[0] as unknown[]).length === 3) return (mods as Mod[]).map(([o, i, p]) => [o, i, { ...p }]);
  let addRemove = 0;
  return (mods as [string | number, Params][]).map(([op, params]) => {
    if (typeof op === "string") {
      addRemove++;
      if (addRemove > 1) throw new OpPrereqError(`Only one ${kind} add/attach/remove/detach operation is supported at a time`, ECODE.inval);
      return [op, -1, { ...params }];
    }
    return ["modify", op, { ...params }];
  });
}

/** Ganeti's GetIndexFromIdentifier (add): an index, -1 meaning "at the end". */
function addIndex(kind: string, id: number | string, length: number): number {
  const idx = typeof id === "number" ? id : /^-?\d+$/.test(id) ? Number(id) : NaN;
  if (Number.isNaN(idx)) throw new OpPrereqError("Only positive integer or -1 is accepted", ECODE.inval);
  if (idx === -1) return length;
  if (idx < 0) throw new OpPrereqError("Not accepting negative indices other than -1", ECODE.inval);
  if (idx > length) throw new OpPrereqError(`Got ${kind} index ${idx}, but there are only ${length}`, ECODE.inval);
  return idx;
}

/** Ganeti's GetItemFromContainer: an index (-1 the last), a name or a uuid. */
function itemIndex(kind: string, id: number | string, items: readonly { name: string | null; uuid: string }[]): number {
  const idx = typeof id === "number" ? id : /^-?\d+$/.test(id) ? Number(id) : NaN;
  if (!Number.isNaN(idx)) {
    const abs = idx === -1 ? items.length - 1 : idx;
    if (idx < -1) throw new OpPrereqError("Not accepting negative indices other than -1", ECODE.inval);
    if (abs < 0 || abs >= items.length) throw new OpPrereqError(`Got ${kind} index ${idx}, but there are only ${items.length}`, ECODE.inval);
    return abs;
  }
  const found = items.findIndex((d) => d.uuid === id || d.name === id);
  if (found < 0) throw new OpPrereqError(`Cannot find ${kind} with identifier ${id}`, ECODE.noEnt);
  return found;
}

/** A disk action for exec, in the order the modifications were given. */
type DiskAction =
  | { kind: "add"; index: number; disk: Disk }
  | { kind: "remove"; disk: Disk }
  | { kind: "modify"; uuid: string; changes: Partial<Disk> };

interface Conversion {
  template: string;
  /** The new disks (not yet created), index for index. */
  disks: Disk[];
  label: string;
}

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

/** Ganeti's CheckArguments of LUInstanceSetParams. */
function checkArguments(op: SetOp, log: (m: string) => void): { nics: Mod[]; disks: Mod[] } {
  const nothing = op.nics.length === 0 && op.disks.length === 0 && !op.disk_template && Object.keys(op.hvparams).length === 0 &&
    Object.keys(op.beparams).length === 0 && !op.os_name && Object.keys(op.osparams).length === 0 && op.offline === null &&
    !op.runtime_mem && !op.pnode && !op.osparams_private && op.instance_communication === null;
  if (nothing) throw new OpPrereqError("No changes submitted", ECODE.inval);
  if (Object.keys(op.hvparams).length > 0) checkHvNotGlobal(op.hvparams);
  const disks = upgradeMods("disk", op.disks as unknown[]);
  const nics = upgradeMods("NIC", op.nics as unknown[]);
  if (op.disk_template) {
    if (disks.length > 0) {
      throw new OpPrereqError("Disk template conversion and other disk changes not supported at the same time", ECODE.inval);
    }
    if (op.disk_template === "drbd") {
      if (op.remote_node === null && op.iallocator === null) {
        throw new OpPrereqError(
          "No iallocator or node given and no cluster-wide default iallocator found; please specify either an iallocator or a node, or set a cluster-wide default iallocator",
          ECODE.inval,
        );
      }
    } else if (op.remote_node) {
      log(" - WARNING: Changing the disk template to a non-mirrored one, the secondary node will be ignored");
      op.remote_node = null;
    }
    if (["file", "sharedfile", "gluster"].includes(op.disk_template) && !op.file_driver) op.file_driver = "loop";
  }
  for (const [o, , params] of nics) {
    forceDictType(params, INIC_PARAMS_TYPES);
    if ((o === "remove" || o === "detach") && Object.keys(params).length > 0) {
      throw new OpPrereqError("No settings should be passed when removing or detaching a NIC", ECODE.inval);
    }
    verifyNicMod(o, params);
  }
  return { nics, disks };
}

/** Ganeti's _VerifyNicModification. */
function verifyNicMod(op: string, params: Params): void {
  if (op !== "add" && op !== "modify") return;
  const ip = params.ip as string | null | undefined;
  let net = params.network as string | null | undefined;
  if (typeof params.name === "string" && isNone(params.name)) params.name = null;
  if (typeof net === "string") {
    if (isNone(net)) {
      params.network = null;
      net = null;
    } else if (params.link !== undefined || params.mode !== undefined) {
      throw new OpPrereqError("If network is given mode or link should not", ECODE.inval);
    }
  }
  if (op === "add" && (params.mac === undefined || params.mac === null)) params.mac = "auto";
  if (typeof ip === "string") {
    if (isNone(ip)) params.ip = null;
    else if (ip.toLowerCase() === "pool") {
      if (op === "add" && !net) throw new OpPrereqError("If ip=pool, parameter network cannot be none", ECODE.inval);
    } else if (!isValidIp(ip)) throw new OpPrereqError(`Invalid IP address '${ip}'`, ECODE.inval);
  }
  if (typeof params.mac === "string") {
    const mac = params.mac;
    if (mac !== "auto" && mac !== "generate") params.mac = normalizeMac(mac);
    if (op === "modify" && mac === "auto") {
      throw new OpPrereqError("'auto' is not a valid MAC address when modifying an existing NIC", ECODE.inval);
    }
  }
}

/** NIC changes on a copy of the NICs, with the change descriptions (Ganeti's _PrepareNicModification and friends). */
function planNics(snap: ConfigSnapshot, op: SetOp, inst: Instance, mods: Mod[], ips: NetworkIps, log: (m: string) => void) {
  const nics: Nic[] = inst.nics.map((n) => structuredClone(n));
  const result: [string, unknown][] = [];
  const macs = new MacPool(snap, inst.uuid);
  for (const n of nics) macs.reserve(n.mac);
  const pnode = inst.primary_node;
  const cluster = snap.cluster;

  /** New nicparams, MAC, IP for a NIC given `params`; `old` is the NIC being changed, if any. */
  const prepare = (params: Params, old: Nic | null) => {
    const update: ParamDict = {};
    for (const k of ["mode", "link", "vlan"]) if (k in params) update[k] = params[k];
    const oldNet = old?.network ?? null;
    const netName = params.network === undefined ? oldNet : (params.network as string | null);
    let newNet: string | null = null;
    if (netName) {
      const found = findObject(snap, "network", netName);
      if (!found) throw new OpPrereqError(`Network '${netName}' not found`, ECODE.noEnt);
      newNet = found.uuid;
    }
    let nicparams: ParamDict;
    if (newNet) {
      const netparams = groupNetParams(snap, newNet, pnode);
      if (!netparams) {
        throw new OpPrereqError(`No netparams found for the network ${snap.networks.get(newNet)?.name}, probably not connected`, ECODE.inval);
      }
      nicparams = { ...netparams };
    } else nicparams = getUpdatedParams(old?.nicparams ?? {}, update);
    forceDictType(nicparams, NICS_PARAMETER_TYPES);
    const filled = filledNicparams(cluster, nicparams);
    checkNicParamSyntax(filled);
    const oldIp = old?.ip ?? null;
    if (filled.mode === "routed") {
      const ip = params.ip === undefined ? oldIp : params.ip;
      if ((ip === null || ip === undefined) && !newNet) {
        throw new OpPrereqError("Cannot set the NIC IP address to None on a routed NIC if not attached to a network", ECODE.inval);
      }
    } else if (filled.mode === "openvswitch") log(" - INFO: OVS links are currently not checked for correctness");
    let mac = old?.mac ?? "";
    if ("mac" in params) {
      const m = params.mac;
      if (m === null) throw new OpPrereqError("Cannot unset the NIC MAC address", ECODE.inval);
      if (m === "auto" || m === "generate") mac = macs.generate(macPrefix(snap, newNet));
      else {
        if (old) macs.release(old.mac);
        try {
          macs.reserve(m as string);
        } catch {
          throw new OpPrereqError(`MAC address '${String(m)}' already in use in cluster`, ECODE.notUnique);
        }
        mac = m as string;
      }
    } else if (old && newNet !== oldNet) {
      const prefixOf = (u: string | null) => (u ? snap.networks.get(u)?.mac_prefix ?? null : null);
      if (prefixOf(newNet) !== prefixOf(oldNet)) mac = macs.generate(macPrefix(snap, newNet));
    }
    let ip = params.ip === undefined ? oldIp : (params.ip as string | null);
    if (ip !== oldIp || newNet !== oldNet) {
      if (ip) {
        if (ip.toLowerCase() === "pool") {
          if (!newNet) throw new OpPrereqError("ip=pool, but no network found", ECODE.inval);
          try {
            ip = ips.generate(newNet);
          } catch {
            throw new OpPrereqError("Unable to get a free IP from the address pool", ECODE.state);
          }
          log(` - INFO: Chose IP ${ip} from network ${snap.networks.get(newNet)?.name}`);
        } else if (newNet) {
          if (!ips.reserve(newNet, ip, op.conflicts_check)) {
            throw new OpPrereqError(`IP ${ip} not available in network ${snap.networks.get(newNet)?.name}`, ECODE.notUnique);
          }
          log(` - INFO: Reserving IP ${ip} in network ${snap.networks.get(newNet)?.name}`);
        } else if (op.conflicts_check) checkConflictingIp(snap, ip, pnode);
      }
      if (oldIp && oldNet) ips.release(oldNet, oldIp);
    } else if (oldNet !== null && (params.link !== undefined || params.mode !== undefined)) {
      throw new OpPrereqError("Not allowed to change link or mode of a NIC that is connected to a network", ECODE.inval);
    }
    return { nicparams, filled, mac, ip, newNet, netName };
  };

  for (const [o, id, params] of mods) {
    if (o === "attach") throw new OpPrereqError("Attach operation is not supported for NICs", ECODE.inval);
    if (o === "detach") throw new OpPrereqError("Detach operation is not supported for NICs", ECODE.inval);
    if (o === "add") {
      const idx = addIndex("NIC", id, nics.length);
      const p = prepare(params, null);
      const name = (params.name as string | null | undefined) ?? null;
      nics.splice(idx, 0, { uuid: crypto.randomUUID(), name, mac: p.mac, ip: p.ip, network: p.newNet, nicparams: p.nicparams });
      result.push([`nic.${idx}`, `add:mac=${p.mac},ip=${p.ip ?? "None"},mode=${p.filled.mode},link=${p.filled.link},network=${p.netName ?? "None"}`]);
    } else if (o === "remove") {
      const idx = itemIndex("NIC", id, nics);
      const nic = nics[idx];
      if (nic.network && nic.ip) ips.release(nic.network, nic.ip);
      macs.release(nic.mac);
      nics.splice(idx, 1);
      result.push([`nic/${idx}`, "remove"]);
    } else {
      const idx = itemIndex("NIC", id, nics);
      const nic = nics[idx];
      const p = prepare(params, nic);
      for (const key of ["mac", "ip", "name"] as const) {
        if (key in params) {
          const value = key === "mac" ? p.mac : key === "ip" ? p.ip : (params.name as string | null);
          result.push([`nic.${key}/${idx}`, value]);
          nic[key] = value as string;
        }
      }
      if (p.newNet !== nic.network) {
        result.push([`nic.network/${idx}`, p.netName]);
        nic.network = p.newNet;
      }
      nic.nicparams = p.nicparams;
      for (const [k, v] of Object.entries(p.filled)) result.push([`nic.${k}/${idx}`, v]);
    }
  }
  if (nics.length > MAX_NICS) {
    throw new OpPrereqError(`Instance has too many network interfaces (${MAX_NICS}), cannot add more`, ECODE.state);
  }
  validateDeviceNames("NIC", nics);
  return { nics, result };
}

/** Disk changes on a copy of the disks (Ganeti's _PreCheckDisks and _VerifyDiskModification). */
function planDisks(ctx: Ctx, snap: ConfigSnapshot, inst: Instance, mods: Mod[]) {
  const op = ctx.op;
  const disks: Disk[] = inst.disks.map((d) => structuredClone(d));
  const actions: DiskAction[] = [];
  const result: [string, unknown][] = [];
  const template = inst.disks.length === 0 ? "diskless" : inst.disks[0].dev_type;
  for (const [o, id, input] of mods) {
    const params = { ...input };
    if ((o === "remove" || o === "detach") && Object.keys(params).length > 0) {
      throw new OpPrereqError("No settings should be passed when removing or detaching a disk", ECODE.inval);
    }
    if (o === "attach" || o === "detach") {
      throw new OpPrereqError(`Disks cannot be ${o}ed in Corral: a disk belongs to its instance`, ECODE.inval);
    }
    if (o === "add") {
      const type = (params.dev_type as string | undefined) ?? template;
      if (type === "diskless") throw new OpPrereqError("Must specify disk type on diskless instance", ECODE.inval);
      if (type !== "ext") forceDictType(params, IDISK_PARAMS_TYPES);
      if (params.size === undefined || params.size === null) throw new OpPrereqError("Required disk parameter 'size' missing", ECODE.inval);
      checkExtProvider(params, type);
      if (!op.wait_for_sync && !inst.disks_active) {
        throw new OpPrereqError("Can't add a disk to an instance with deactivated disks and --no-wait-for-sync given", ECODE.inval);
      }
      if (!snap.cluster.enabled_disk_templates.includes(type)) {
        throw new GanetiError("OpPrereqError", [
          `Disk template '${type}' is not enabled in cluster. Enabled disk templates are: ${snap.cluster.enabled_disk_templates.join(",")}`,
        ]);
      }
      delete params.dev_type;
      const idx = addIndex("disk", id, disks.length);
      const disk = newDisk(diskRequest(params, type), type, [inst.primary_node]);
      disks.splice(idx, 0, disk);
      actions.push({ kind: "add", index: idx, disk });
      result.push([`disk/${idx}`, `add:size=${disk.size},mode=${disk.mode}`]);
    } else if (o === "remove") {
      if (!op.hotplug) {
        checkInstanceState(snap, ctx.master.live, inst, INSTANCE_NOT_RUNNING, "can't remove volume from a running instance without using hotplug");
      }
      const idx = itemIndex("disk", id, disks);
      actions.push({ kind: "remove", disk: disks[idx] });
      disks.splice(idx, 1);
      result.push([`disk/${idx}`, "remove"]);
    } else {
      if ("size" in params) throw new OpPrereqError("Disk size change not possible, use grow-disk", ECODE.inval);
      const idx = itemIndex("disk", id, disks);
      const disk = disks[idx];
      if (disks.every((d) => d.dev_type === "ext")) {
        for (const p of ["access", "provider"]) {
          if (p in params) throw new OpPrereqError(`Disk '${p}' parameter change is not possible`, ECODE.inval);
        }
      } else forceDictType(params, MODIFIABLE_IDISK_PARAMS_TYPES);
      const changes: Partial<Disk> = {};
      if ("mode" in params) {
        if (!DISK_ACCESS_MODES.includes(params.mode as string)) throw new OpPrereqError(`Invalid disk access mode '${String(params.mode)}'`, ECODE.inval);
        changes.mode = params.mode as Disk["mode"];
        result.push([`disk.mode/${idx}`, params.mode]);
      }
      if ("name" in params) {
        changes.name = params.name === null || isNone(params.name) ? null : (params.name as string);
        result.push([`disk.name/${idx}`, changes.name]);
      }
      const extParams: ParamDict = { ...disk.params };
      for (const [k, v] of Object.entries(params)) {
        if (k === "mode" || k === "name" || disk.dev_type !== "ext") continue;
        if (typeof v === "string" && v.toLowerCase() === "default") delete extParams[k];
        else extParams[k] = v;
        result.push([`disk.params:${k}/${idx}`, v]);
      }
      if (disk.dev_type === "ext") changes.params = extParams;
      Object.assign(disk, changes);
      actions.push({ kind: "modify", uuid: disk.uuid, changes });
    }
  }
  validateDeviceNames("disk", disks);
  if (disks.length > MAX_DISKS) throw new OpPrereqError(`Instance has too many disks (${MAX_DISKS}), cannot add more`, ECODE.state);
  return { disks, actions, result };
}

/** Ganeti's _PreCheckDiskTemplate, for the conversions Corral's agents can do. */
function planConversion(ctx: Ctx, snap: ConfigSnapshot, inst: Instance): Conversion {
  const op = ctx.op;
  const to = op.disk_template as string;
  const types = new Set(inst.disks.map((d) => d.dev_type));
  const from = inst.disks.length === 0 ? "diskless" : types.size > 1 ? "mixed" : inst.disks[0].dev_type;
  if (from === "mixed") throw new GanetiError("OpPrereqError", ["Conversion from mixed is not yet supported."]);
  if (from === "diskless") throw new OpPrereqError("Conversion from the 'diskless' disk template is not supported", ECODE.inval);
  if (to === "diskless" || to === "blockdev") throw new OpPrereqError(`Conversion to the '${to}' disk template is not supported`, ECODE.inval);
  if (to !== "ext" && inst.disks.every((d) => d.dev_type === to)) {
    throw new OpPrereqError(`Instance already has disk template ${to}`, ECODE.inval);
  }
  const enabled = snap.cluster.enabled_disk_templates;
  if (!enabled.includes(to)) {
    throw new OpPrereqError(`Disk template '${to}' is not enabled for this cluster (enabled templates: ${enabled.join(", ")})`, ECODE.state);
  }
  if (!snap.cluster.volume_group_name && ["plain", "drbd"].includes(to)) {
    throw new OpPrereqError("Disk template conversions to lvm-based instances are not supported by the cluster", ECODE.state);
  }
  checkInstanceState(snap, ctx.master.live, inst, INSTANCE_DOWN, "cannot change disk template");
  if (!CONVERTIBLE.includes(from) || !CONVERTIBLE.includes(to)) {
    throw new OpPrereqError(
      `Conversion from '${from}' to '${to}' is not possible in Corral: its agents copy data only between ${CONVERTIBLE.join(", ")} disks`,
      ECODE.inval,
    );
  }
  for (const key of Object.keys(op.ext_params)) {
    if (key !== "provider" && IDISK_PARAMS.includes(key)) throw new OpPrereqError(`Invalid extstorage parameter '${key}'`, ECODE.inval);
  }
  const disks = inst.disks.map((old, i) => {
    const spec: Params = { size: old.size, mode: old.mode, ...(old.name ? { name: old.name } : {}), ...op.ext_params };
    const req = diskRequest(spec, to);
    if (old.dev_type === "ext" && to === "ext" && req.params.provider === old.params.provider) {
      throw new OpPrereqError(`Not converting, 'disk/${i}' of type ExtStorage already using provider '${String(req.params.provider)}'`, ECODE.inval);
    }
    return newDisk(req, to, [inst.primary_node]);
  });
  const policy = groupIPolicy(snap.cluster, snap.groups.get(snap.nodes.get(inst.primary_node)?.group ?? ""));
  if (!policy["disk-templates"].includes(to)) {
    throw new OpPrereqError(`Disk template '${to}' in not allowed (allowed templates: ${policy["disk-templates"].join(", ")})`, ECODE.state);
  }
  const label = to === "ext" ? `ext:${String((op.ext_params as ParamDict).provider)}` : to;
  return { template: to, disks, label };
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
function commitChanges(ctx: Ctx, plan: ModifyPlan, disks: Disk[]): void {
  const op = ctx.op;
  ctx.master.store.transact((tx) => {
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
      commitChanges(ctx, plan, disks);
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

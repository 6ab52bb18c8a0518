// Instance disks and NICs as opcodes describe them (Ganeti's IDISK_*/INIC_* dicts): checks
// and normalization with Ganeti's messages, MAC generation, and network address pools.
// Just over 400 lines: Ganeti's disk and NIC rules, which create and modify both apply.

import { randomInt, randomUUID } from "node:crypto";
import { AddressPool } from "../../model/addresspool.ts";
import { ConfigurationError, ECODE, OpPrereqError } from "../../model/errors.ts";
import { isIPv4Address, isIPv6Address } from "../../model/netaddr.ts";
import type { Cluster, Disk, Network, Nic, ParamDict } from "../../model/objects.ts";
import { forceDictType, parseUnit, type TypeTable } from "../../model/paramdicts.ts";
import type { ConfigSnapshot, ConfigTx } from "../../store/store.ts";
import { findObject } from "../../query/resolve.ts";
import { filledNicparams, nodeOf } from "./common.ts";

/** Keys of a NIC definition and their types (Ganeti's INIC_PARAMS_TYPES). */
export const INIC_PARAMS_TYPES: TypeTable = {
  bridge: "maybe-string", ip: "maybe-string", link: "string", mac: "string", mode: "string",
  name: "maybe-string", network: "maybe-string", vlan: "maybe-string",
};

/** Keys of a disk definition and their types (Ganeti's IDISK_PARAMS_TYPES). */
export const IDISK_PARAMS_TYPES: TypeTable = {
  size: "size", spindles: "int", mode: "string", adopt: "string", vg: "string", metavg: "string",
  provider: "string", access: "string", name: "maybe-string", dev_type: "string",
};
export const IDISK_PARAMS: readonly string[] = Object.keys(IDISK_PARAMS_TYPES);

/** Disk and NIC properties a modification may change without ext (MODIFIABLE_IDISK_PARAMS_TYPES). */
export const MODIFIABLE_IDISK_PARAMS_TYPES: TypeTable = { mode: "string", name: "string" };

export const NIC_VALID_MODES = ["bridged", "routed", "openvswitch"];
export const DISK_ACCESS_MODES = ["rw", "ro"];
export const MAX_NICS = 8;
export const MAX_DISKS = 16;
/** Templates whose disks may adopt existing storage (Ganeti's DTS_MAY_ADOPT). */
const DTS_MAY_ADOPT = ["plain", "blockdev"];

const isNone = (v: unknown): boolean => typeof v === "string" && v.toLowerCase() === "none";

/** Ganeti's ValidateDeviceNames: names unique, not purely numeric, not another device's uuid. */
export function validateDeviceNames(kind: "NIC" | "disk", devices: readonly { name?: unknown; uuid?: string }[]): void {
  const seen: string[] = [];
  for (const d of devices) {
    if (d.uuid) seen.push(d.uuid);
    const name = d.name;
    if (typeof name === "string" && /^\s*[+-]?\d+\s*$/.test(name)) {
      throw new OpPrereqError(`Invalid name '${name}'. Purely numeric ${kind} names are not allowed`, ECODE.inval);
    }
    if (typeof name === "string" && !isNone(name)) {
      if (seen.includes(name)) throw new OpPrereqError(`${kind} name '${name}' already used`, ECODE.notUnique);
      seen.push(name);
    }
  }
}

/** Ganeti's _CheckVLANArguments: "5" becomes ".5"; ".5", ":5:6" and ".5:6" are kept. */
export function normalizeVlan(vlan: string): string {
  const invalid = () => new OpPrereqError(`Specified VLAN parameter is invalid : ${vlan}`, ECODE.inval);
  const trunk = () => {
    if (!vlan.slice(1).split(":").every((v) => /^\d+$/.test(v))) throw invalid();
    return vlan;
  };
  if (vlan === "") return vlan;
  if (vlan[0] === ".") return /^\d+$/.test(vlan.slice(1)) ? vlan : trunk();
  if (vlan[0] === ":") return trunk();
  if (/^\d+$/.test(vlan)) return `.${vlan}`;
  throw invalid();
}

/** The NIC parameters checked as Ganeti's NIC.CheckParameterSyntax does. */
export function checkNicParamSyntax(filled: ParamDict): void {
  const mode = filled.mode;
  if (typeof mode !== "string" || (!NIC_VALID_MODES.includes(mode) && mode !== "auto")) {
    throw new ConfigurationError(`Invalid NIC mode '${String(mode)}'`);
  }
  if (mode === "bridged" && !filled.link) throw new ConfigurationError("Missing bridged NIC link");
}

/** Ganeti's NormalizeAndValidateMac. */
export function normalizeMac(mac: string): string {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) throw new OpPrereqError(`Invalid MAC address '${mac}'`, ECODE.inval);
  return mac.toLowerCase();
}

export function isValidIp(ip: string): boolean {
  return isIPv4Address(ip) || isIPv6Address(ip);
}

/** A NIC of a new instance before its MAC and pool address are known ("auto"/"generate", "pool"). */
export interface PendingNic {
  mac: string;
  ip: string | null;
  name: string | null;
  network: string | null;
  nicparams: ParamDict;
  uuid: string;
}

/** Ganeti's ComputeNics for instance creation. */
export function computeNics(snap: ConfigSnapshot, nics: Record<string, string | null>[]): PendingNic[] {
  const cluster = snap.cluster;
  const out: PendingNic[] = [];
  for (const nic of nics) {
    const modeReq = nic.mode ?? null;
    const mode = modeReq === null || modeReq === "auto" ? (cluster.nicparams.default?.mode as string) : modeReq;
    let net = nic.network ?? null;
    const link = nic.link ?? null;
    const ip = nic.ip ?? null;
    const vlan = nic.vlan ?? null;
    if (net === null || isNone(net)) net = null;
    else if (modeReq !== null || link !== null) {
      throw new OpPrereqError("If network is given, no mode or link is allowed to be passed", ECODE.inval);
    }
    let nicIp: string | null;
    if (ip === null || isNone(ip)) nicIp = null;
    else if (ip.toLowerCase() === "auto") {
      throw new OpPrereqError("IP address set to auto but name checks have been skipped", ECODE.inval);
    } else if (ip.toLowerCase() === "pool") {
      if (net === null) throw new OpPrereqError("if ip=pool, parameter network must be passed too", ECODE.inval);
      nicIp = "pool";
    } else if (!isValidIp(ip)) {
      throw new OpPrereqError(`Invalid IP address '${ip}'`, ECODE.inval);
    } else nicIp = ip;
    if (mode === "routed" && !nicIp && !net) {
      throw new OpPrereqError("Routed nic mode requires an ip address if not attached to a network", ECODE.inval);
    }
    let mac = nic.mac ?? "auto";
    if (mac !== "auto" && mac !== "generate") mac = normalizeMac(mac);
    const nicparams: ParamDict = {};
    if (modeReq) nicparams.mode = mode;
    if (link) nicparams.link = link;
    if (vlan) nicparams.vlan = normalizeVlan(vlan);
    checkNicParamSyntax(filledNicparams(cluster, nicparams));
    let netUuid: string | null = null;
    if (net !== null) {
      const found = findObject(snap, "network", net);
      if (!found) throw new OpPrereqError(`Network '${net}' not found`, ECODE.noEnt);
      netUuid = found.uuid;
    }
    const name = nic.name === undefined || nic.name === null || isNone(nic.name) ? null : nic.name;
    out.push({ mac, ip: nicIp, name, network: netUuid, nicparams, uuid: randomUUID() });
  }
  return out;
}

/** MAC addresses in use, and new ones under a prefix (Ganeti's GenerateMAC/ReserveMAC). */
export class MacPool {
  private readonly used = new Set<string>();

  constructor(snap: ConfigSnapshot, exceptInstance?: string) {
    for (const inst of snap.instances.values()) {
      if (inst.uuid === exceptInstance) continue;
      for (const nic of inst.nics) this.used.add(nic.mac.toLowerCase());
    }
  }

  reserve(mac: string): void {
    if (this.used.has(mac)) throw new OpPrereqError(`MAC address ${mac} already in use in cluster`, ECODE.notUnique);
    this.used.add(mac);
  }

  release(mac: string): void {
    this.used.delete(mac);
  }

  generate(prefix: string): string {
    for (let attempt = 0; attempt < 64; attempt++) {
      const tail = [0, 1, 2].map(() => randomInt(256).toString(16).padStart(2, "0")).join(":");
      const mac = `${prefix}:${tail}`;
      if (!this.used.has(mac)) {
        this.used.add(mac);
        return mac;
      }
    }
    throw new OpPrereqError(`Can't generate unique MAC with prefix ${prefix}`, ECODE.tempNoRes);
  }
}

/** The MAC prefix for a NIC: its network's, else the cluster's. */
export function macPrefix(snap: ConfigSnapshot, netUuid: string | null): string {
  const net = netUuid ? snap.networks.get(netUuid) : undefined;
  return net?.mac_prefix ?? snap.cluster.mac_prefix;
}

/** Network address pools changed by one opcode; written back in its transaction. */
export class NetworkIps {
  private readonly snap: ConfigSnapshot;
  private readonly pools = new Map<string, AddressPool>();

  constructor(snap: ConfigSnapshot) {
    this.snap = snap;
  }

  private pool(netUuid: string): AddressPool {
    let p = this.pools.get(netUuid);
    if (!p) {
      const net = this.snap.networks.get(netUuid) as Network;
      p = new AddressPool(net);
      this.pools.set(netUuid, p);
    }
    return p;
  }

  network(netUuid: string): Network {
    return this.snap.networks.get(netUuid) as Network;
  }

  generate(netUuid: string): string {
    const p = this.pool(netUuid);
    const ip = p.generateFree();
    p.reserve(ip);
    return ip;
  }

  /** Reserves `ip`; with `check` off, an address outside the pool or taken is let through. */
  reserve(netUuid: string, ip: string, check: boolean): boolean {
    const p = this.pool(netUuid);
    if (!p.contains(ip) || p.isReserved(ip) || p.isReserved(ip, true)) {
      if (check) return false;
      return true;
    }
    p.reserve(ip);
    return true;
  }

  release(netUuid: string, ip: string): void {
    const p = this.pool(netUuid);
    if (p.contains(ip) && p.isReserved(ip)) p.release(ip);
  }

  /** Writes the changed pools into the transaction. */
  commit(tx: ConfigTx): void {
    for (const [uuid, p] of this.pools) {
      if (!tx.current.networks.has(uuid)) continue;
      tx.update("network", uuid, (n) => Object.assign(n, p.bitmaps()));
    }
  }
}

/** The {mode, link, vlan} a network has in the group of `nodeUuid`, or undefined. */
export function groupNetParams(snap: ConfigSnapshot, netUuid: string, nodeUuid: string): ParamDict | undefined {
  const group = snap.groups.get(nodeOf(snap, nodeUuid).group);
  return group?.networks[netUuid];
}

/** Ganeti's CheckForConflictingIp: an address of a network the node's group has, on a NIC without it. */
export function checkConflictingIp(snap: ConfigSnapshot, ip: string | null, nodeUuid: string): void {
  if (!ip) return;
  const group = snap.groups.get(nodeOf(snap, nodeUuid).group);
  for (const netUuid of Object.keys(group?.networks ?? {})) {
    const net = snap.networks.get(netUuid);
    if (!net) continue;
    let pool: AddressPool;
    try {
      pool = new AddressPool(net);
    } catch {
      continue;
    }
    if (pool.contains(ip)) {
      throw new OpPrereqError(`The requested IP address (${ip}) belongs to network ${net.name}, but the target NIC does not.`, ECODE.state);
    }
  }
}

/**
 * Fills a new NIC's MAC and pool address on node `nodeUuid` (Ganeti's CheckPrereq part of
 * instance creation): network NICs take the group's netparams.
 */
export function finishNic(
  snap: ConfigSnapshot,
  nic: PendingNic,
  idx: number,
  nodeUuid: string,
  macs: MacPool,
  ips: NetworkIps,
  conflictsCheck: boolean,
  log: (m: string) => void,
): Nic {
  let { ip, nicparams, mac } = nic;
  if (nic.network) {
    const net = ips.network(nic.network);
    const netparams = groupNetParams(snap, nic.network, nodeUuid);
    if (!netparams) {
      throw new OpPrereqError(
        `No netparams found for network ${net.name}. Probably not connected to node's ${nodeOf(snap, nodeUuid).name} nodegroup`,
        ECODE.inval,
      );
    }
    nicparams = { ...netparams };
    if (ip === "pool") {
      try {
        ip = ips.generate(nic.network);
      } catch {
        throw new OpPrereqError(`Unable to get a free IP for NIC ${idx} from the address pool`, ECODE.state);
      }
      log(` - INFO: Chose IP ${ip} from network ${net.name}`);
    } else if (ip !== null && !ips.reserve(nic.network, ip, conflictsCheck)) {
      throw new OpPrereqError(`IP address ${ip} already in use or does not belong to network ${net.name}`, ECODE.notUnique);
    }
  } else if (conflictsCheck) checkConflictingIp(snap, ip, nodeUuid);
  if (mac === "auto" || mac === "generate") mac = macs.generate(macPrefix(snap, nic.network));
  else macs.reserve(mac);
  return { uuid: nic.uuid, name: nic.name, mac, ip, network: nic.network, nicparams };
}

/** A disk of a new instance (Ganeti's ComputeDisks output). */
export interface DiskRequest {
  size: number;
  mode: "rw" | "ro";
  name: string | null;
  spindles: number | null;
  /** Template parameters kept on the disk (ext: provider and provider parameters; access). */
  params: ParamDict;
}

/** Ganeti's CheckDiskExtProvider. */
export function checkExtProvider(disk: Record<string, unknown>, template: string): void {
  const provider = disk.provider;
  if (provider && template !== "ext") {
    throw new OpPrereqError(`The 'provider' option is only valid for the ext disk template, not ${template}`, ECODE.inval);
  }
  if ((provider === undefined || provider === null) && template === "ext") {
    throw new OpPrereqError("Missing provider for template 'ext'", ECODE.inval);
  }
}

/** Ganeti's _CheckDiskArguments + ComputeDisks for new instances. */
export function computeDisks(disks: Record<string, unknown>[], template: string): DiskRequest[] {
  validateDeviceNames("disk", disks as { name?: unknown }[]);
  const adopt = disks.filter((d) => "adopt" in d).length;
  if (adopt > 0 && adopt < disks.length) throw new OpPrereqError("Either all disks are adopted or none is", ECODE.inval);
  if (adopt > 0 && !DTS_MAY_ADOPT.includes(template)) {
    throw new OpPrereqError(`Disk adoption is not supported for the '${template}' disk template`, ECODE.inval);
  }
  if (adopt === 0 && template === "blockdev") {
    throw new OpPrereqError("Disk template blockdev requires disk adoption, but no 'adopt' parameter given", ECODE.inval);
  }
  return disks.map((input) => {
    const disk = { ...input };
    if (template !== "ext") forceDictType(disk, IDISK_PARAMS_TYPES);
    return diskRequest(disk, template);
  });
}

/** One disk dict (already type-checked) as a DiskRequest. */
export function diskRequest(disk: Record<string, unknown>, template: string): DiskRequest {
  const mode = (disk.mode ?? "rw") as string;
  if (!DISK_ACCESS_MODES.includes(mode)) throw new OpPrereqError(`Invalid disk access mode '${mode}'`, ECODE.inval);
  let size = disk.size;
  if (size === undefined || size === null) throw new OpPrereqError("Missing disk size", ECODE.inval);
  // Ext disks skip the type check that converts "10G" (Ganeti then refuses it); Corral reads units for them too.
  if (typeof size === "string") {
    try {
      size = parseUnit(size);
    } catch {
      throw new OpPrereqError(`Invalid disk size '${size}'`, ECODE.inval);
    }
  }
  if (typeof size !== "number" || !Number.isInteger(size)) throw new OpPrereqError(`Invalid disk size '${String(size)}'`, ECODE.inval);
  checkExtProvider(disk, template);
  if (disk.spindles !== undefined && disk.spindles !== null) {
    throw new OpPrereqError("Spindles in instance disks cannot be specified when exclusive storage is not active", ECODE.inval);
  }
  const name = typeof disk.name === "string" && !isNone(disk.name) ? disk.name : null;
  const params: ParamDict = {};
  if (template === "ext") {
    for (const [k, v] of Object.entries(disk)) if (!IDISK_PARAMS.includes(k) || k === "provider" || k === "access") params[k] = v;
  } else if (["rbd", "gluster", "ext"].includes(template) && "access" in disk) params.access = disk.access;
  return { size, mode: mode as "rw" | "ro", name, spindles: null, params };
}

/** A config disk for a request, on `nodes`; logical_id empty until an agent creates it. */
export function newDisk(req: DiskRequest, template: string, nodes: string[]): Disk {
  return {
    uuid: randomUUID(),
    name: req.name,
    size: req.size,
    mode: req.mode,
    dev_type: template,
    spindles: req.spindles,
    logical_id: [],
    params: { ...req.params },
    nodes: [...nodes],
    serial_no: 1,
    ctime: 0,
    mtime: 0,
  };
}

/** The memory/vcpus of beparams in Ganeti's old style ("memory") moved to maxmem/minmem. */
export function upgradeBeparams(be: ParamDict): void {
  if ("memory" in be) {
    be.maxmem = be.memory;
    be.minmem = be.memory;
    delete be.memory;
  }
}

/** Values a NIC's filled parameters give it, for job results and messages. */
export function nicFilled(cluster: Cluster, nic: Pick<Nic, "nicparams">): ParamDict {
  return filledNicparams(cluster, nic.nicparams);
}

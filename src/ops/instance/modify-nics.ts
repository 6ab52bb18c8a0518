// OP_INSTANCE_SET_PARAMS' NIC changes, planned on a copy of the NICs (Ganeti's _PrepareNicModification
// and _ApplyContainerMods for NICs): MACs, IPs from networks, links and modes checked.

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Instance, Nic, ParamDict } from "../../model/objects.ts";
import { forceDictType, NICS_PARAMETER_TYPES } from "../../model/paramdicts.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { getUpdatedParams } from "../params.ts";
import { findObject } from "../../query/resolve.ts";
import { filledNicparams } from "./common.ts";
import { checkConflictingIp, checkNicParamSyntax, groupNetParams, MacPool, macPrefix, MAX_NICS, NetworkIps, validateDeviceNames } from "./devices.ts";

import { addIndex, itemIndex, type Mod, type Params, type SetOp } from "./modify-mods.ts";

/** NIC changes on a copy of the NICs, with the change descriptions (Ganeti's _PrepareNicModification and friends). */
export function planNics(snap: ConfigSnapshot, op: SetOp, inst: Instance, mods: Mod[], ips: NetworkIps, log: (m: string) => void) {
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


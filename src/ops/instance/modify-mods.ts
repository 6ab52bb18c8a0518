// OP_INSTANCE_SET_PARAMS' arguments: the NIC and disk modifications in their current form
// (Ganeti's _UpgradeDiskNicMods), their indices and identifiers, and CheckArguments.

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Opcode } from "../../model/opcode.ts";
import { OpInstanceSetParams } from "../../model/opcodes/instance.ts";
import { forceDictType } from "../../model/paramdicts.ts";
import type { LuContext } from "../lu.ts";
import { INIC_PARAMS_TYPES, isValidIp, normalizeMac } from "./devices.ts";
import { checkHvNotGlobal } from "./params.ts";

type SetSpec = typeof OpInstanceSetParams.params;
export type SetOp = Opcode<SetSpec>;
export type Ctx = LuContext<SetSpec>;
export type Params = Record<string, unknown>;
export type Mod = [op: string, id: number | string, params: Params];

/** Templates Corral can convert between: it copies their data on the primary node. */
export const CONVERTIBLE = ["file", "sharedfile", "ext"];
export const isNone = (v: unknown) => typeof v === "string" && v.toLowerCase() === "none";

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
export function addIndex(kind: string, id: number | string, length: number): number {
  const idx = typeof id === "number" ? id : /^-?\d+$/.test(id) ? Number(id) : NaN;
  if (Number.isNaN(idx)) throw new OpPrereqError("Only positive integer or -1 is accepted", ECODE.inval);
  if (idx === -1) return length;
  if (idx < 0) throw new OpPrereqError("Not accepting negative indices other than -1", ECODE.inval);
  if (idx > length) throw new OpPrereqError(`Got ${kind} index ${idx}, but there are only ${length}`, ECODE.inval);
  return idx;
}

/** Ganeti's GetItemFromContainer: an index (-1 the last), a name or a uuid. */
export function itemIndex(kind: string, id: number | string, items: readonly { name: string | null; uuid: string }[]): number {
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

/** Ganeti's CheckArguments of LUInstanceSetParams. */
export function checkArguments(op: SetOp, log: (m: string) => void): { nics: Mod[]; disks: Mod[] } {
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


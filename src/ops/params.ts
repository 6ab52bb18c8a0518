// How the cluster, group and network LUs check and merge parameter changes (Ganeti's
// cmdlib/common helpers): "default" resets a key, sub-dicts are merged key by key,
// unknown keys and wrong types fail with Ganeti's messages and error classes.

import { DEFAULT_DISKPARAMS } from "../model/defaults.ts";
import { ECODE, GanetiError, OpPrereqError } from "../model/errors.ts";
import type { Instance, NestedParams, ParamDict } from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import {
  DISK_DT_TYPES, DS_VALID_TYPES, DSS_PARAMETER_TYPES, forceDictType, HVSTS_PARAMETER_TYPES, unknownOptionKeys, type TypeTable,
} from "../model/paramdicts.ts";
import { pyRepr } from "../model/pyrepr.ts";
import { HYPERVISORS } from "../model/constants.ts";

/** The value that resets a parameter to its inherited default (Ganeti's VALUE_DEFAULT). */
export const VALUE_DEFAULT = "default";

export const commaJoin = (items: Iterable<unknown>) => [...items].map(String).join(", ");

/** str() of a Ganeti exception: its message, or the repr of its args tuple. */
export function errorText(err: GanetiError): string {
  if (err.args.length === 1) return String(err.args[0]);
  return `(${err.args.map(pyRepr).join(", ")})`;
}

/** Ganeti's GetUpdatedParams: `update` laid over a copy of `old`; "default" (or null) deletes. */
export function getUpdatedParams(old: ParamDict, update: ParamDict, opts: { useDefault?: boolean; useNone?: boolean } = {}): ParamDict {
  const { useDefault = true, useNone = false } = opts;
  const out = structuredClone(old);
  for (const [key, value] of Object.entries(update)) {
    if ((useDefault && value === VALUE_DEFAULT) || (useNone && value === null)) delete out[key];
    else out[key] = structuredClone(value);
  }
  return out;
}

/** A sub-dict merge where each merged dict is type-checked (Ganeti's _UpdateAndVerifySubDict). */
function updateAndVerifySubDict(base: NestedParams, updates: NestedParams, types: TypeTable): NestedParams {
  const out = structuredClone(base);
  for (const [key, value] of Object.entries(updates)) {
    out[key] = forceDictType(getUpdatedParams(base[key] ?? {}, value), types);
  }
  return out;
}

/** Ganeti's MergeAndVerifyHvState: `{hypervisor: {mem_total, ...}}` merged over `current`. */
export function mergeAndVerifyHvState(update: Record<string, unknown>, current: ParamDict | undefined): NestedParams {
  const invalid = Object.keys(update).filter((hv) => !(HYPERVISORS as readonly string[]).includes(hv));
  if (invalid.length > 0) {
    throw new OpPrereqError(`Invalid hypervisor(s) in hypervisor state: ${commaJoin(invalid)}`, ECODE.inval);
  }
  return updateAndVerifySubDict((current ?? {}) as NestedParams, update as NestedParams, HVSTS_PARAMETER_TYPES);
}

/** Ganeti's MergeAndVerifyDiskState: `{storage type: {name: {disk_total, ...}}}`. */
export function mergeAndVerifyDiskState(update: Record<string, unknown>, current: ParamDict | undefined): Record<string, NestedParams> {
  const invalid = Object.keys(update).filter((st) => !DS_VALID_TYPES.includes(st));
  if (invalid.length > 0) throw new OpPrereqError(`Invalid storage type(s) in disk state: ${commaJoin(invalid)}`, ECODE.inval);
  const out: Record<string, NestedParams> = {};
  for (const [storage, names] of Object.entries(update)) {
    const base = ((current ?? {})[storage] ?? {}) as NestedParams;
    out[storage] = updateAndVerifySubDict(base, names as NestedParams, DSS_PARAMETER_TYPES);
  }
  return out;
}

const DISK_ACCESS_MODES = ["kernelspace", "userspace"];

/** Ganeti's CheckDiskAccessModeValidity (its error has no classification). */
export function checkDiskAccessModes(diskparams: NestedParams): void {
  for (const [template, params] of Object.entries(diskparams)) {
    const access = params.access ?? "kernelspace";
    if (!DISK_ACCESS_MODES.includes(access as string)) {
      throw new GanetiError("OpPrereqError", [
        `Invalid value of '${template}:access': '${String(access)}' (expected one of ${DISK_ACCESS_MODES.join(", ")})`,
      ]);
    }
  }
}

/** Disk templates whose access mode can be chosen (Ganeti's DTS_HAVE_ACCESS). */
const DTS_HAVE_ACCESS = ["rbd", "gluster", "ext"];

/**
 * Ganeti's CheckDiskAccessModeConsistency: userspace access only where the instance's
 * hypervisor can use it (KVM), checked over `instances`.
 */
export function checkDiskAccessModeConsistency(diskparams: NestedParams, instances: Iterable<Instance>): void {
  checkDiskAccessModes(diskparams);
  const all = [...instances];
  for (const [template, params] of Object.entries(diskparams)) {
    const access = (params.access ?? "kernelspace") as string;
    if (!DTS_HAVE_ACCESS.includes(template) || access === "kernelspace") continue;
    for (const inst of all) {
      if (inst.hypervisor === "kvm" || !inst.disks.some((d) => d.dev_type === template)) continue;
      throw new GanetiError("OpPrereqError", [
        `Instance ${inst.name}: cannot use '${access}' access setting with ${inst.hypervisor} hypervisor and ${template} disk type.`,
      ]);
    }
  }
}

/** Instances with a primary or secondary node in the group (Ganeti's GetNodeGroupInstances). */
export function groupInstances(snap: ConfigSnapshot, groupUuid: string): Instance[] {
  const inGroup = (uuid: string) => snap.nodes.get(uuid)?.group === groupUuid;
  return [...snap.instances.values()].filter((i) => inGroup(i.primary_node) || i.secondary_nodes.some(inGroup));
}

/** Type-checks each template's parameters, then refuses keys no template has. */
export function verifyDiskParams(diskparams: NestedParams): void {
  for (const params of Object.values(diskparams)) forceDictType(params, DISK_DT_TYPES);
  verifyingDiskParams(() => checkDiskParamKeys(diskparams));
}

/** Ganeti's VerifyDictOptions against the disk parameter defaults. */
export function checkDiskParamKeys(diskparams: NestedParams): void {
  const bad = unknownOptionKeys(diskparams, DEFAULT_DISKPARAMS as ParamDict);
  if (bad.length > 0) throw new OpPrereqError(`Provided option keys not supported: ${commaJoin(bad)}`, ECODE.inval);
}

/** Runs disk parameter checks, rewording their failures as Ganeti's LUs do. */
export function verifyingDiskParams(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof GanetiError) || err.errClass !== "OpPrereqError") throw err;
    throw new OpPrereqError(`While verify diskparams options: ${errorText(err)}`, ECODE.inval);
  }
}

/** Ganeti's NormalizeAndValidateThreeOctetMacPrefix: "AA:00:0f" → "aa:00:0f". */
export function normalizeMacPrefix(prefix: string): string {
  if (!/^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/i.test(prefix)) {
    throw new OpPrereqError(`Invalid MAC address prefix '${prefix}'`, ECODE.inval);
  }
  return prefix.toLowerCase();
}

// OP_INSTANCE_SET_PARAMS' disk changes, planned on a copy of the disks (Ganeti's
// _PreCheckDisks and _VerifyDiskModification), and disk template conversions (between file,
// sharedfile and ext, whose data Corral's agents copy).

import { groupIPolicy } from "../../alloc/policy.ts";
import { ECODE, GanetiError, OpPrereqError } from "../../model/errors.ts";
import type { Disk, Instance, ParamDict } from "../../model/objects.ts";
import { forceDictType } from "../../model/paramdicts.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { checkInstanceState, INSTANCE_DOWN, INSTANCE_NOT_RUNNING } from "./common.ts";
import {
  checkExtProvider, DISK_ACCESS_MODES, diskRequest, IDISK_PARAMS, IDISK_PARAMS_TYPES, MAX_DISKS, MODIFIABLE_IDISK_PARAMS_TYPES, newDisk,
  validateDeviceNames,
} from "./devices.ts";

import { addIndex, CONVERTIBLE, isNone, itemIndex, type Ctx, type Mod, type Params } from "./modify-mods.ts";

/** A disk action for exec, in the order the modifications were given. */
export type DiskAction =
  | { kind: "add"; index: number; disk: Disk }
  | { kind: "remove"; disk: Disk }
  | { kind: "modify"; uuid: string; changes: Partial<Disk> };

export interface Conversion {
  template: string;
  /** The new disks (not yet created), index for index. */
  disks: Disk[];
  label: string;
}

/** Disk changes on a copy of the disks (Ganeti's _PreCheckDisks and _VerifyDiskModification). */
export function planDisks(ctx: Ctx, snap: ConfigSnapshot, inst: Instance, mods: Mod[]) {
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
export function planConversion(ctx: Ctx, snap: ConfigSnapshot, inst: Instance): Conversion {
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


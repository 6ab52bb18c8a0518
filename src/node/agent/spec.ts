// Checks on the instance and disk descriptions the master sends, before the agent acts on
// them. Only what the agent relies on is checked; the master validated the rest.

import type { DiskExports, DiskSpec, InstanceSpec } from "../../rpc/calls.ts";
import { argError, checkInt, checkName, checkObject, checkString } from "../util/names.ts";

export function checkDiskSpec(value: unknown, what = "disk"): DiskSpec {
  const d = checkObject(value, what);
  checkName(d.uuid, `${what} uuid`);
  checkString(d.dev_type, `${what} dev_type`);
  if (!Array.isArray(d.logical_id)) throw argError(`${what} logical_id must be a list`);
  if (d.mode !== "rw" && d.mode !== "ro") throw argError(`${what} mode must be "rw" or "ro"`);
  checkInt(d.size, `${what} size`);
  if (d.params === undefined || d.params === null) d.params = {};
  checkObject(d.params, `${what} params`);
  return d as unknown as DiskSpec;
}

export function checkInstanceSpec(value: unknown): InstanceSpec {
  const i = checkObject(value, "instance");
  checkName(i.name, "instance name");
  checkString(i.hypervisor, "instance hypervisor");
  checkString(i.os, "instance os");
  for (const key of ["hvparams", "beparams", "osparams", "osparams_private"]) {
    if (i[key] === undefined || i[key] === null) i[key] = {};
    checkObject(i[key], `instance ${key}`);
  }
  if (!Array.isArray(i.disks)) throw argError("instance disks must be a list");
  i.disks.forEach((d, n) => checkDiskSpec(d, `disk ${n}`));
  if (!Array.isArray(i.nics)) throw argError("instance nics must be a list");
  i.nics.forEach((n, k) => {
    const nic = checkObject(n, `nic ${k}`);
    checkString(nic.mac, `nic ${k} mac`);
    if (nic.nicparams === undefined || nic.nicparams === null) nic.nicparams = {};
    checkObject(nic.nicparams, `nic ${k} nicparams`);
  });
  if (!Array.isArray(i.secondary_nodes)) i.secondary_nodes = [];
  for (const key of ["uuid", "primary_node"]) if (typeof i[key] !== "string") i[key] = "";
  for (const key of ["ctime", "mtime"]) if (typeof i[key] !== "number") i[key] = 0;
  return i as unknown as InstanceSpec;
}

/** Memory and vCPUs from filled beparams (maxmem/minmem, falling back to the old `memory`). */
export function memoryParams(inst: InstanceSpec): { maxmem: number; minmem: number; vcpus: number } {
  const be = inst.beparams;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null);
  const maxmem = num(be.maxmem) ?? num(be.memory);
  if (maxmem === null) throw argError(`Instance ${inst.name}: beparams need maxmem (MiB)`);
  const minmem = Math.min(num(be.minmem) ?? maxmem, maxmem);
  const vcpus = num(be.vcpus) ?? 1;
  return { maxmem, minmem, vcpus };
}

/** What a migration target said it exports over NBD (the source connects to it). */
export function checkDiskExports(value: unknown): DiskExports {
  const e = checkObject(value, "storage");
  const port = checkInt(e.port, "storage port", 1);
  if (port > 65535) throw argError(`storage port must be at most 65535, got ${port}`);
  const exports = checkObject(e.exports, "storage exports");
  for (const [uuid, name] of Object.entries(exports)) {
    checkName(uuid, "exported disk uuid");
    checkName(name, `export name of disk ${uuid}`);
  }
  return { port, exports: exports as Record<string, string> };
}

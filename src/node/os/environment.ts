// The environment OS scripts run with (ganeti-os-interface(7)). Nothing of the agent's own
// environment leaks in: scripts see exactly these variables.

import type { ParamDict } from "../../model/objects.ts";
import { pyRepr } from "../../model/pyrepr.ts";
import type { AttachedDisk, InstanceSpec } from "../../rpc/calls.ts";
import { SCRIPT_PATH } from "../util/exec.ts";
import { splitOsName, type OsDefinition } from "./definition.ts";

/** Templates whose disks the node sees as block devices, and those it sees as files. */
const BLOCK_TEMPLATES = new Set(["plain", "drbd", "blockdev", "rbd", "ext"]);
const FILE_TEMPLATES = new Set(["file", "sharedfile", "gluster"]);

/** Python's str() of a parameter value, as Ganeti exports it. */
function envValue(value: unknown): string {
  return typeof value === "string" ? value : pyRepr(value);
}

/** Variables every OS script gets (Ganeti's OSCoreEnv). `osName` may carry "+variant". */
export function osCoreEnv(osName: string, os: OsDefinition, osparams: ParamDict, debug: number): Record<string, string> {
  const env: Record<string, string> = {
    OS_API_VERSION: String(os.apiVersion),
    OS_NAME: os.name,
    DEBUG_LEVEL: String(debug),
  };
  let variant = "";
  if (os.apiVersion >= 15 && os.variants.length > 0) {
    variant = splitOsName(osName)[1] || os.variants[0];
  }
  env.OS_VARIANT = variant;
  for (const [name, value] of Object.entries(osparams)) {
    env[`OSP_${name.toUpperCase().replace(/-/g, "_")}`] = envValue(value);
  }
  env.PATH = SCRIPT_PATH;
  return env;
}

/**
 * The full environment for an instance's script (Ganeti's OSEnvironment). `disks[i]` is where
 * disk i is attached on this node.
 */
export function osEnvironment(inst: InstanceSpec, os: OsDefinition, debug: number, disks: AttachedDisk[]): Record<string, string> {
  const env = osCoreEnv(inst.os, os, { ...inst.osparams, ...inst.osparams_private }, debug);
  env.INSTANCE_NAME = inst.name;
  env.INSTANCE_OS = inst.os;
  env.INSTANCE_UUID = inst.uuid;
  env.INSTANCE_CTIME = String(inst.ctime);
  env.INSTANCE_MTIME = String(inst.mtime);
  env.INSTANCE_PRIMARY_NODE = inst.primary_node;
  env.INSTANCE_SECONDARY_NODES = inst.secondary_nodes.join(" ");
  env.HYPERVISOR = inst.hypervisor;
  env.DISK_COUNT = String(inst.disks.length);
  env.NIC_COUNT = String(inst.nics.length);

  inst.disks.forEach((disk, i) => {
    const where = disks[i];
    env[`DISK_${i}_ACCESS`] = disk.mode;
    env[`DISK_${i}_UUID`] = disk.uuid;
    env[`DISK_${i}_SIZE`] = String(disk.size);
    if (where?.path) env[`DISK_${i}_PATH`] = where.path;
    // A userspace URI only matters when the disk is meant to be reached that way.
    const uri = disk.params?.access === "userspace"
      ? where?.uris.find((u) => u.startsWith(`${inst.hypervisor}:`))?.slice(inst.hypervisor.length + 1)
      : undefined;
    if (uri) env[`DISK_${i}_URI`] = uri;
    if (disk.name) env[`DISK_${i}_NAME`] = disk.name;
    if ("disk_type" in inst.hvparams) env[`DISK_${i}_FRONTEND_TYPE`] = envValue(inst.hvparams.disk_type);
    if (BLOCK_TEMPLATES.has(disk.dev_type)) env[`DISK_${i}_BACKEND_TYPE`] = "block";
    else if (FILE_TEMPLATES.has(disk.dev_type)) env[`DISK_${i}_BACKEND_TYPE`] = `file:${String(disk.logical_id[0])}`;
  });

  inst.nics.forEach((nic, i) => {
    env[`NIC_${i}_MAC`] = nic.mac;
    env[`NIC_${i}_UUID`] = nic.uuid;
    if (nic.name) env[`NIC_${i}_NAME`] = nic.name;
    if (nic.ip) env[`NIC_${i}_IP`] = nic.ip;
    const mode = nic.nicparams.mode;
    const link = nic.nicparams.link;
    if (typeof mode === "string") env[`NIC_${i}_MODE`] = mode;
    if (mode === "bridged" && typeof link === "string") env[`NIC_${i}_BRIDGE`] = link;
    if (typeof link === "string" && link !== "") env[`NIC_${i}_LINK`] = link;
    const net = nic.netinfo;
    if (net) {
      const p = `NIC_${i}_NETWORK_`;
      env[`${p}NAME`] = net.name;
      env[`${p}UUID`] = net.uuid;
      env[`${p}TAGS`] = net.tags.join(" ");
      if (net.network) env[`${p}SUBNET`] = net.network;
      if (net.gateway) env[`${p}GATEWAY`] = net.gateway;
      if (net.network6) env[`${p}SUBNET6`] = net.network6;
      if (net.gateway6) env[`${p}GATEWAY6`] = net.gateway6;
      if (net.mac_prefix) env[`${p}MAC_PREFIX`] = net.mac_prefix;
    }
    if ("nic_type" in inst.hvparams) env[`NIC_${i}_FRONTEND_TYPE`] = envValue(inst.hvparams.nic_type);
  });

  for (const [kind, params] of [["BE", inst.beparams], ["HV", inst.hvparams]] as const) {
    for (const [key, value] of Object.entries(params)) env[`INSTANCE_${kind}_${key}`] = envValue(value);
  }
  return env;
}

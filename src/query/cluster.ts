// The cluster dict of GET /2/info (Ganeti's luxid QueryClusterInfo): 55 keys, plus the two
// aliases RAPI adds (vg_name, drbd_helper).

import { endianness } from "node:os";
import type { ConfigSnapshot } from "../store/store.ts";
import { fillIPolicy } from "./context.ts";
import { CORRAL_VERSION } from "../version.ts";

/**
 * Version numbers /2/info reports.
 *
 * `software_version`, `protocol_version` and `config_version` name the Ganeti release whose
 * RAPI Corral reproduces (3.0.2, whose versions are 1000000*major + 10000*minor). Clients
 * read them to decide what the server supports, so they describe the wire surface, not
 * Corral's own release; Corral's version goes into `vcs_version`, in the form Ganeti uses
 * for its build id ("(ganeti) version 3.0.2-3"). The 3.1 additions Corral also serves
 * (custom_osparams in instance output) are extra keys old clients ignore.
 */
export interface VersionInfo {
  software_version: string;
  protocol_version: number;
  config_version: number;
  os_api_version: number;
  export_version: number;
  vcs_version: string;
}


export const VERSIONS: VersionInfo = {
  software_version: "3.0.2",
  protocol_version: 3000000,
  config_version: 3000000,
  os_api_version: 20,
  export_version: 0,
  vcs_version: `(corral) version ${CORRAL_VERSION}`,
};

/** The same versions under the name the first /2/info implementation exported. */
export const COMPAT = VERSIONS;

const ARCH_NAMES: Record<string, string> = {
  x64: "x86_64", arm64: "aarch64", ia32: "i386", arm: "arm", ppc64: "powerpc64", s390x: "s390x",
  riscv64: "riscv64", loong64: "loongarch64", mips: "mips", mipsel: "mipsel",
};
const BITS_32 = new Set(["ia32", "arm", "mips", "mipsel"]);

/** `["64bits", "x86_64"]`: the master's word size and machine name, as Haskell reports them. */
export function architecture(arch: string = process.arch): [string, string] {
  let name = ARCH_NAMES[arch] ?? arch;
  if (arch === "ppc64" && endianness() === "LE") name = "powerpc64le";
  return [BITS_32.has(arch) ? "32bits" : "64bits", name];
}

/** The /2/info dict for a snapshot, keys in Ganeti's order. */
export function clusterInfo(snap: ConfigSnapshot, versions: VersionInfo = VERSIONS): Record<string, unknown> {
  const c = snap.cluster;
  const master = snap.nodes.get(c.master_node);
  if (!master) throw new Error(`config error: master node ${c.master_node} is not in the configuration`);
  const info: Record<string, unknown> = {
    software_version: versions.software_version,
    protocol_version: versions.protocol_version,
    config_version: versions.config_version,
    os_api_version: versions.os_api_version,
    export_version: versions.export_version,
    vcs_version: versions.vcs_version,
    architecture: architecture(),
    name: c.name,
    master: master.name,
    default_hypervisor: c.enabled_hypervisors[0] ?? null,
    enabled_hypervisors: c.enabled_hypervisors,
    hvparams: c.hvparams,
    os_hvp: c.os_hvp,
    beparams: c.beparams,
    osparams: c.osparams,
    ipolicy: fillIPolicy(c.ipolicy),
    nicparams: c.nicparams,
    ndparams: c.ndparams,
    diskparams: c.diskparams,
    candidate_pool_size: c.candidate_pool_size,
    max_running_jobs: c.max_running_jobs,
    max_tracked_jobs: c.max_tracked_jobs,
    mac_prefix: c.mac_prefix,
    master_netdev: c.master_netdev,
    master_netmask: c.master_netmask,
    use_external_mip_script: c.use_external_mip_script,
    volume_group_name: c.volume_group_name ?? null,
    drbd_usermode_helper: c.drbd_usermode_helper ?? null,
    file_storage_dir: c.file_storage_dir,
    shared_file_storage_dir: c.shared_file_storage_dir,
    gluster_storage_dir: c.gluster_storage_dir,
    maintain_node_health: c.maintain_node_health,
    ctime: c.ctime,
    mtime: c.mtime,
    uuid: c.uuid,
    tags: c.tags,
    uid_pool: c.uid_pool,
    default_iallocator: c.default_iallocator,
    default_iallocator_params: c.default_iallocator_params,
    reserved_lvs: c.reserved_lvs,
    primary_ip_version: c.primary_ip_family,
    prealloc_wipe_disks: c.prealloc_wipe_disks,
    hidden_os: c.hidden_os,
    blacklisted_os: c.blacklisted_os,
    enabled_disk_templates: c.enabled_disk_templates,
    install_image: c.install_image,
    instance_communication_network: c.instance_communication_network,
    zeroing_image: c.zeroing_image,
    compression_tools: c.compression_tools,
    enabled_user_shutdown: c.enabled_user_shutdown,
    enabled_data_collectors: c.enabled_data_collectors,
    data_collector_interval: c.data_collector_interval,
    modify_ssh_setup: c.modify_ssh_setup,
    ssh_key_type: c.ssh_key_type,
    ssh_key_bits: c.ssh_key_bits,
  };
  info.vg_name = info.volume_group_name;
  info.drbd_helper = info.drbd_usermode_helper;
  return info;
}

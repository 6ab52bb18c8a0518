// /2/info: Ganeti's QueryClusterInfo dict, computed from the config.

import { arch } from "node:os";
import type { ConfigSnapshot } from "../store/store.ts";

/** What Corral reports as its Ganeti compatibility level (the RAPI surface of Ganeti 3.0/3.1). */
export const COMPAT = {
  software_version: "3.0.2",
  protocol_version: 3000000,
  config_version: 3000000,
  os_api_version: 20,
  export_version: 0,
  vcs_version: "(corral) version 0.1.0",
} as const;

const ARCH: Record<string, string> = { x64: "x86_64", arm64: "aarch64", ia32: "i686", arm: "armv7l", ppc64: "ppc64le", s390x: "s390x" };

export function clusterInfo(snap: ConfigSnapshot): Record<string, unknown> {
  const c = snap.cluster;
  return {
    ...COMPAT,
    architecture: [`${process.arch.endsWith("64") ? 64 : 32}bits`, ARCH[arch()] ?? arch()],
    name: c.name,
    master: snap.nodes.get(c.master_node)?.name ?? null,
    default_hypervisor: c.enabled_hypervisors[0] ?? null,
    enabled_hypervisors: c.enabled_hypervisors,
    hvparams: c.hvparams,
    os_hvp: c.os_hvp,
    beparams: c.beparams,
    osparams: c.osparams,
    ipolicy: c.ipolicy,
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
    volume_group_name: c.volume_group_name,
    drbd_usermode_helper: c.drbd_usermode_helper,
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
}

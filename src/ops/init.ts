// The configuration of a new cluster: one node group "default", the master node, and
// cluster parameters with Ganeti's defaults.

import { randomUUID } from "node:crypto";
import {
  DEFAULT_BEPARAMS, DEFAULT_COMPRESSION_TOOLS, DEFAULT_DATA_COLLECTOR_INTERVAL, DEFAULT_DATA_COLLECTORS,
  DEFAULT_DISKPARAMS, DEFAULT_HVPARAMS, DEFAULT_NDPARAMS, DEFAULT_NICPARAMS, defaultIPolicy,
} from "../model/defaults.ts";
import type { Cluster, Node, NodeGroup } from "../model/objects.ts";
import { nowSeconds } from "../store/memory.ts";
import type { InitializableStore } from "../store/store.ts";

export interface ClusterInitOptions {
  clusterName: string;
  nodeName: string;
  nodeIp: string;
  enabledHypervisors: string[];
  enabledDiskTemplates: string[];
  fileStorageDir: string;
  sharedFileStorageDir: string;
  /** How the master reaches this node's agent ("local" for the in-process agent). */
  agentEndpoint: string;
}

export function initialConfig(o: ClusterInitOptions): { cluster: Cluster; group: NodeGroup; node: Node } {
  const now = nowSeconds();
  const stamp = { serial_no: 1, ctime: now, mtime: now, tags: [] as string[] };
  const group: NodeGroup = {
    ...stamp,
    uuid: randomUUID(),
    name: "default",
    alloc_policy: "preferred",
    ndparams: {},
    diskparams: {},
    ipolicy: {},
    hv_state_static: {},
    disk_state_static: {},
    networks: {},
  };
  const node: Node = {
    ...stamp,
    uuid: randomUUID(),
    name: o.nodeName,
    primary_ip: o.nodeIp,
    secondary_ip: o.nodeIp,
    group: group.uuid,
    offline: false,
    drained: false,
    master_candidate: true,
    master_capable: true,
    vm_capable: true,
    ndparams: {},
    agent_endpoint: o.agentEndpoint,
    powered: true,
  };
  const cluster: Cluster = {
    ...stamp,
    tags: [],
    uuid: randomUUID(),
    name: o.clusterName,
    master_node: node.uuid,
    enabled_hypervisors: [...o.enabledHypervisors],
    hvparams: structuredClone(DEFAULT_HVPARAMS),
    os_hvp: {},
    beparams: { default: structuredClone(DEFAULT_BEPARAMS) },
    osparams: {},
    osparams_private_cluster: {},
    nicparams: { default: structuredClone(DEFAULT_NICPARAMS) },
    ndparams: structuredClone(DEFAULT_NDPARAMS),
    diskparams: structuredClone(DEFAULT_DISKPARAMS),
    ipolicy: defaultIPolicy(o.enabledDiskTemplates),
    candidate_pool_size: 10,
    max_running_jobs: 20,
    max_tracked_jobs: 25,
    mac_prefix: "aa:00:00",
    master_netdev: "lo",
    master_netmask: 32,
    master_ip: o.nodeIp,
    use_external_mip_script: false,
    volume_group_name: null,
    drbd_usermode_helper: null,
    file_storage_dir: o.fileStorageDir,
    shared_file_storage_dir: o.sharedFileStorageDir,
    gluster_storage_dir: "",
    maintain_node_health: false,
    uid_pool: [],
    default_iallocator: "hail",
    default_iallocator_params: {},
    reserved_lvs: [],
    primary_ip_family: 4,
    prealloc_wipe_disks: false,
    hidden_os: [],
    blacklisted_os: [],
    enabled_disk_templates: [...o.enabledDiskTemplates],
    install_image: "",
    instance_communication_network: "",
    zeroing_image: "",
    compression_tools: [...DEFAULT_COMPRESSION_TOOLS],
    enabled_user_shutdown: false,
    enabled_data_collectors: { ...DEFAULT_DATA_COLLECTORS },
    data_collector_interval: { ...DEFAULT_DATA_COLLECTOR_INTERVAL },
    modify_etc_hosts: false,
    modify_ssh_setup: false,
    ssh_key_type: "rsa",
    ssh_key_bits: 2048,
  };
  return { cluster, group, node };
}

export function initializeCluster(store: InitializableStore, o: ClusterInitOptions): void | Promise<void> {
  const { cluster, group, node } = initialConfig(o);
  return store.initialize(cluster, (tx) => {
    tx.add("nodegroup", group);
    tx.add("node", node);
  });
}

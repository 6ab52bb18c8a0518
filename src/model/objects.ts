// The cluster configuration's object types. Field names follow Ganeti's config objects, so
// query fields map onto them directly. Every stored object has uuid, serial_no, ctime, mtime.

import type { AutoBalance } from "./autobalance.ts";
import type { PvcInstanceData, PvcNetworkData, PvcNodeData } from "./pvc.ts";

export interface ConfigObject {
  uuid: string;
  serial_no: number;
  /** Epoch seconds (float). */
  ctime: number;
  mtime: number;
  tags: string[];
}

export type ParamDict = Record<string, unknown>;
/** Parameters per hypervisor / disk template / OS: `{outer: {param: value}}`. */
export type NestedParams = Record<string, ParamDict>;

export interface ISpec {
  "memory-size": number;
  "cpu-count": number;
  "disk-count": number;
  "disk-size": number;
  "nic-count": number;
  "spindle-use": number;
}

export interface IPolicy {
  minmax: { min: ISpec; max: ISpec }[];
  std: ISpec;
  "disk-templates": string[];
  "vcpu-ratio": number;
  "spindle-ratio": number;
}

export interface Cluster extends ConfigObject {
  name: string;
  master_node: string; // node uuid
  enabled_hypervisors: string[];
  hvparams: NestedParams;
  os_hvp: Record<string, NestedParams>;
  beparams: Record<string, ParamDict>;
  osparams: NestedParams;
  osparams_private_cluster: NestedParams;
  nicparams: Record<string, ParamDict>;
  ndparams: ParamDict;
  diskparams: NestedParams;
  ipolicy: IPolicy;
  candidate_pool_size: number;
  max_running_jobs: number;
  max_tracked_jobs: number;
  mac_prefix: string;
  master_netdev: string;
  master_netmask: number;
  master_ip: string;
  use_external_mip_script: boolean;
  volume_group_name: string | null;
  drbd_usermode_helper: string | null;
  file_storage_dir: string;
  shared_file_storage_dir: string;
  gluster_storage_dir: string;
  maintain_node_health: boolean;
  uid_pool: [number, number][];
  default_iallocator: string;
  default_iallocator_params: ParamDict;
  reserved_lvs: string[];
  primary_ip_family: 4 | 6;
  prealloc_wipe_disks: boolean;
  hidden_os: string[];
  blacklisted_os: string[];
  enabled_disk_templates: string[];
  install_image: string;
  instance_communication_network: string;
  zeroing_image: string;
  compression_tools: string[];
  enabled_user_shutdown: boolean;
  enabled_data_collectors: Record<string, boolean>;
  data_collector_interval: Record<string, number>;
  modify_etc_hosts: boolean;
  modify_ssh_setup: boolean;
  ssh_key_type: string;
  ssh_key_bits: number;
  /** Ports given back by removed instances, handed out again first (Ganeti's tcpudp_port_pool). */
  tcpudp_port_pool?: number[];
  /** The highest network_port ever allocated (Ganeti's highest_used_port). */
  highest_used_port?: number;
  /** Hypervisor and disk state an operator declared (Ganeti's hv_state_static/disk_state_static). */
  hv_state_static?: ParamDict;
  disk_state_static?: ParamDict;
  /** Corral's automatic balancing (model/autobalance.ts); absent: its defaults. */
  auto_balancing?: Partial<AutoBalance>;
}

export interface Node extends ConfigObject {
  name: string;
  primary_ip: string;
  secondary_ip: string;
  group: string; // group uuid
  offline: boolean;
  drained: boolean;
  master_candidate: boolean;
  master_capable: boolean;
  vm_capable: boolean;
  ndparams: ParamDict;
  /** Where the master reaches the node agent: "local" (in-process) or "https://host:port". */
  agent_endpoint: string;
  powered: boolean;
  /** Hypervisor and disk state an operator declared (Ganeti's hv_state_static/disk_state_static). */
  hv_state_static?: ParamDict;
  disk_state_static?: ParamDict;
  /** PVC API data (domain state); see model/pvc.ts. */
  pvc?: PvcNodeData;
}

export interface NodeGroup extends ConfigObject {
  name: string;
  alloc_policy: "preferred" | "last_resort" | "unallocable";
  ndparams: ParamDict;
  diskparams: NestedParams;
  ipolicy: Partial<IPolicy>;
  hv_state_static: ParamDict;
  disk_state_static: ParamDict;
  /** network uuid → {mode, link, vlan} */
  networks: Record<string, ParamDict>;
}

export interface Disk {
  uuid: string;
  name: string | null;
  size: number; // MiB
  mode: "rw" | "ro";
  dev_type: string; // disk template of this disk
  spindles: number | null;
  /** Template-specific identity of the storage (file path, provider/volume, ...). */
  logical_id: unknown[];
  params: ParamDict;
  nodes: string[]; // node uuids that hold it
  serial_no: number;
  ctime: number;
  mtime: number;
}

export interface Nic {
  uuid: string;
  name: string | null;
  mac: string;
  ip: string | null;
  network: string | null; // network uuid
  nicparams: ParamDict;
}

export type AdminState = "up" | "down" | "offline";

export interface Instance extends ConfigObject {
  name: string;
  primary_node: string; // node uuid
  secondary_nodes: string[];
  os: string;
  hypervisor: string;
  hvparams: ParamDict;
  beparams: ParamDict;
  osparams: ParamDict;
  osparams_private: ParamDict;
  admin_state: AdminState;
  admin_state_source: "admin" | "user";
  disk_template: string;
  disks: Disk[];
  nics: Nic[];
  network_port: number | null;
  disks_active: boolean;
  /** PVC API data (libvirt XML, last node, state intent); see model/pvc.ts. */
  pvc?: PvcInstanceData;
}

export interface Network extends ConfigObject {
  name: string;
  network: string;
  gateway: string | null;
  network6: string | null;
  gateway6: string | null;
  mac_prefix: string | null;
  /** One char per address of `network`: "1" reserved externally, "0" free. */
  ext_reservations: string;
  /** One char per address: "1" in use by an instance NIC, "0" free. */
  reservations: string;
  /** PVC API data (VNI, type, DHCP, leases, ACLs); see model/pvc.ts. */
  pvc?: PvcNetworkData;
}

export type FilterAction = "ACCEPT" | "PAUSE" | "REJECT" | "CONTINUE" | ["RATE_LIMIT", number];

export interface FilterRule {
  uuid: string;
  watermark: number;
  priority: number;
  predicates: unknown[];
  action: FilterAction;
  reason_trail: unknown[];
}

/** Kinds of stored objects, as the store names its collections. */
export type ObjectKind = "node" | "nodegroup" | "instance" | "network" | "filter";

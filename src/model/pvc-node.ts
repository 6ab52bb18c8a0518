// Wire types of the node calls the PVC API needs (declared in calls.ts): the storage layer
// (pools, volumes, snapshots, OSDs — local files or Ceph) and managed-network configuration
// (dnsmasq, nftables). Plain JSON data only.

/** Which storage layer serves the cluster: files under the shared file storage dir, or Ceph. */
export type StorageBackendKind = "local" | "ceph";

export type StorageRequest =
  | { op: "status" }
  | { op: "df" }
  | { op: "pool_list" }
  | { op: "pool_add"; pool: string; pgs: number }
  | { op: "pool_remove"; pool: string }
  | { op: "volume_list"; pool?: string }
  /** Sizes in bytes. */
  | { op: "volume_add"; pool: string; volume: string; size: number }
  | { op: "volume_resize"; pool: string; volume: string; size: number }
  | { op: "volume_rename"; pool: string; volume: string; new_name: string }
  | { op: "volume_remove"; pool: string; volume: string }
  /** How an instance disk reaches the volume (Corral disk template and logical id). */
  | { op: "volume_disk"; pool: string; volume: string }
  /** Drops stale locks a crashed VM left on the volume (RBD locks; nothing to do locally). */
  | { op: "lock_flush"; pool: string; volume: string }
  | { op: "snapshot_list"; pool?: string; volume?: string }
  | { op: "snapshot_add"; pool: string; volume: string; snapshot: string }
  | { op: "snapshot_rename"; pool: string; volume: string; snapshot: string; new_name: string }
  | { op: "snapshot_remove"; pool: string; volume: string; snapshot: string }
  /** OSDs of this node (local backend) or of the whole Ceph cluster. */
  | { op: "osd_list" }
  | { op: "osd_add"; id: number; device: string; weight: number }
  | { op: "osd_remove"; id: string }
  | { op: "osd_state"; id: string; state: "in" | "out" }
  | { op: "option"; action: "set" | "unset"; option: string };

export type StorageOp = StorageRequest["op"];

export interface PoolInfo {
  name: string;
  pgs: number;
  stats: Record<string, number>;
}

export interface VolumeInfo {
  pool: string;
  name: string;
  /** Bytes. */
  size: number;
  /** `rbd info --format json` fields. */
  stats: Record<string, unknown>;
}

export interface SnapshotInfo {
  pool: string;
  volume: string;
  name: string;
}

export interface OsdInfo {
  id: string;
  /** Node name as the backend knows it ("" when unknown). */
  node: string;
  device: string;
  stats: Record<string, unknown>;
}

export interface VolumeDisk {
  dev_type: string;
  logical_id: unknown[];
  /** MiB, rounded up. */
  size: number;
}

/** One reply shape for every storage request; each request fills the member it is about. */
export interface StorageReply {
  /** Status and df text (`ceph status`, `rados df` or the local backend's equivalent). */
  text?: string;
  pools?: PoolInfo[];
  volumes?: VolumeInfo[];
  snapshots?: SnapshotInfo[];
  osds?: OsdInfo[];
  disk?: VolumeDisk;
  /** The OSD id an osd_add created. */
  id?: string;
}

/** A managed or bridged network as a node renders it. */
export interface NetConfigSpec {
  vni: number;
  name: string;
  type: "managed" | "bridged";
  domain: string;
  ip4_network: string | null;
  ip4_gateway: string | null;
  ip6_network: string | null;
  ip6_gateway: string | null;
  dhcp4: { start: string; end: string } | null;
  reservations: { mac: string; ip: string; hostname: string }[];
  acls: { in: { description: string; rule: string }[]; out: { description: string; rule: string }[] };
}

export interface NetConfigureArgs {
  networks: NetConfigSpec[];
  /** The node that serves DHCP/DNS (PVC's primary coordinator): it runs dnsmasq. */
  gateway: boolean;
  /** Only render and validate; change nothing. */
  check_only?: boolean;
}

/** What happened to one tool's configuration on the node. */
export interface ToolReport {
  /** "applied", "validated", "written" (tool missing: rendered only), "failed". */
  status: "applied" | "validated" | "written" | "failed";
  detail: string;
  files: string[];
}

export interface NetConfigureResult {
  nftables: ToolReport;
  dnsmasq: ToolReport;
}

/** A DHCP lease dnsmasq handed out (its lease file). */
export interface DhcpLease {
  mac: string;
  ip: string;
  hostname: string;
  /** Epoch seconds; 0 for infinite. */
  expiry: number;
  client_id: string;
}

// Ganeti's enumerations that opcode parameters are checked against (Ganeti's constants and
// Ganeti.Types). Order follows Ganeti's constants; a check only cares about membership.

export const DISK_TEMPLATES = [
  "diskless", "file", "sharedfile", "plain", "drbd", "blockdev", "rbd", "ext", "gluster",
] as const;
export type DiskTemplate = (typeof DISK_TEMPLATES)[number];

export const HYPERVISORS = ["fake", "kvm", "xen-pvm", "xen-hvm", "chroot", "lxc"] as const;
export type Hypervisor = (typeof HYPERVISORS)[number];

export const STORAGE_TYPES = [
  "file", "sharedfile", "lvm-pv", "lvm-vg", "diskless", "ext", "rbd", "gluster",
] as const;
export type StorageType = (typeof STORAGE_TYPES)[number];

/** Network modes a network can be connected to a node group with (Ganeti.Types.NICMode). */
export const NIC_MODES = ["bridged", "routed", "openvswitch", "pool"] as const;
export type NicMode = (typeof NIC_MODES)[number];

/** Keys of an instance NIC definition (INIC_PARAMS). */
export const NIC_PARAMS = ["mac", "ip", "mode", "link", "name", "network", "vlan", "bridge"] as const;

export const MAX_DISKS = 16;

/**
 * Corral's `migrate_storage` (not Ganeti's): the templates whose disks a live migration can
 * take along, and the hypervisors that mirror disks while the guest runs. The migration's
 * checks and the balancer's storage moves both read these.
 */
export const DTS_MIGRATABLE_STORAGE: readonly string[] = ["file"];
export const STORAGE_MIGRATING_HYPERVISORS: readonly string[] = ["kvm"];

/** Device modifications of instance/cluster set-params (DDMS_VALUES and *_WITH_MODIFY). */
export const DDM_VALUES = ["add", "remove", "attach", "detach"] as const;
export const DDM_VALUES_WITH_MODIFY = [...DDM_VALUES, "modify"] as const;

export const ALLOC_POLICIES = ["preferred", "last_resort", "unallocable"] as const;
export const EXPORT_MODES = ["local", "remote"] as const;
export const INSTANCE_CREATE_MODES = ["create", "import", "remote-import"] as const;
export const REBOOT_TYPES = ["soft", "hard", "full"] as const;
export const REPLACE_DISKS_MODES = [
  "replace_on_primary", "replace_on_secondary", "replace_new_secondary", "replace_auto",
] as const;
export const MIGRATION_MODES = ["live", "non-live"] as const;
export const NODE_EVAC_MODES = ["primary-only", "secondary-only", "all"] as const;
export const FILE_DRIVERS = ["loop", "blktap", "blktap2"] as const;
export const ADMIN_STATE_SOURCES = ["admin", "user"] as const;

/** Resources OP_QUERY / OP_QUERY_FIELDS accept (QR_VIA_OP plus QR_VIA_LUXI). */
export const QUERY_RESOURCES = [
  "cluster", "instance", "node", "group", "os", "export", "extstorage", "network", "lock",
  "job", "filter",
] as const;

/** Seconds an instance gets to shut down (DEFAULT_SHUTDOWN_TIMEOUT). */
export const DEFAULT_SHUTDOWN_TIMEOUT = 120;

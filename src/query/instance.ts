// Instance fields (Ganeti's Query/Instance.hs): 292 in Ganeti 3.0, with the per-disk and
// per-NIC fields expanded and the be/ and hv/ parameter fields.

import type { Instance, Nic } from "../model/objects.ts";
import type { SnapIndex } from "./context.ts";
import { alias, field, FieldTable, live, NODATA, type NoValue, OFFLINE, UNAVAIL, type FieldDef, type FieldKind } from "./fields.ts";
import { type InstanceLive, type LiveState, nodeAnswered } from "./live.ts";

export interface InstanceRow {
  readonly inst: Instance;
  readonly idx: SnapIndex;
  readonly live: LiveState;
}

export const MAX_DISKS = 16;
export const MAX_NICS = 8;
/** Extra MiB a DRBD disk uses on each node for its metadata (DRBD_META_SIZE). */
export const DRBD_META_SIZE = 128;

export type InstanceStatus =
  | "running" | "ADMIN_down" | "ADMIN_offline" | "ERROR_up" | "ERROR_down" | "ERROR_wrongnode"
  | "ERROR_nodedown" | "ERROR_nodeoffline" | "USER_down";

// ---- live data ----

/** What the hypervisors say about the instance, or why nobody could say (Ganeti's Runtime). */
type Runtime = { info: InstanceLive | undefined } | NoValue;

function runtime(r: InstanceRow): Runtime {
  const info = r.live.instances.get(r.inst.uuid);
  if (info) return { info };
  const pnode = r.idx.snap.nodes.get(r.inst.primary_node);
  if (pnode?.offline) return OFFLINE;
  if (!pnode || !nodeAnswered(r.live, pnode.uuid)) return NODATA;
  return { info: undefined };
}

function userShutdownAllowed(r: InstanceRow): boolean {
  if (!r.idx.cluster.enabled_user_shutdown) return false;
  return r.inst.hypervisor !== "kvm" || r.idx.instanceHvparams(r.inst)["user_shutdown"] === true;
}

/** Ganeti's determineInstanceStatus, from the admin state and what the nodes report. */
export function instanceStatus(r: InstanceRow): InstanceStatus {
  const { inst } = r;
  const pnode = r.idx.snap.nodes.get(inst.primary_node);
  if (pnode?.offline) return "ERROR_nodeoffline";
  const rt = runtime(r);
  if (!("info" in rt)) return "ERROR_nodedown";
  const info = rt.info;
  if (info) {
    if (info.node !== inst.primary_node) return "ERROR_wrongnode";
    if (info.running) return inst.admin_state === "up" ? "running" : "ERROR_up";
    if (inst.admin_state === "up") return userShutdownAllowed(r) ? "USER_down" : "ERROR_down";
    return "ADMIN_down";
  }
  switch (inst.admin_state) {
    case "up":
      return "ERROR_down";
    case "offline":
      return "ADMIN_offline";
    default:
      return inst.admin_state_source === "user" && r.idx.cluster.enabled_user_shutdown ? "USER_down" : "ADMIN_down";
  }
}

function liveValue(r: InstanceRow, get: (info: InstanceLive) => unknown): unknown {
  const rt = runtime(r);
  if (!("info" in rt)) return rt;
  return rt.info ? get(rt.info) : UNAVAIL;
}

// ---- disks and NICs ----

function diskTemplate(inst: Instance): string {
  let t: string | undefined;
  for (const d of inst.disks) {
    if (t === undefined) t = d.dev_type;
    else if (t !== d.dev_type) return "mixed";
  }
  return t ?? "diskless";
}

/** Disk space the instance takes on each of its nodes (Ganeti's disk_usage). */
export function diskUsage(inst: Instance): number {
  let sum = 0;
  for (const d of inst.disks) {
    if (d.dev_type === "drbd") sum += d.size + DRBD_META_SIZE;
    else if (d.dev_type !== "diskless" && d.dev_type !== "blockdev") sum += d.size;
  }
  return sum;
}

/** A NIC parameter filled from the cluster's default nicparams. */
function nicParam(r: InstanceRow, nic: Nic, key: string): unknown {
  const own = nic.nicparams[key];
  return own !== undefined ? own : r.idx.defaultNicParams()[key];
}
const nicBridge = (r: InstanceRow, nic: Nic): unknown =>
  nicParam(r, nic, "mode") === "bridged" ? nicParam(r, nic, "link") : null;
const nicVlan = (r: InstanceRow, nic: Nic): unknown =>
  nicParam(r, nic, "mode") === "openvswitch" ? nicParam(r, nic, "vlan") : null;
const nicNetworkName = (r: InstanceRow, nic: Nic): string | null =>
  nic.network ? (r.idx.networkName(nic.network) ?? null) : null;

const orUnavail = (v: unknown): unknown => (v === null || v === undefined ? UNAVAIL : v);
const orNoData = (v: unknown): unknown => (v === null || v === undefined ? NODATA : v);

/** "1st", "2nd", "3rd", "4th", …, "11th", "12th", "13th", …, "21st" (Ganeti's formatOrdinal). */
export function ordinal(n: number): string {
  const tens = n % 100;
  const last = n % 10;
  const suffix = tens >= 11 && tens <= 13 ? "th" : last === 1 ? "st" : last === 2 ? "nd" : last === 3 ? "rd" : "th";
  return `${n}${suffix}`;
}

function indexed(
  count: number,
  specs: [name: string, title: string, kind: FieldKind, doc: string, get: (r: InstanceRow, i: number) => unknown][],
): FieldDef<InstanceRow>[] {
  const out: FieldDef<InstanceRow>[] = [];
  for (let i = 0; i < count; i++) {
    for (const [name, title, kind, doc, get] of specs) {
      out.push(field(name.replace("%d", String(i)), title.replace("%d", String(i)), kind, doc.replace("%s", ordinal(i + 1)),
        (r: InstanceRow) => get(r, i)));
    }
  }
  return out;
}

const disk = (r: InstanceRow, i: number) => r.inst.disks[i];
const nic = (r: InstanceRow, i: number) => r.inst.nics[i];

const diskFields = indexed(MAX_DISKS, [
  ["disk.size/%d", "Disk/%d", "unit", "Disk size of %s disk", (r, i) => orUnavail(disk(r, i)?.size)],
  ["disk.spindles/%d", "DiskSpindles/%d", "number", "Spindles of %s disk", (r, i) => orUnavail(disk(r, i)?.spindles)],
  ["disk.name/%d", "DiskName/%d", "text", "Name of %s disk", (r, i) => orUnavail(disk(r, i)?.name)],
  ["disk.uuid/%d", "DiskUUID/%d", "text", "UUID of %s disk", (r, i) => orUnavail(disk(r, i)?.uuid)],
]);

const NIC_SUFFIX = " of %s network interface";
const nicIndexed = (r: InstanceRow, i: number, get: (n: Nic) => unknown): unknown => {
  const n = nic(r, i);
  return n ? orUnavail(get(n)) : UNAVAIL;
};
const nicFields = indexed(MAX_NICS, [
  ["nic.ip/%d", "NicIP/%d", "text", "IP address" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => n.ip)],
  ["nic.uuid/%d", "NicUUID/%d", "text", "UUID address" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => n.uuid)],
  ["nic.mac/%d", "NicMAC/%d", "text", "MAC address" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => n.mac)],
  ["nic.name/%d", "NicName/%d", "text", "Name address" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => n.name)],
  ["nic.network/%d", "NicNetwork/%d", "text", "Network" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => n.network)],
  ["nic.mode/%d", "NicMode/%d", "text", "Mode" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => nicParam(r, n, "mode"))],
  ["nic.link/%d", "NicLink/%d", "text", "Link" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => nicParam(r, n, "link"))],
  ["nic.vlan/%d", "NicVLAN/%d", "text", "VLAN" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => nicVlan(r, n))],
  ["nic.network.name/%d", "NicNetworkName/%d", "text", "Network name" + NIC_SUFFIX,
    (r, i) => nicIndexed(r, i, (n) => nicNetworkName(r, n))],
  ["nic.bridge/%d", "NicBridge/%d", "text", "Bridge" + NIC_SUFFIX, (r, i) => nicIndexed(r, i, (n) => nicBridge(r, n))],
]);

const NIC_AGG = "List containing each network interface's ";

// ---- backend and hypervisor parameters ----

/** Backend parameters: kind and title of their be/ fields (Ganeti's BES_PARAMETER_*). */
const BE_PARAMS: [name: string, kind: FieldKind, title?: string][] = [
  ["always_failover", "bool"],
  ["auto_balance", "bool", "Auto_balance"],
  ["maxmem", "unit", "ConfigMaxMem"],
  ["minmem", "unit", "ConfigMinMem"],
  ["spindle_use", "number"],
  ["vcpus", "number", "ConfigVCPUs"],
];

/**
 * Hypervisor parameters of all hypervisors, globals excepted (Ganeti 3.0's HVS_PARAMETERS):
 * "name:kind[:title]" with kind b(ool), n(umber) or o(ther); the title defaults to hv/name.
 */
const HV_PARAMS = `acpi:b:ACPI blockdev_prefix:o boot_order:o:Boot_order bootloader_args:o bootloader_path:o
cdrom2_image_path:o cdrom_disk_type:o cdrom_image_path:o:CDROM_image_path cpu_cap:n cpu_cores:n cpu_mask:o
cpu_sockets:n cpu_threads:n cpu_type:o:cpu_type cpu_weight:n cpuid:o device_model:o devices:o disk_aio:o
disk_cache:o disk_discard:o disk_type:o:Disk_type drop_capabilities:o extra_cgroups:o extra_config:o
floppy_image_path:o init_script:o initrd_path:o:Initrd_path kernel_args:o kernel_path:o:Kernel_path keymap:o
kvm_extra:o kvm_flag:o kvm_path:o kvm_pci_reservations:n machine_version:o mem_path:o migration_caps:o
migration_downtime:n nic_type:o:NIC_type num_ttys:n pae:b:PAE pci_pass:o:pci_pass reboot_behavior:o root_path:o
scsi_controller_type:o security_domain:o security_model:o serial_console:b serial_speed:n soundhw:o
spice_bind:o spice_image_compression:o spice_ip_version:n spice_jpeg_wan_compression:o spice_password_file:o
spice_playback_compression:b spice_streaming_video:o spice_tls_ciphers:o spice_use_tls:b spice_use_vdagent:b
spice_zlib_glz_wan_compression:o startup_timeout:n usb_devices:o usb_mouse:o use_bootloader:b use_chroot:b
use_guest_agent:b use_localtime:b user_shutdown:b vga:o vhost_net:b vif_script:o vif_type:o viridian:b
virtio_net_queues:n vnc_bind_address:o:VNC_bind_address vnc_password_file:o vnc_tls:b vnc_x509_path:o
vnc_x509_verify:b vnet_hdr:b`;

const KIND_LETTER: Record<string, FieldKind> = { b: "bool", n: "number", o: "other" };

export const HV_PARAM_NAMES: readonly string[] = HV_PARAMS.split(/\s+/).map((s) => s.split(":")[0]);

function beValue(r: InstanceRow, key: string): unknown {
  const own = r.inst.beparams[key];
  if (own !== undefined) return own;
  const defaults = r.idx.defaultBeParams();
  return defaults ? orNoData(defaults[key]) : NODATA;
}

const beFields = BE_PARAMS.map(([p, kind, title]) =>
  field<InstanceRow>(`be/${p}`, title ?? `be/${p}`, kind, `The "${p}" backend parameter`, (r) => beValue(r, p)));

const hvFields = HV_PARAMS.split(/\s+/).map((spec) => {
  const [p, k, title] = spec.split(":");
  return field<InstanceRow>(`hv/${p}`, title ?? `hv/${p}`, KIND_LETTER[k], `The "${p}" hypervisor parameter`,
    (r) => orUnavail(r.idx.instanceHvparams(r.inst)[p]));
});

// ---- the table ----

const STATUS_DOC =
  'Instance status; "running" if instance is set to be running and actually is, ' +
  '"ADMIN_down" if instance is stopped and is not running, ' +
  '"ERROR_wrongnode" if instance running, but not on its designated primary node, ' +
  '"ERROR_up" if instance should be stopped, but is actually running, ' +
  "\"ERROR_down\" if instance should run, but doesn't, " +
  "\"ERROR_nodedown\" if instance's primary node is down, " +
  "\"ERROR_nodeoffline\" if instance's primary node is marked offline, " +
  '"ADMIN_offline" if instance is offline and does not use dynamic resources';

const pnodeOf = (r: InstanceRow) => r.idx.snap.nodes.get(r.inst.primary_node);
const snodesOf = (r: InstanceRow) => {
  const out = [];
  for (const u of r.inst.secondary_nodes) {
    const n = r.idx.snap.nodes.get(u);
    if (!n) return undefined;
    out.push(n);
  }
  return out;
};
const snodeGroups = (r: InstanceRow) => {
  const nodes = snodesOf(r);
  if (!nodes) return undefined;
  const out = [];
  for (const n of nodes) {
    const g = r.idx.groupOfNode(n);
    if (g) out.push(g);
  }
  return out;
};

const base: FieldDef<InstanceRow>[] = [
  field("admin_state", "InstanceState", "text", "Desired state of instance", (r) => r.inst.admin_state),
  field("admin_state_source", "InstanceStateSource", "text", "Who last changed the desired state of the instance",
    (r) => r.inst.admin_state_source),
  field("admin_up", "Autostart", "bool", "Desired state of instance", (r) => r.inst.admin_state === "up"),
  field("disks_active", "DisksActive", "bool", "Desired state of instance disks", (r) => r.inst.disks_active),
  field("name", "Instance", "text", "Instance name", (r) => r.inst.name, "hostname"),
  field("hypervisor", "Hypervisor", "text", "Hypervisor name", (r) => r.inst.hypervisor),
  field("network_port", "Network_port", "other", "Instance network port if available (e.g. for VNC console)",
    (r) => orUnavail(r.inst.network_port)),
  field("os", "OS", "text", "Operating system", (r) => r.inst.os),
  field("pnode", "Primary_node", "text", "Primary node", (r) => orNoData(pnodeOf(r)?.name), "hostname"),
  field("pnode.group", "PrimaryNodeGroup", "text", "Primary node's group", (r) => {
    const n = pnodeOf(r);
    return orNoData(n && r.idx.groupOfNode(n)?.name);
  }),
  field("pnode.group.uuid", "PrimaryNodeGroupUUID", "text", "Primary node's group UUID", (r) => {
    const n = pnodeOf(r);
    return orNoData(n && r.idx.groupOfNode(n)?.uuid);
  }),
  field("snodes", "Secondary_Nodes", "other", "Secondary nodes; usually this will just be one node",
    (r) => orNoData(snodesOf(r)?.map((n) => n.name))),
  field("snodes.group", "SecondaryNodesGroups", "other", "Node groups of secondary nodes",
    (r) => orNoData(snodeGroups(r)?.map((g) => g.name))),
  field("snodes.group.uuid", "SecondaryNodesGroupsUUID", "other", "Node group UUIDs of secondary nodes",
    (r) => orNoData(snodeGroups(r)?.map((g) => g.uuid))),

  field("hvparams", "HypervisorParameters", "other", "Hypervisor parameters (merged)", (r) => r.idx.instanceHvparams(r.inst)),
  field("beparams", "BackendParameters", "other", "Backend parameters (merged)", (r) => orNoData(r.idx.instanceBeparams(r.inst))),
  field("osparams", "OpSysParameters", "other", "Operating system parameters (merged)", (r) => r.idx.instanceOsparams(r.inst)),
  field("custom_hvparams", "CustomHypervisorParameters", "other", "Custom hypervisor parameters", (r) => r.inst.hvparams),
  field("custom_beparams", "CustomBackendParameters", "other", "Custom backend parameters", (r) => r.inst.beparams),
  field("custom_osparams", "CustomOpSysParameters", "other", "Custom operating system parameters", (r) => r.inst.osparams),
  field("custom_nicparams", "CustomNicParameters", "other", "Custom network interface parameters",
    (r) => r.inst.nics.map((n) => n.nicparams)),

  ...beFields,
  ...hvFields,

  field("disk_usage", "DiskUsage", "unit",
    "Total disk space used by instance on each of its nodes; this is not the disk size visible to the instance, but the usage on the node",
    (r) => diskUsage(r.inst)),
  field("disk.count", "Disks", "number", "Number of disks", (r) => r.inst.disks.length),
  field("disk.sizes", "Disk_sizes", "other", "List of disk sizes", (r) => r.inst.disks.map((d) => d.size)),
  field("disk.spindles", "Disk_spindles", "other", "List of disk spindles", (r) => r.inst.disks.map((d) => d.spindles)),
  field("disk.names", "Disk_names", "other", "List of disk names", (r) => r.inst.disks.map((d) => d.name)),
  field("disk.uuids", "Disk_UUIDs", "other", "List of disk UUIDs", (r) => r.inst.disks.map((d) => d.uuid)),
  field("disk_template", "Disk_template", "text", "Instance disk template", (r) => diskTemplate(r.inst)),
  ...diskFields,

  field("nic.count", "NICs", "number", "Number of network interfaces", (r) => r.inst.nics.length),
  field("nic.macs", "NIC_MACs", "other", NIC_AGG + "MAC address", (r) => r.inst.nics.map((n) => n.mac)),
  field("nic.ips", "NIC_IPs", "other", NIC_AGG + "IP address", (r) => r.inst.nics.map((n) => n.ip)),
  field("nic.names", "NIC_Names", "other", NIC_AGG + "name", (r) => r.inst.nics.map((n) => n.name)),
  field("nic.uuids", "NIC_UUIDs", "other", NIC_AGG + "UUID", (r) => r.inst.nics.map((n) => n.uuid)),
  field("nic.modes", "NIC_modes", "other", NIC_AGG + "mode", (r) => r.inst.nics.map((n) => nicParam(r, n, "mode"))),
  field("nic.vlans", "NIC_VLANs", "other", NIC_AGG + "VLAN", (r) => r.inst.nics.map((n) => nicVlan(r, n))),
  field("nic.bridges", "NIC_bridges", "other", NIC_AGG + "bridge", (r) => r.inst.nics.map((n) => nicBridge(r, n))),
  field("nic.links", "NIC_links", "other", NIC_AGG + "link", (r) => r.inst.nics.map((n) => nicParam(r, n, "link"))),
  field("nic.networks", "NIC_networks", "other", "List containing each interface's network",
    (r) => r.inst.nics.map((n) => n.network)),
  field("nic.networks.names", "NIC_networks_names", "other", "List containing the name of each interface's network",
    (r) => r.inst.nics.map((n) => nicNetworkName(r, n))),
  ...nicFields,

  live(field("status", "Status", "text", STATUS_DOC, instanceStatus)),
  live(field("oper_state", "Running", "bool", "Actual state of instance", (r) => {
    const rt = runtime(r);
    return "info" in rt ? rt.info !== undefined : NODATA;
  })),
  live(field("console", "Console", "other", "Instance console information", (r) => liveValue(r, (i) => orNoData(i.console)))),
  live(field("oper_ram", "Memory", "unit", "Actual memory usage as seen by hypervisor", (r) => liveValue(r, (i) => i.memory))),
  live(field("oper_vcpus", "VCPUs", "number", "Actual number of VCPUs as seen by hypervisor", (r) => liveValue(r, (i) => i.vcpus))),

  field("ctime", "CTime", "timestamp", "Creation timestamp", (r) => r.inst.ctime),
  field("mtime", "MTime", "timestamp", "Modification timestamp", (r) => r.inst.mtime),
  field("serial_no", "SerialNo", "number", "Instance object serial number, incremented on each modification", (r) => r.inst.serial_no),
  field("uuid", "UUID", "text", "Instance UUID", (r) => r.inst.uuid),
  // Corral has no forthcoming (reserved, not yet created) instances.
  field("forthcoming", "Forthcoming", "bool", "whether the Instance is forthcoming", () => false),
  field("tags", "Tags", "other", "Tags", (r) => r.inst.tags),
];

const byName = new Map(base.map((d) => [d.name, d]));
const ALIASES: [string, string][] = [
  ["vcpus", "be/vcpus"],
  ["be/memory", "be/maxmem"],
  ["sda_size", "disk.size/0"],
  ["sdb_size", "disk.size/1"],
  ["ip", "nic.ip/0"],
  ["mac", "nic.mac/0"],
  ["bridge", "nic.bridge/0"],
  ["nic_mode", "nic.mode/0"],
  ["nic_link", "nic.link/0"],
  ["nic_network", "nic.network/0"],
];

export const instanceFields = new FieldTable<InstanceRow>([
  ...base,
  ...ALIASES.map(([name, of]) => alias(name, byName.get(of) as FieldDef<InstanceRow>)),
]);

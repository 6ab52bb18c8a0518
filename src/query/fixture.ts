// A small hand-built cluster for the query tests: defaults like a fresh Ganeti 3.0 cluster,
// three nodes (master, regular, offline), a second group, a network and a few instances in
// different states. Also reads the Ganeti 3.0.2 captures when they are present.

import { existsSync, readFileSync } from "node:fs";
import type {
  Cluster, Disk, FilterRule, Instance, Network, Nic, Node, NodeGroup,
} from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import type { InstanceLive, LiveState, NodeLive } from "./live.ts";

const GOLDEN = new URL("../../../shared/golden/ganeti-3.0/", import.meta.url);

/** A capture's response body (parsed JSON), or undefined when the captures are absent. */
export function golden(file: string): unknown {
  const url = new URL(file, GOLDEN);
  if (!existsSync(url)) return undefined;
  const cap = JSON.parse(readFileSync(url, "utf8")) as { response: { body_json: unknown } };
  return cap.response.body_json;
}

/** A text file under the captures' cli/ folder, or undefined. */
export function goldenCli(file: string): string | undefined {
  const url = new URL("cli/" + file, GOLDEN);
  return existsSync(url) ? readFileSync(url, "utf8") : undefined;
}

export const U = {
  cluster: "4028c52a-3579-4d4b-94e6-29406355562b",
  group: "98ab5b89-0659-4f45-a45c-b1c7da4c571e",
  group2: "c0ffee00-0000-4000-8000-000000000002",
  node1: "0aa34649-5533-4131-9a5a-b772257a6e1c",
  node2: "1bb00000-0000-4000-8000-000000000002",
  node10: "2cc00000-0000-4000-8000-000000000010",
  inst1: "bb8d339a-30c5-4482-900a-be47dd36d668",
  inst2: "d81f422a-81e4-411d-8b7e-a70d14c069db",
  inst10: "e0000000-0000-4000-8000-000000000010",
  instOff: "f0000000-0000-4000-8000-0000000000ff",
  net1: "6245c0df-0f12-4e99-bf33-6c06678fd53b",
  filter: "9927d5d6-39f3-4993-bc49-a1c463995334",
};

const ispec = (mem: number, disk: number, dcount: number, cpu: number, nic: number, spindle: number) => ({
  "memory-size": mem, "disk-size": disk, "disk-count": dcount, "cpu-count": cpu, "nic-count": nic, "spindle-use": spindle,
});

export function makeCluster(): Cluster {
  return {
    uuid: U.cluster, serial_no: 7, ctime: 1795355346.612057, mtime: 1795355348.4515584, tags: [],
    name: "cluster.example.test",
    master_node: U.node1,
    enabled_hypervisors: ["fake", "kvm"],
    hvparams: {
      fake: { migration_mode: "live" },
      kvm: { acpi: true, boot_order: "disk", kernel_path: "/boot/vmlinuz-3-kvmU", migration_port: 8102,
        migration_bandwidth: 32, migration_mode: "live", user_shutdown: false, vnc_bind_address: "" },
    },
    os_hvp: { "debian+big": { kvm: { kernel_path: "/boot/big" } } },
    beparams: { default: { minmem: 128, maxmem: 128, vcpus: 1, auto_balance: true, always_failover: false, spindle_use: 1 } },
    osparams: { debian: { dhcp: "yes" } },
    osparams_private_cluster: {},
    nicparams: { default: { mode: "routed", link: "lo", vlan: "" } },
    ndparams: { oob_program: "", spindle_count: 1, exclusive_storage: false, ovs: false, ovs_name: "switch1",
      ovs_link: "", ssh_port: 22, cpu_speed: 1 },
    diskparams: { diskless: {}, file: {}, drbd: { "resync-rate": 61440, metavg: "xenvg", protocol: "C" }, plain: { stripes: 1 } },
    ipolicy: {
      minmax: [{ min: ispec(128, 1024, 1, 1, 1, 1), max: ispec(32768, 1048576, 16, 8, 8, 12) }],
      std: ispec(128, 1024, 1, 1, 1, 1),
      "disk-templates": ["file", "diskless"],
      "vcpu-ratio": 4,
      "spindle-ratio": 32,
    },
    candidate_pool_size: 10, max_running_jobs: 20, max_tracked_jobs: 25,
    mac_prefix: "aa:00:00", master_netdev: "lo", master_netmask: 32, master_ip: "127.0.0.1",
    use_external_mip_script: false, volume_group_name: null, drbd_usermode_helper: null,
    file_storage_dir: "/srv/ganeti/file-storage", shared_file_storage_dir: "/srv/ganeti/shared-file-storage",
    gluster_storage_dir: "/var/run/ganeti/gluster", maintain_node_health: false, uid_pool: [],
    default_iallocator: "hail", default_iallocator_params: {}, reserved_lvs: [], primary_ip_family: 4,
    prealloc_wipe_disks: false, hidden_os: [], blacklisted_os: [], enabled_disk_templates: ["diskless", "file", "drbd"],
    install_image: "", instance_communication_network: "", zeroing_image: "",
    compression_tools: ["gzip", "gzip-fast", "gzip-slow"], enabled_user_shutdown: false,
    enabled_data_collectors: { "cpu-avg-load": true, diskstats: true },
    data_collector_interval: { "cpu-avg-load": 5000000, diskstats: 5000000 },
    modify_etc_hosts: true, modify_ssh_setup: false, ssh_key_type: "rsa", ssh_key_bits: 2048,
  };
}

function node(uuid: string, name: string, ip: string, group: string, extra: Partial<Node> = {}): Node {
  return {
    uuid, name, serial_no: 1, ctime: 1795355346.612057, mtime: 1795355346.612057, tags: [],
    primary_ip: ip, secondary_ip: ip, group, offline: false, drained: false, master_candidate: false,
    master_capable: true, vm_capable: true, ndparams: {}, agent_endpoint: "local", powered: true,
    ...extra,
  };
}

function group(uuid: string, name: string, extra: Partial<NodeGroup> = {}): NodeGroup {
  return {
    uuid, name, serial_no: 1, ctime: 0, mtime: 1795355346.6167629, tags: [], alloc_policy: "preferred",
    ndparams: {}, diskparams: {}, ipolicy: {}, hv_state_static: {}, disk_state_static: {}, networks: {},
    ...extra,
  };
}

let nicCounter = 0;
function nic(extra: Partial<Nic> = {}): Nic {
  nicCounter++;
  return {
    uuid: `85d296e1-93a0-43d2-b426-${String(nicCounter).padStart(12, "0")}`, name: null,
    mac: `aa:00:00:6c:ed:${String(nicCounter).padStart(2, "0")}`, ip: null, network: null, nicparams: {},
    ...extra,
  };
}

function disk(uuid: string, devType: string, size: number, nodes: string[], extra: Partial<Disk> = {}): Disk {
  return {
    uuid, name: null, size, mode: "rw", dev_type: devType, spindles: null, logical_id: [], params: {},
    nodes, serial_no: 1, ctime: 1795355405.79228, mtime: 1795355405.79228, ...extra,
  };
}

function instance(uuid: string, name: string, extra: Partial<Instance> = {}): Instance {
  return {
    uuid, name, serial_no: 2, ctime: 1795355385.3835037, mtime: 1795355387.1346607, tags: [],
    primary_node: U.node1, secondary_nodes: [], os: "noop", hypervisor: "fake",
    hvparams: {}, beparams: { minmem: 128, maxmem: 128, vcpus: 1 }, osparams: {}, osparams_private: {},
    admin_state: "up", admin_state_source: "admin", disk_template: "diskless", disks: [], nics: [nic({ ip: "127.100.0.11" })],
    network_port: null, disks_active: false,
    ...extra,
  };
}

/** Bits for a /24: "1" at the given host indexes. */
function bits(size: number, set: number[]): string {
  const a = new Array<string>(size).fill("0");
  for (const i of set) a[i] = "1";
  return a.join("");
}

export function makeSnapshot(): ConfigSnapshot {
  nicCounter = 0;
  const cluster = makeCluster();
  const groups: NodeGroup[] = [
    group(U.group, "default"),
    group(U.group2, "group2", {
      ndparams: { oob_program: "/bin/oob" },
      ipolicy: { "vcpu-ratio": 8, std: { "memory-size": 256 } as never },
      diskparams: { drbd: { "resync-rate": 1000 } },
      networks: { [U.net1]: { mode: "bridged", link: "br0" } },
    }),
  ];
  const nodes: Node[] = [
    node(U.node1, "node1.example.test", "127.0.0.2", U.group, { master_candidate: true }),
    node(U.node2, "node2.example.test", "127.0.0.3", U.group2, { ndparams: { ssh_port: 2222 } }),
    node(U.node10, "node10.example.test", "127.0.0.10", U.group, { offline: true }),
  ];
  const instances: Instance[] = [
    instance(U.inst1, "inst1.example.test"),
    instance(U.inst2, "file2.example.test", {
      admin_state: "down", tags: ["kind:file"], disk_template: "file",
      disks: [disk("c44b2e05-f92a-438c-85bf-7e7a1ea65800", "file", 1024, [U.node1])],
      nics: [nic({ ip: "127.100.1.1" })],
    }),
    instance(U.inst10, "inst10.example.test", {
      hypervisor: "kvm", os: "debian+big", hvparams: { acpi: false, migration_port: 1 }, osparams: { extra: "1" },
      beparams: { maxmem: 512 }, secondary_nodes: [U.node2], disk_template: "drbd", network_port: 11000,
      disks: [
        disk("d0000000-0000-4000-8000-000000000001", "drbd", 2048, [U.node1, U.node2], { name: "root", spindles: 1 }),
        disk("d0000000-0000-4000-8000-000000000002", "drbd", 1024, [U.node1, U.node2]),
      ],
      nics: [
        nic({ ip: "10.0.0.5", network: U.net1, nicparams: { mode: "bridged", link: "br0" }, name: "eth0" }),
        nic({ nicparams: { mode: "openvswitch", link: "switch1", vlan: ".100" } }),
      ],
    }),
    instance(U.instOff, "instoff.example.test", { primary_node: U.node10, nics: [] }),
  ];
  const networks: Network[] = [{
    uuid: U.net1, name: "net1", serial_no: 1, ctime: 1795355507.887879, mtime: 1795355507.887879, tags: ["golden"],
    network: "127.100.8.0/24", gateway: "127.100.8.1", network6: null, gateway6: null, mac_prefix: "aa:00:01",
    ext_reservations: bits(256, [0, 1, 5, 255]),
    reservations: bits(256, []),
  }];
  const filters: FilterRule[] = [{
    uuid: U.filter, watermark: 180, priority: 10, predicates: [["opcode", ["==", "OP_ID", "OP_TAGS_DEL"]]],
    action: "CONTINUE", reason_trail: [["golden", "capture", 0], ["luxid", "", 1795355524499447000]],
  }];
  const map = <T extends { uuid: string }>(xs: T[]) => new Map(xs.map((x) => [x.uuid, x]));
  return {
    serial: 1, cluster, nodes: map(nodes), groups: map(groups), instances: map(instances),
    networks: map(networks), filters: map(filters),
  };
}

/** Live state: node1 and node2 answer; inst1 runs on node1, inst10 runs on node1. */
export function makeLive(extra: { nodes?: [string, NodeLive][]; instances?: [string, InstanceLive][] } = {}): LiveState {
  const facts = {
    memory_total: 24105, memory_free: 23501, memory_dom0: 298, cpu_total: 2, cpu_nodes: 1, cpu_sockets: 1, cpu_dom0: 2,
    storage: [{ name: "/srv/ganeti/file-storage", type: "file", total: 258019, free: 81112 }],
  };
  return {
    nodes: new Map<string, NodeLive>([[U.node1, { facts }], [U.node2, { facts: { ...facts, storage: [] } }], ...(extra.nodes ?? [])]),
    instances: new Map<string, InstanceLive>([
      [U.inst1, { running: true, node: U.node1, memory: 128, vcpus: 1 }],
      [U.inst10, { running: true, node: U.node1, memory: 512, vcpus: 1 }],
      ...(extra.instances ?? []),
    ]),
  };
}

// PVC's views of Corral's objects, in PVC v0.5's shapes and JSON types (numbers PVC kept as
// strings stay strings). What RAPI also shows (names, sizes, memory, roles) they read through
// the field registry (src/query/node.ts, instance.ts), so PVC and RAPI cannot disagree; the
// rest is PVC's own: host facts the agents report, PVC state intents from the job queue.

import type { Job } from "../../model/job.ts";
import { calcJobStatus, FINALIZED } from "../../model/job.ts";
import type { Instance, Network, Node } from "../../model/objects.ts";
import { pvcBridge, type PvcDomainState, type PvcReservation } from "../../model/pvc.ts";
import { domainXml, parseDomainXml, type DomainFacts, type VmDefinition } from "../../model/libvirt/libvirt.ts";
import { indexOf } from "../../query/context.ts";
import { instanceFields } from "../../query/instance.ts";
import { nodeFields, nodeRole, type NodeRole } from "../../query/node.ts";
import type { LiveState } from "../../query/live.ts";
import type { DhcpLease } from "../../model/pvc-node.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { jobError } from "./jobs.ts";

// ---- nodes

export type DaemonState = "init" | "run" | "stop" | "dead";
export type CoordinatorState = "primary" | "secondary" | "client";

export function daemonState(node: Node, live: LiveState): DaemonState {
  if (node.offline) return "stop";
  const l = live.nodes.get(node.uuid);
  if (!l) return "init";
  return l.offline ? "dead" : "run";
}

/** Coordinators are the master (primary) and the master candidates (secondary): Ganeti's node roles. */
const COORDINATOR: Record<NodeRole, CoordinatorState> = { M: "primary", C: "secondary", D: "client", O: "client", R: "client" };

export function coordinatorState(node: Node, snap: ConfigSnapshot): CoordinatorState {
  return COORDINATOR[nodeRole(node, snap.cluster.master_node)];
}

export function domainState(node: Node): PvcDomainState {
  return node.pvc?.domain_state ?? (node.drained ? "flushed" : "ready");
}

export function nodeView(snap: ConfigSnapshot, live: LiveState, node: Node): Record<string, unknown> {
  const facts = live.nodes.get(node.uuid)?.facts;
  // What RAPI and /2/query also show, read through the field registry.
  const f = nodeFields.values({ node, idx: indexOf(snap), live }, ["name", "role", "ctotal", "mtotal", "mfree"]);
  const num = (v: unknown) => (typeof v === "number" ? v : 0);
  let allocMem = 0;
  let allocCpu = 0;
  const running: string[] = [];
  for (const [uuid, r] of live.instances) {
    if (r.node !== node.uuid || !r.running) continue;
    allocMem += r.memory;
    allocCpu += r.vcpus;
    running.push(uuid);
  }
  const cpus = String(num(f.ctotal));
  return {
    name: f.name,
    daemon_state: daemonState(node, live),
    coordinator_state: COORDINATOR[f.role as NodeRole],
    domain_state: domainState(node),
    cpu_count: cpus,
    kernel: facts?.host?.kernel ?? "",
    os: facts?.host?.os ?? "",
    arch: facts?.host?.arch ?? "",
    load: String(facts?.host?.loadavg?.[0] ?? 0),
    domains_count: String(running.length),
    running_domains: running.sort(),
    vcpu: { total: cpus, allocated: String(allocCpu) },
    memory: {
      total: num(f.mtotal),
      allocated: allocMem,
      used: num(f.mtotal) - num(f.mfree),
      free: num(f.mfree),
    },
  };
}

// ---- VMs

export type VmState = "start" | "restart" | "shutdown" | "stop" | "failed" | "migrate" | "unmigrate";

/** What the VM's state is for PVC: the intent being carried out, a failed start, or its admin state. */
export function vmState(inst: Instance, jobs: (id: number) => Job | undefined): { state: VmState; failedReason: string } {
  const intent = inst.pvc?.intent;
  const job = intent ? jobs(intent.job) : undefined;
  if (intent && job) {
    if (!FINALIZED.has(calcJobStatus(job))) return { state: intent.state, failedReason: "" };
    const error = jobError(job);
    if (error !== undefined) {
      // A failed start leaves the instance marked up but not running: PVC's "failed".
      const failed = (intent.state === "start" || intent.state === "restart") && inst.admin_state === "up";
      return { state: failed ? "failed" : inst.admin_state === "up" ? "start" : "stop", failedReason: error };
    }
  }
  return { state: inst.admin_state === "up" ? "start" : "stop", failedReason: "" };
}

/** What a domain XML of the instance must say (the config decides name, memory, disks...). */
function domainFacts(snap: ConfigSnapshot, live: LiveState, inst: Instance): DomainFacts {
  // The filled backend parameters, as RAPI's be/ fields show them.
  const be = instanceFields.values({ inst, idx: indexOf(snap), live }, ["be/maxmem", "be/minmem", "be/vcpus"]);
  const memory = Number(be["be/maxmem"] ?? 0);
  const minmem = Number(be["be/minmem"] ?? memory);
  const vcpus = Number(be["be/vcpus"] ?? 1);
  const defaultLink = indexOf(snap).defaultNicParams()["link"];
  const kvm = inst.hypervisor === "kvm";
  return {
    name: inst.name,
    uuid: inst.uuid,
    memory,
    currentMemory: minmem,
    vcpus,
    disks: inst.disks.map((d, i) => {
      const vol = d.name !== null && /^[^/]+\/[^/]+$/.test(d.name);
      const path = Array.isArray(d.logical_id) && typeof d.logical_id[1] === "string" ? d.logical_id[1] : d.uuid;
      // A kvm guest opens the volume's file (local backend), so its XML names that file.
      const volumeFile = kvm && vol && d.dev_type !== "rbd";
      return {
        type: vol && !volumeFile ? "rbd" : "file",
        name: vol && !volumeFile ? d.name! : path,
        dev: `sd${String.fromCharCode(97 + i)}`,
        bus: "scsi",
        readonly: d.mode === "ro",
      };
    }),
    nics: inst.nics.map((n) => {
      const pvcNet = n.network ? snap.networks.get(n.network)?.pvc : undefined;
      const link = n.nicparams["link"] ?? (pvcNet ? pvcBridge(pvcNet.vni) : defaultLink);
      return { type: "bridge", mac: n.mac, source: typeof link === "string" ? link : "", model: "virtio" };
    }),
    kvm: kvm ? { hvparams: indexOf(snap).instanceHvparams(inst), networkPort: inst.network_port } : undefined,
  };
}

export function vmView(snap: ConfigSnapshot, live: LiveState, jobs: (id: number) => Job | undefined, inst: Instance): Record<string, unknown> {
  const facts = domainFacts(snap, live, inst);
  const xml = domainXml(inst.pvc?.xml, facts);
  let def: VmDefinition;
  try {
    def = parseDomainXml(xml);
  } catch {
    def = parseDomainXml(domainXml(undefined, facts));
  }
  const f = instanceFields.values({ inst, idx: indexOf(snap), live }, ["name", "uuid", "pnode"]);
  const { state, failedReason } = vmState(inst, jobs);
  const lastNode = inst.pvc?.last_node ? (snap.nodes.get(inst.pvc.last_node)?.name ?? "") : "";
  return {
    name: f.name,
    uuid: f.uuid,
    state,
    node: f.pnode ?? "",
    last_node: lastNode,
    migrated: lastNode ? `from ${lastNode}` : "no",
    failed_reason: failedReason,
    description: def.description ?? "N/A",
    memory: String(def.memory),
    vcpu: String(def.vcpus),
    vcpu_topology: def.topology ?? "N/A",
    networks: def.nics.map((n) => ({ type: n.type, mac: n.mac, source: n.source, model: n.model })),
    type: def.type,
    arch: def.arch,
    machine: def.machine,
    console: def.console,
    emulator: def.emulator,
    features: def.features,
    disks: def.disks.map((d) => ({ type: d.type, name: d.name, dev: d.dev, bus: d.bus })),
    controllers: def.controllers,
    xml,
  };
}

// ---- networks

export function networkView(net: Network): Record<string, unknown> {
  const p = net.pvc!;
  return {
    vni: String(p.vni),
    description: net.name,
    type: p.type,
    domain: p.domain,
    ip4: {
      network: net.network,
      gateway: net.gateway ?? "",
      dhcp_flag: p.dhcp4 ? "True" : "False",
      dhcp_start: p.dhcp4_start,
      dhcp_end: p.dhcp4_end,
    },
    ip6: {
      network: net.network6 ?? "",
      gateway: net.gateway6 ?? "",
      dhcp_flag: net.network6 ? "True" : "False",
    },
  };
}

export function staticLeaseView(r: PvcReservation): Record<string, unknown> {
  return { hostname: r.hostname, ip4_address: r.ip, mac_address: r.mac, timestamp: "static" };
}

export function dynamicLeaseView(l: DhcpLease): Record<string, unknown> {
  return { hostname: l.hostname, ip4_address: l.ip, mac_address: l.mac, timestamp: String(l.expiry) };
}

export function aclViews(net: Network, direction?: "in" | "out"): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const dir of ["in", "out"] as const) {
    if (direction && direction !== dir) continue;
    net.pvc!.acls[dir].forEach((a, order) => out.push({ description: a.description, direction: dir, order, rule: a.rule }));
  }
  return out;
}

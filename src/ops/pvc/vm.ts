// PVC VMs: define from libvirt XML (a kvm instance when the cluster runs kvm), replace the
// XML, undefine (optionally with volumes), record a state intent (and reassign a stopped VM),
// flush storage locks.

import { randomUUID } from "node:crypto";
import { posix } from "node:path";
import { classificationOf, ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Cluster, Disk, Instance, Nic, Node, ParamDict } from "../../model/objects.ts";
import { OpPvcVmDefine, OpPvcVmFlushLocks, OpPvcVmIntent, OpPvcVmModify, OpPvcVmUndefine } from "../../model/opcodes/pvc.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { storageNode, storageRequest } from "../../storage/service.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import type { ParamSpec } from "../../model/params.ts";
import { HYPERVISORS_WITH_PORT } from "../../model/hvparams.ts";
import { allocatePort, releasePort } from "../instance/ports.ts";
import { findObject } from "../../query/resolve.ts";
import { MOVABLE_TEMPLATES } from "./common.ts";
import { findVm, resolveVm, resolveNode, networkOfBridge } from "../../query/pvc-names.ts";
import { DomainXmlError, parseDomainXml, type VmDefinition, type VmDisk } from "../../model/libvirt/libvirt.ts";
import { kvmDomain, kvmDomainProblems, XML_KVM_PARAMS, type KvmDomain } from "../../model/libvirt/libvirt-kvm.ts";

/** The OS name of VMs defined from XML: no OS definition installs them. */
export const PVC_OS = "pvc-libvirt";

function parse(xml: string): VmDefinition {
  try {
    return parseDomainXml(xml);
  } catch (err) {
    if (err instanceof DomainXmlError) throw new OpPrereqError(`Failed to parse XML data: ${err.message}`, ECODE.inval);
    throw err;
  }
}

/**
 * Where a disk of the XML comes from: a storage volume (rbd "pool/volume", or a file that is a
 * volume of the local backend), or an existing file Corral adopts as a `file` or `sharedfile`
 * disk, which it can do only inside the matching storage directory (the node agents refuse
 * any other path, and Corral never copies a guest's disk behind its back).
 */
type DiskSource =
  | { kind: "volume"; pool: string; volume: string }
  | { kind: "file"; template: "file" | "sharedfile"; path: string };

const inside = (dir: string, path: string) => dir !== "" && path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

function diskSource(cluster: Cluster, d: VmDisk, i: number): DiskSource {
  const volume = /^([^/]+)\/([^/]+)$/.exec(d.name);
  if (d.type === "rbd" && volume) return { kind: "volume", pool: volume[1], volume: volume[2] };
  if (d.type !== "file") {
    throw new OpPrereqError(
      `Disk ${i} (${d.type} '${d.name}'): Corral backs VM disks with storage volumes (a network disk with protocol 'rbd' and name 'pool/volume') or existing files in its file storage directories`,
      ECODE.inval,
    );
  }
  const path = d.name;
  if (!path.startsWith("/") || posix.normalize(path) !== path) {
    throw new OpPrereqError(`Disk ${i}: the file '${path}' must be an absolute, normalized path`, ECODE.inval);
  }
  const shared = cluster.shared_file_storage_dir;
  const localVolume = new RegExp(`^${escapeRegExp(posix.join(shared, "pvc"))}/([^/]+)/([^/]+)$`).exec(path);
  if (shared !== "" && localVolume && !cluster.enabled_disk_templates.includes("rbd")) {
    return { kind: "volume", pool: localVolume[1], volume: localVolume[2] };
  }
  const template = inside(shared, path) ? "sharedfile" : inside(cluster.file_storage_dir, path) ? "file" : undefined;
  if (!template) {
    throw new OpPrereqError(
      `Disk ${i}: Corral adopts files only inside the cluster's file storage dir (${cluster.file_storage_dir}) or shared file storage dir (${shared}), not '${path}'`,
      ECODE.inval,
    );
  }
  if (!cluster.enabled_disk_templates.includes(template)) {
    throw new OpPrereqError(`Disk ${i}: adopting '${path}' makes a ${template} disk, and the cluster has not enabled the '${template}' disk template`, ECODE.inval);
  }
  return { kind: "file", template, path };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function checkUnique(snap: ConfigSnapshot, def: VmDefinition, self?: Instance): void {
  const byUuid = snap.instances.get(def.uuid);
  const byName = findObject(snap, "instance", def.name);
  if ((byUuid && byUuid !== self) || (byName && byName !== self && byName.name === def.name)) {
    throw new OpPrereqError(`A VM with name '${def.name}' or UUID '${def.uuid}' already exists in the cluster`, ECODE.exists);
  }
}

/** The instance's disks for the XML's volumes and files, asked of the storage layer or the node (exec only). */
async function vmDisks(ctx: LuContext<ParamSpec>, def: VmDefinition, node: Node, old: readonly Disk[] = []): Promise<Disk[]> {
  const snap = ctx.snapshot();
  const out: Disk[] = [];
  for (const [i, d] of def.disks.entries()) {
    const source = diskSource(snap.cluster, d, i);
    const fail = (why: string) => new OpExecError(`Disk ${i} of VM '${def.name}': ${why}`);
    let found: { dev_type: string; logical_id: unknown[]; size: number; name: string | null };
    if (source.kind === "volume") {
      let disk;
      try {
        disk = (await storageRequest(snap, ctx.master.node, { op: "volume_disk", pool: source.pool, volume: source.volume })).disk;
      } catch (err) {
        throw new OpExecError(`Disk ${i} of VM '${def.name}': ${err instanceof Error ? err.message : String(err)}`, classificationOf(err));
      }
      if (!disk) throw fail(`the storage layer did not describe volume '${source.pool}/${source.volume}'`);
      found = { ...disk, name: `${source.pool}/${source.volume}` };
    } else {
      const logicalId = ["loop", source.path];
      let status;
      try {
        [status] = await ctx.master.node(node).blockdevFind({
          disks: [{ uuid: randomUUID(), name: null, size: 0, mode: "rw", dev_type: source.template, logical_id: logicalId, params: {} }],
        });
      } catch (err) {
        throw new OpExecError(`Disk ${i} of VM '${def.name}': ${err instanceof Error ? err.message : String(err)}`, classificationOf(err));
      }
      if (!status?.exists || status.size === null) throw fail(`the file '${source.path}' does not exist on node ${node.name}`);
      found = { dev_type: source.template, logical_id: logicalId, size: Math.max(1, status.size), name: null };
    }
    const keep = old.find((o) => (found.name !== null ? o.name === found.name : JSON.stringify(o.logical_id) === JSON.stringify(found.logical_id)));
    const now = Date.now() / 1000;
    out.push({
      uuid: keep?.uuid ?? randomUUID(),
      name: found.name,
      size: found.size,
      mode: d.readonly ? "ro" : "rw",
      dev_type: found.dev_type,
      spindles: null,
      logical_id: found.logical_id,
      params: {},
      nodes: [node.uuid],
      serial_no: (keep?.serial_no ?? 0) + 1,
      ctime: keep?.ctime ?? now,
      mtime: now,
    });
  }
  return out;
}

/** The instance's NICs; a kvm instance has the bridged interfaces only (the others are reported unmapped). */
function nics(snap: ConfigSnapshot, def: VmDefinition, hypervisor: string, old: readonly Nic[] = []): Nic[] {
  return def.nics.filter((n) => hypervisor !== "kvm" || n.type === "bridge").map((n) => ({
    uuid: old.find((o) => o.mac === n.mac)?.uuid ?? randomUUID(),
    name: null,
    mac: n.mac,
    ip: null,
    network: networkOfBridge(snap, n.source)?.uuid ?? null,
    nicparams: { mode: "bridged", link: n.source },
  }));
}

/**
 * The hypervisor a VM defined from XML runs under. A libvirt domain of type kvm or qemu is a
 * kvm guest, so it is a kvm instance whenever the cluster has kvm enabled, whatever comes first
 * in enabled_hypervisors; otherwise (and for other domain types) the first enabled hypervisor
 * that is not kvm, as before kvm existed. A xen or lxc domain on a kvm-only cluster is refused.
 */
export function vmHypervisor(enabled: readonly string[], domainType: string): string {
  const kvmGuest = domainType === "" || domainType === "kvm" || domainType === "qemu";
  if (kvmGuest && enabled.includes("kvm")) return "kvm";
  const other = enabled.find((hv) => hv !== "kvm");
  if (other !== undefined) return other;
  if (enabled.length === 0) return "kvm";
  throw new OpPrereqError(`A libvirt domain of type '${domainType}' cannot run under this cluster's hypervisors (${enabled.join(", ")})`, ECODE.inval);
}

/** The XML as a kvm instance; refused kvm parameters fail naming them and where they came from. */
function mapKvm(xml: string, networkPort: number | null = null): KvmDomain {
  let domain: KvmDomain;
  try {
    domain = kvmDomain(xml, { networkPort });
  } catch (err) {
    if (err instanceof DomainXmlError) throw new OpPrereqError(`The XML cannot run under Corral's kvm hypervisor: ${err.message}`, ECODE.inval);
    throw err;
  }
  const problems = kvmDomainProblems(domain);
  if (problems.length > 0) throw new OpPrereqError(`The XML asks for kvm parameters Corral refuses: ${problems.join("; ")}`, ECODE.inval);
  return domain;
}

/** Puts what the XML did not map into the job log (the API's answer lists it too). */
function logUnmapped(ctx: LuContext<ParamSpec>, name: string, domain: KvmDomain | undefined): void {
  for (const path of domain?.unmapped ?? []) logWarning(ctx, `VM '${name}': ${path} is not mapped to the kvm instance (Corral ignores it)`);
}

function diskTemplate(disks: readonly Disk[]): string {
  const kinds = new Set(disks.map((d) => d.dev_type));
  return kinds.size === 0 ? "diskless" : kinds.size === 1 ? [...kinds][0] : "mixed";
}

const vmLocks = (name: string) => (snap: ConfigSnapshot) => {
  const inst = findVm(snap, name);
  return { cluster: { names: "all" as const, mode: "shared" as const }, instance: { names: inst ? [inst.uuid] : "all" as const, mode: "exclusive" as const } };
};

export const pvcVmDefineLU = defineLU({
  opcode: OpPvcVmDefine,
  locks: () => ({ cluster: { names: "all", mode: "shared" }, instance: { names: "all", mode: "exclusive" } }),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const def = parse(ctx.op.xml);
    checkUnique(snap, def);
    const node = resolveNode(snap, ctx.op.node);
    if (!node.vm_capable) throw new OpPrereqError(`Specified node '${node.name}' is invalid: it does not host VMs`, ECODE.state);
    def.disks.forEach((d, i) => diskSource(snap.cluster, d, i));
    const hypervisor = vmHypervisor(snap.cluster.enabled_hypervisors, def.domainType);
    const kvm = hypervisor === "kvm" ? mapKvm(ctx.op.xml) : undefined;
    return { def, node, hypervisor, kvm };
  },
  async exec(ctx, { def, node, hypervisor, kvm }) {
    const snap = ctx.snapshot();
    const disks = await vmDisks(ctx, def, node);
    logUnmapped(ctx, def.name, kvm);
    const inst: Instance = {
      uuid: def.uuid,
      name: def.name,
      serial_no: 1,
      ctime: 0,
      mtime: 0,
      tags: [],
      primary_node: node.uuid,
      secondary_nodes: [],
      os: PVC_OS,
      hypervisor,
      hvparams: kvm?.hvparams ?? {},
      beparams: { maxmem: def.memory, minmem: def.currentMemory, vcpus: def.vcpus },
      osparams: {},
      osparams_private: {},
      admin_state: "down",
      admin_state_source: "admin",
      disk_template: diskTemplate(disks),
      disks,
      nics: nics(snap, def, hypervisor),
      network_port: null,
      disks_active: false,
      pvc: { xml: ctx.op.xml, last_node: "" },
    };
    await ctx.master.store.transact((tx) => {
      checkUnique(tx.current, def);
      if (HYPERVISORS_WITH_PORT.has(hypervisor)) inst.network_port = allocatePort(tx);
      tx.add("instance", inst);
    });
    return `Added new VM with Name '${def.name}' and UUID '${def.uuid}' to database.`;
  },
});

/** A kvm instance's hvparams after its XML changed: the XML's keys replaced, the others kept. */
function replacedHvparams(current: ParamDict, domain: KvmDomain): ParamDict {
  const kept = Object.fromEntries(Object.entries(current).filter(([key]) => !XML_KVM_PARAMS.includes(key)));
  return { ...kept, ...domain.hvparams };
}

export const pvcVmModifyLU = defineLU({
  opcode: OpPvcVmModify,
  locks: (op, snap) => vmLocks(op.instance_name)(snap),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const inst = resolveVm(snap, ctx.op.instance_name);
    const def = parse(ctx.op.xml);
    if (def.uuid !== inst.uuid) {
      throw new OpPrereqError(`The XML's UUID '${def.uuid}' is not the UUID of VM '${inst.name}' (${inst.uuid})`, ECODE.inval);
    }
    checkUnique(snap, def, inst);
    if (def.name !== inst.name && ctx.master.live.instances.get(inst.uuid)?.running) {
      throw new OpPrereqError(`VM '${inst.name}' must be stopped before its name can change to '${def.name}'`, ECODE.state);
    }
    def.disks.forEach((d, i) => diskSource(snap.cluster, d, i));
    // The VM keeps its hypervisor (a modify never changes it, as in Ganeti); a kvm VM's
    // parameters follow the new XML.
    const kvm = inst.hypervisor === "kvm" ? mapKvm(ctx.op.xml, inst.network_port) : undefined;
    const node = snap.nodes.get(inst.primary_node);
    if (!node) throw new OpPrereqError(`VM '${inst.name}' has no primary node in the config`, ECODE.state);
    return { inst, def, kvm, node };
  },
  async exec(ctx, { inst, def, kvm, node }) {
    const disks = await vmDisks(ctx, def, node, inst.disks);
    logUnmapped(ctx, def.name, kvm);
    await ctx.master.store.transact((tx) => {
      tx.update("instance", inst.uuid, (i) => {
        i.name = def.name;
        i.beparams = { ...i.beparams, maxmem: def.memory, minmem: def.currentMemory, vcpus: def.vcpus };
        if (kvm) i.hvparams = replacedHvparams(i.hvparams, kvm);
        i.disks = disks;
        i.disk_template = diskTemplate(disks);
        i.nics = nics(tx.current, def, i.hypervisor, i.nics);
        i.pvc = { last_node: "", ...i.pvc, xml: ctx.op.xml };
      });
    });
    return null;
  },
});

export const pvcVmUndefineLU = defineLU({
  opcode: OpPvcVmUndefine,
  locks: (op, snap) => vmLocks(op.instance_name)(snap),
  checkPrereq: (ctx) => resolveVm(ctx.snapshot(), ctx.op.instance_name),
  async exec(ctx, inst) {
    const snap = ctx.snapshot();
    const running = ctx.master.live.instances.get(inst.uuid);
    if (running) {
      const node = snap.nodes.get(running.node);
      if (node) await ctx.master.node(node).instanceShutdown({ name: inst.name, hypervisor: inst.hypervisor, timeout: 0 });
      await ctx.master.live.refresh([running.node]);
    }
    await ctx.master.store.transact((tx) => {
      tx.remove("instance", inst.uuid);
      releasePort(tx, inst.network_port);
    });
    if (!ctx.op.delete_disks) return null;
    const primary = snap.nodes.get(inst.primary_node);
    for (const disk of inst.disks) {
      const vol = disk.name ? /^([^/]+)\/([^/]+)$/.exec(disk.name) : null;
      try {
        if (vol && (disk.dev_type === "sharedfile" || disk.dev_type === "rbd")) {
          await storageRequest(snap, ctx.master.node, { op: "volume_remove", pool: vol[1], volume: vol[2] });
        } else if (primary) {
          await ctx.master.node(primary).blockdevRemove({ disk });
        }
      } catch (err) {
        logWarning(ctx, `Could not remove disk ${disk.name ?? disk.uuid} of VM '${inst.name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return null;
  },
});

export const pvcVmIntentLU = defineLU({
  opcode: OpPvcVmIntent,
  locks: (op, snap) => vmLocks(op.instance_name)(snap),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const inst = resolveVm(snap, ctx.op.instance_name);
    const lastNode = ctx.op.last_node === null ? null : ctx.op.last_node === "" ? "" : resolveNode(snap, ctx.op.last_node).uuid;
    let moveTo: string | null = null;
    if (ctx.op.move_to !== null) {
      const target = resolveNode(snap, ctx.op.move_to);
      if (ctx.master.live.instances.get(inst.uuid)?.running) {
        throw new OpPrereqError(`VM '${inst.name}' is running; it moves by migration, not reassignment`, ECODE.state);
      }
      const fixed = inst.disks.find((d) => !MOVABLE_TEMPLATES.has(d.dev_type));
      if (fixed) throw new OpPrereqError(`VM '${inst.name}' has a ${fixed.dev_type} disk, which stays on its node`, ECODE.state);
      moveTo = target.uuid;
    }
    return { inst, lastNode, moveTo };
  },
  async exec(ctx, { inst, lastNode, moveTo }) {
    await ctx.master.store.transact((tx) => {
      tx.update("instance", inst.uuid, (i) => {
        const pvc = { last_node: "", ...i.pvc };
        if (lastNode !== null) pvc.last_node = lastNode;
        pvc.intent = { state: ctx.op.state, job: ctx.jobId };
        i.pvc = pvc;
        if (moveTo !== null) {
          i.primary_node = moveTo;
          for (const d of i.disks) d.nodes = [moveTo];
        }
      });
    });
    return null;
  },
});

export const pvcVmFlushLocksLU = defineLU({
  opcode: OpPvcVmFlushLocks,
  locks: (op, snap) => vmLocks(op.instance_name)(snap),
  checkPrereq(ctx) {
    const inst = resolveVm(ctx.snapshot(), ctx.op.instance_name);
    if (inst.admin_state === "up" || ctx.master.live.instances.get(inst.uuid)?.running) {
      throw new OpPrereqError(`VM '${inst.name}' is not in stopped state; flushing RBD locks on a running VM is dangerous.`, ECODE.state);
    }
    return inst;
  },
  async exec(ctx, inst) {
    const snap = ctx.snapshot();
    for (const disk of inst.disks) {
      const vol = disk.name ? /^([^/]+)\/([^/]+)$/.exec(disk.name) : null;
      if (!vol) continue;
      await storageRequest(snap, ctx.master.node, { op: "lock_flush", pool: vol[1], volume: vol[2] }, storageNode(snap));
    }
    return `Flushed locks on VM '${inst.name}'`;
  },
});

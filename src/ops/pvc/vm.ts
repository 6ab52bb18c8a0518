// PVC VMs: define from libvirt XML, replace the XML, undefine (optionally with volumes),
// record a state intent (and reassign a stopped VM), flush storage locks.

import { randomUUID } from "node:crypto";
import { classificationOf, ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Disk, Instance, Nic } from "../../model/objects.ts";
import { OpPvcVmDefine, OpPvcVmFlushLocks, OpPvcVmIntent, OpPvcVmModify, OpPvcVmUndefine } from "../../model/opcodes/pvc.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { storageNode, storageRequest } from "../../storage/service.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import type { ParamSpec } from "../../model/params.ts";
import { findObject } from "../resolve.ts";
import { findVm, MOVABLE_TEMPLATES, networkOfBridge, resolveNode, resolveVm } from "./common.ts";
import { DomainXmlError, parseDomainXml, type VmDefinition, type VmDisk } from "./libvirt.ts";

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

/** "pool/volume" of a storage-layer disk, or an error naming the disk. */
function volumeOf(d: VmDisk, i: number): [string, string] {
  const m = /^([^/]+)\/([^/]+)$/.exec(d.name);
  if (d.type !== "rbd" || !m) {
    throw new OpPrereqError(
      `Disk ${i} (${d.type} '${d.name}'): Corral backs VM disks with storage volumes only; use a network disk with protocol 'rbd' and name 'pool/volume'`,
      ECODE.inval,
    );
  }
  return [m[1], m[2]];
}

function checkUnique(snap: ConfigSnapshot, def: VmDefinition, self?: Instance): void {
  const byUuid = snap.instances.get(def.uuid);
  const byName = findObject(snap, "instance", def.name);
  if ((byUuid && byUuid !== self) || (byName && byName !== self && byName.name === def.name)) {
    throw new OpPrereqError(`A VM with name '${def.name}' or UUID '${def.uuid}' already exists in the cluster`, ECODE.exists);
  }
}

/** The instance's disks for the XML's volumes, asked of the storage layer (exec only). */
async function volumeDisks(ctx: LuContext<ParamSpec>, def: VmDefinition, nodeUuid: string, old: readonly Disk[] = []): Promise<Disk[]> {
  const snap = ctx.snapshot();
  const out: Disk[] = [];
  for (const [i, d] of def.disks.entries()) {
    const [pool, volume] = volumeOf(d, i);
    let disk;
    try {
      disk = (await storageRequest(snap, ctx.master.node, { op: "volume_disk", pool, volume })).disk;
    } catch (err) {
      throw new OpExecError(`Disk ${i} of VM '${def.name}': ${err instanceof Error ? err.message : String(err)}`, classificationOf(err));
    }
    if (!disk) throw new OpExecError(`Disk ${i} of VM '${def.name}': the storage layer did not describe volume '${d.name}'`);
    const keep = old.find((o) => o.name === d.name);
    const now = Date.now() / 1000;
    out.push({
      uuid: keep?.uuid ?? randomUUID(),
      name: d.name,
      size: disk.size,
      mode: "rw",
      dev_type: disk.dev_type,
      spindles: null,
      logical_id: disk.logical_id,
      params: {},
      nodes: [nodeUuid],
      serial_no: (keep?.serial_no ?? 0) + 1,
      ctime: keep?.ctime ?? now,
      mtime: now,
    });
  }
  return out;
}

function nics(snap: ConfigSnapshot, def: VmDefinition, old: readonly Nic[] = []): Nic[] {
  return def.nics.map((n) => ({
    uuid: old.find((o) => o.mac === n.mac)?.uuid ?? randomUUID(),
    name: null,
    mac: n.mac,
    ip: null,
    network: networkOfBridge(snap, n.source)?.uuid ?? null,
    nicparams: { mode: "bridged", link: n.source },
  }));
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
    def.disks.forEach(volumeOf);
    return { def, node };
  },
  async exec(ctx, { def, node }) {
    const snap = ctx.snapshot();
    const disks = await volumeDisks(ctx, def, node.uuid);
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
      hypervisor: snap.cluster.enabled_hypervisors[0] ?? "kvm",
      hvparams: {},
      beparams: { maxmem: def.memory, minmem: def.memory, vcpus: def.vcpus },
      osparams: {},
      osparams_private: {},
      admin_state: "down",
      admin_state_source: "admin",
      disk_template: diskTemplate(disks),
      disks,
      nics: nics(snap, def),
      network_port: null,
      disks_active: false,
      pvc: { xml: ctx.op.xml, last_node: "" },
    };
    ctx.master.store.transact((tx) => {
      checkUnique(tx.current, def);
      tx.add("instance", inst);
    });
    return `Added new VM with Name '${def.name}' and UUID '${def.uuid}' to database.`;
  },
});

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
    def.disks.forEach(volumeOf);
    return { inst, def };
  },
  async exec(ctx, { inst, def }) {
    const disks = await volumeDisks(ctx, def, inst.primary_node, inst.disks);
    ctx.master.store.transact((tx) => {
      tx.update("instance", inst.uuid, (i) => {
        i.name = def.name;
        i.beparams = { ...i.beparams, maxmem: def.memory, minmem: def.memory, vcpus: def.vcpus };
        i.disks = disks;
        i.disk_template = diskTemplate(disks);
        i.nics = nics(tx.current, def, i.nics);
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
    ctx.master.store.transact((tx) => tx.remove("instance", inst.uuid));
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
  exec(ctx, { inst, lastNode, moveTo }) {
    ctx.master.store.transact((tx) => {
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

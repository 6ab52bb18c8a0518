// OP_INSTANCE_QUERY_DATA (GET /2/instances/X/info) and OP_INSTANCE_CONSOLE: what the config
// says about instances, and (unless static) what their nodes say.

import { OpExecError } from "../../model/errors.ts";
import type { Disk, Instance, Nic } from "../../model/objects.ts";
import { OpInstanceConsole, OpInstanceQueryData } from "../../model/opcodes/instance.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import { findObject, resolveObject } from "../../query/resolve.ts";
import {
  agentOf, diskSpec, filledBeparams, filledHvparams, filledNicparams, filledOsparams, instanceLocks, prereqInstance, instanceSpec, raiseOnFail,
} from "./common.ts";
import { HV_GLOBAL_PARAMS } from "./params.ts";

/** Ganeti's LDS_OKAY: the local disk status of a healthy device. */
const LDS_OKAY = 1;

/** Ganeti's NICToTuple: [name, uuid, ip, mac, mode, link, vlan, network, netinfo]. */
export function nicTuple(snap: ConfigSnapshot, nic: Nic): unknown[] {
  const filled = filledNicparams(snap.cluster, nic.nicparams);
  const net = nic.network ? snap.networks.get(nic.network) : undefined;
  let netinfo: Record<string, unknown> | null = null;
  if (net) {
    const { pvc: _pvc, ...rest } = net;
    netinfo = { ...rest };
  }
  return [nic.name, nic.uuid, nic.ip, nic.mac, filled.mode ?? null, filled.link ?? null, filled.vlan ?? "", nic.network, netinfo];
}

function diskTemplateOf(inst: Instance): string {
  const types = new Set(inst.disks.map((d) => d.dev_type));
  return types.size === 0 ? "diskless" : types.size > 1 ? "mixed" : [...types][0];
}

type QueryCtx = LuContext<typeof OpInstanceQueryData.params>;

export const instanceQueryDataLU = defineLU({
  opcode: OpInstanceQueryData,
  locks: (op, snap) => {
    const named = op.instances.map((n) => findObject(snap, "instance", n)?.uuid);
    const names = op.instances.length === 0 || named.some((u) => u === undefined) ? "all" : (named as string[]);
    return { cluster: { names: "all", mode: "shared" }, instance: { names, mode: "shared" } };
  },
  checkPrereq(ctx: QueryCtx): Instance[] {
    const snap = ctx.snapshot();
    if (!ctx.op.static && ctx.op.use_locking) logWarning(ctx, "Non-static data requested, locks need to be acquired");
    if (ctx.op.instances.length === 0) return [...snap.instances.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    return ctx.op.instances.map((name) => resolveObject(snap, "instance", name));
  },
  async exec(ctx, instances) {
    const snap = ctx.snapshot();
    const out: Record<string, Record<string, unknown>> = {};
    for (const inst of instances) {
      const pnode = snap.nodes.get(inst.primary_node);
      const group = pnode ? snap.groups.get(pnode.group) : undefined;
      let runState: string | null = null;
      const askNodes = !ctx.op.static && pnode !== undefined && !pnode.offline;
      if (!ctx.op.static && pnode?.offline) {
        logWarning(ctx, `Primary node ${pnode.name} is marked offline, returning static information only for instance ${inst.name}`);
      }
      if (askNodes) {
        const info = await raiseOnFail(agentOf(ctx, inst.primary_node).instanceInfo({ name: inst.name, hypervisor: inst.hypervisor }),
          `Error checking node ${pnode?.name}`);
        if (info) runState = "up";
        else if (inst.admin_state === "up") runState = "down";
        else if (inst.admin_state === "down") runState = inst.admin_state_source === "user" ? "user down" : "down";
        else runState = "offline";
      }
      const disks: Record<string, unknown>[] = [];
      for (const [i, disk] of inst.disks.entries()) disks.push(await diskStatus(ctx, inst, disk, i, askNodes));
      const snodes = inst.secondary_nodes.map((u) => snap.nodes.get(u));
      out[inst.name] = {
        name: inst.name,
        config_state: inst.admin_state,
        run_state: runState,
        pnode: pnode?.name ?? null,
        pnode_group_uuid: pnode?.group ?? null,
        pnode_group_name: group?.name ?? null,
        snodes: snodes.map((n) => n?.name ?? null),
        snodes_group_uuids: snodes.map((n) => n?.group ?? null),
        snodes_group_names: snodes.map((n) => (n ? snap.groups.get(n.group)?.name ?? null : null)),
        os: inst.os,
        nics: inst.nics.map((n) => nicTuple(snap, n)),
        disk_template: diskTemplateOf(inst),
        disks,
        hypervisor: inst.hypervisor,
        network_port: inst.network_port,
        hv_instance: inst.hvparams,
        hv_actual: Object.fromEntries(
          Object.entries(filledHvparams(snap.cluster, inst.hypervisor, inst.os, inst.hvparams)).filter(([k]) => !HV_GLOBAL_PARAMS.has(k)),
        ),
        be_instance: inst.beparams,
        be_actual: Object.fromEntries(Object.entries(filledBeparams(snap.cluster, inst.beparams)).sort(([a], [b]) => (a < b ? -1 : 1))),
        os_instance: inst.osparams,
        os_actual: filledOsparams(snap.cluster, inst.os, inst.osparams),
        serial_no: inst.serial_no,
        mtime: inst.mtime,
        ctime: inst.ctime,
        uuid: inst.uuid,
      };
    }
    return out;
  },
});

/** One disk of the info result (Ganeti's _ComputeDiskStatus): pstatus from the primary unless static. */
async function diskStatus(ctx: QueryCtx, inst: Instance, disk: Disk, index: number, askNodes: boolean): Promise<Record<string, unknown>> {
  let pstatus: unknown[] | null = null;
  if (askNodes) {
    try {
      const [found] = await agentOf(ctx, inst.primary_node).blockdevFind({ disks: [diskSpec(disk)] });
      if (found?.exists) pstatus = [found.path, null, null, null, null, false, LDS_OKAY];
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      throw new OpExecError(`Can't compute disk status for ${inst.name}: ${err.message}`, err.failureEcode);
    }
  }
  return {
    iv_name: `disk/${index}`,
    dev_type: disk.dev_type,
    logical_id: disk.logical_id,
    drbd_info: null,
    pstatus,
    sstatus: null,
    children: [],
    mode: disk.mode,
    size: disk.size,
    spindles: disk.spindles,
    name: disk.name,
    uuid: disk.uuid,
  };
}

export const instanceConsoleLU = defineLU({
  opcode: OpInstanceConsole,
  // Only reads: the instance shared, as in Ganeti.
  locks: (op, snap) => instanceLocks(op, snap, { instanceMode: "shared" }),
  checkPrereq(ctx: LuContext<typeof OpInstanceConsole.params>) {
    const inst = prereqInstance(ctx, { primaryOnline: true });
    return inst;
  },
  async exec(ctx, inst) {
    const snap = ctx.snapshot();
    const node = snap.nodes.get(inst.primary_node);
    const client = agentOf(ctx, inst.primary_node);
    const running = await raiseOnFail(client.instanceList({ hypervisors: [inst.hypervisor] }), `Can't get node information from ${node?.name}`);
    if (!running.some((r) => r.name === inst.name)) {
      const state = inst.admin_state === "up" ? "ERROR_down" : inst.admin_state === "down" ? "ADMIN_down" : "ADMIN_offline";
      throw new OpExecError(`Instance ${inst.name} is not running (state ${state})`);
    }
    return raiseOnFail(client.instanceConsole({ instance: instanceSpec(snap, inst), host: node?.name ?? "" }), "Can't get the console");
  },
});


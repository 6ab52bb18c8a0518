// OP_INSTANCE_REMOVE: stop the instance, remove its disks from their nodes, drop it from the
// config (its pool addresses return to their networks).

import { releasePort } from "./ports.ts";
import { OpExecError } from "../../model/errors.ts";
import type { Instance } from "../../model/objects.ts";
import type { ParamSpec } from "../../model/params.ts";
import { OpInstanceRemove } from "../../model/opcodes/instance.ts";
import { defineLU, type LuContext } from "../lu.ts";
import {
  agentOf, instanceLocks, prereqInstance, instanceNodes, raiseOnFail, refreshLive, removeDisks, warnOnFail,
} from "./common.ts";
import { NetworkIps } from "./devices.ts";

/** Ganeti's RemoveInstance: disks off the nodes, then the instance out of the config. */
export async function removeInstance(ctx: LuContext<ParamSpec>, inst: Instance, ignoreFailures: boolean): Promise<void> {
  if (!(await removeDisks(ctx, inst))) {
    if (!ignoreFailures) throw new OpExecError("Can't remove instance's disks");
    ctx.feedback("Warning: can't remove instance's disks");
  }
  await ctx.master.store.transact((tx) => {
    if (!tx.current.instances.has(inst.uuid)) return;
    const ips = new NetworkIps(tx.current);
    for (const nic of inst.nics) if (nic.network && nic.ip && tx.current.networks.has(nic.network)) ips.release(nic.network, nic.ip);
    ips.commit(tx);
    tx.remove("instance", inst.uuid);
    releasePort(tx, inst.network_port);
  });
}

export const instanceRemoveLU = defineLU({
  opcode: OpInstanceRemove,
  locks: (op, snap) => instanceLocks(op, snap, { nodeMode: "exclusive" }),
  checkPrereq(ctx: LuContext<typeof OpInstanceRemove.params>) {
    const inst = prereqInstance(ctx);
    return inst;
  },
  async exec(ctx, inst) {
    const op = ctx.op;
    const pnode = ctx.snapshot().nodes.get(inst.primary_node);
    try {
      const shutdown = agentOf(ctx, inst.primary_node).instanceShutdown({ name: inst.name, hypervisor: inst.hypervisor, timeout: op.shutdown_timeout });
      if (op.ignore_failures) await warnOnFail(ctx, shutdown, "Warning: can't shutdown instance");
      else await raiseOnFail(shutdown, `Could not shutdown instance ${inst.name} on node ${pnode?.name ?? inst.primary_node}`);
      await removeInstance(ctx, inst, op.ignore_failures);
    } finally {
      await refreshLive(ctx, instanceNodes(inst));
    }
    return null;
  },
});

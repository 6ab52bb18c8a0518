// PVC node domain states. Flush drains the node and moves its running VMs away one job
// after another (each picks its target with PVC's "mem" selector, the allocator's "pvc-mem"
// ranking, counting the VMs placed before it), then a last job marks the node flushed. Ready undrains it, brings back the
// VMs whose last node it is, then marks it ready. The jobs wait for each other through
// job dependencies, so a failed move does not stop the ones after it.

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import { buildOpcode, type Opcode } from "../../model/opcode.ts";
import { OpPvcNodeDomainState, OpPvcNodeFlush, OpPvcNodeReady } from "../../model/opcodes/pvc.ts";
import type { Node } from "../../model/objects.ts";
import type { PvcDomainState } from "../../model/pvc.ts";
import { capacityModel, place } from "../../alloc/allocator.ts";
import { selectNode } from "../../alloc/selectors.ts";
import { moveRequest } from "../instance/placement.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import type { ParamSpec } from "../../model/params.ts";
import { resolveNode } from "../../query/pvc-names.ts";
import { moveJob, stateJob } from "../../model/pvc-plans.ts";

const nodeLocks = (snap: ConfigSnapshot, name: string) => {
  const node = [...snap.nodes.values()].find((n) => n.name === name);
  return { cluster: { names: "all" as const, mode: "shared" as const }, node: { names: node ? [node.uuid] : "all" as const, mode: "exclusive" as const } };
};

async function setDomainState(ctx: LuContext<ParamSpec>, node: Node, state: PvcDomainState, jobs: number[] | null, drained?: boolean): Promise<void> {
  const isMaster = ctx.snapshot().cluster.master_node === node.uuid;
  await ctx.master.store.transact((tx) => {
    tx.update("node", node.uuid, (n) => {
      n.pvc = { domain_state: state, jobs: jobs ?? n.pvc?.jobs ?? [] };
      // The master node cannot be drained in Ganeti's model; its domain state says enough.
      if (drained !== undefined && !isMaster) n.drained = drained;
    });
  });
}

/** Chains the jobs one after the other, then the closing domain-state job; returns their ids. */
async function submitChain(ctx: LuContext<ParamSpec>, node: Node, jobs: Opcode[][], final: PvcDomainState): Promise<number[]> {
  // Each job after the first waits for the one before it (a relative dependency).
  const afterPrevious: Opcode["depends"] = [[-1, []]];
  const chained = [...jobs, [buildOpcode(OpPvcNodeDomainState, { node_name: node.name, domain_state: final })]].map((ops, i) =>
    i === 0 ? ops : [{ ...ops[0], depends: afterPrevious }, ...ops.slice(1)],
  );
  return ctx.master.submitJobs(chained);
}

export const pvcNodeFlushLU = defineLU({
  opcode: OpPvcNodeFlush,
  locks: (op, snap) => nodeLocks(snap, op.node_name),
  checkPrereq: (ctx) => resolveNode(ctx.snapshot(), ctx.op.node_name),
  async exec(ctx, node) {
    await ctx.master.live.refresh();
    await setDomainState(ctx, node, "flush", [], true);
    const snap = ctx.snapshot();
    const live = ctx.master.live;
    const model = capacityModel(snap, live);
    const jobs: Opcode[][] = [];
    const running = [...snap.instances.values()]
      .filter((i) => live.instances.get(i.uuid)?.running && live.instances.get(i.uuid)?.node === node.uuid)
      .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
    for (const inst of running) {
      const req = { ...moveRequest(snap, inst, live.instances.get(inst.uuid)!.memory), exclude: [node.uuid, inst.primary_node] };
      const target = selectNode("mem", model, snap, req);
      if (!target) {
        logWarning(ctx, `No node can take VM '${inst.name}': it is shut down instead`);
        jobs.push(stateJob(inst, "shutdown"));
        continue;
      }
      place(model, target.uuid, req);
      // A VM migrated before keeps the node it first came from (PVC's rule).
      const last = inst.pvc?.last_node ? snap.nodes.get(inst.pvc.last_node)?.name ?? node.name : node.name;
      logInfo(ctx, `VM '${inst.name}' goes to node ${target.name}`);
      jobs.push(moveJob(inst, target, true, "migrate", last));
    }
    const ids = await submitChain(ctx, node, jobs, "flushed");
    await setDomainState(ctx, node, "flush", ids);
    return { jobs: ids.map((id) => [true, id]) };
  },
});

export const pvcNodeReadyLU = defineLU({
  opcode: OpPvcNodeReady,
  locks: (op, snap) => nodeLocks(snap, op.node_name),
  checkPrereq: (ctx) => resolveNode(ctx.snapshot(), ctx.op.node_name),
  async exec(ctx, node) {
    await ctx.master.live.refresh();
    await setDomainState(ctx, node, "unflush", [], false);
    const snap = ctx.snapshot();
    const jobs: Opcode[][] = [];
    const returning = [...snap.instances.values()]
      .filter((i) => i.pvc?.last_node === node.uuid)
      .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
    for (const inst of returning) {
      const running = ctx.master.live.instances.get(inst.uuid)?.running === true;
      logInfo(ctx, `VM '${inst.name}' comes back to node ${node.name}`);
      jobs.push(moveJob(inst, node, running, "unmigrate", ""));
    }
    const ids = await submitChain(ctx, node, jobs, "ready");
    await setDomainState(ctx, node, "unflush", ids);
    return { jobs: ids.map((id) => [true, id]) };
  },
});

export const pvcNodeDomainStateLU = defineLU({
  opcode: OpPvcNodeDomainState,
  locks: (op, snap) => nodeLocks(snap, op.node_name),
  checkPrereq(ctx) {
    const node = resolveNode(ctx.snapshot(), ctx.op.node_name);
    // A newer flush or unflush replaced the one this job closes: leave its state alone.
    const expected = ctx.op.domain_state === "flushed" ? "flush" : ctx.op.domain_state === "ready" ? "unflush" : undefined;
    if (expected && node.pvc && node.pvc.domain_state !== expected) {
      throw new OpPrereqError(`Node ${node.name} is in domain state ${node.pvc.domain_state}, not ${expected}`, ECODE.state);
    }
    return node;
  },
  async exec(ctx, node) {
    await ctx.master.live.refresh();
    if (ctx.op.domain_state === "flushed") {
      const left = [...ctx.master.live.instances.values()].filter((r) => r.running && r.node === node.uuid).length;
      if (left > 0) logWarning(ctx, `${left} VM(s) still run on node ${node.name}`);
    }
    await setDomainState(ctx, node, ctx.op.domain_state, []);
    return null;
  },
});

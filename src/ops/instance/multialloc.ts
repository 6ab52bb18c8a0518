// OP_INSTANCE_MULTI_ALLOC: several instances placed at once by the allocator, each created by
// a job of its own.

import type { AllocRequest } from "../../alloc/allocator.ts";
import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Node } from "../../model/objects.ts";
import { OpInstanceMultiAlloc } from "../../model/opcodes/instance.ts";
import { defineLU, type LuContext } from "../lu.ts";
import { normalizeHostname } from "./common.ts";
import { computeDisks } from "./devices.ts";
import { computeFullBeparams } from "./params.ts";
import { allocateNodes } from "./placement.ts";
import { submitChildJobs } from "../childjobs.ts";

import { allocRequest, checkCreateArguments, type CreateOp } from "./create-plan.ts";

type MultiSpec = typeof OpInstanceMultiAlloc.params;

interface MultiPlan {
  ops: CreateOp[];
  allocatable: string[];
  failed: string[];
}

export const instanceMultiAllocLU = defineLU({
  opcode: OpInstanceMultiAlloc,
  // Only plans and submits one creation job per instance (each locks its nodes), so the
  // nodes are shared, as in Ganeti.
  locks: () => ({ cluster: { names: "all", mode: "shared" }, node: { names: "all", mode: "shared" } }),
  checkPrereq(ctx: LuContext<MultiSpec>): MultiPlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    const ops = op.instances as CreateOp[];
    const nodes: boolean[] = [];
    for (const inst of ops) {
      if (inst.iallocator !== null && inst.iallocator !== undefined) {
        throw new OpPrereqError("iallocator are not allowed to be set on instance objects", ECODE.inval);
      }
      nodes.push(Boolean(inst.pnode));
    }
    const hasNodes = nodes.some((n) => n);
    if (hasNodes && !nodes.every((n) => n)) {
      throw new OpPrereqError("There are instance objects providing pnode/snode while others do not", ECODE.inval);
    }
    if (!hasNodes && op.iallocator === null) {
      if (!snap.cluster.default_iallocator) {
        throw new OpPrereqError(
          "No iallocator or nodes on the instances given and no cluster-wide default iallocator found; please specify either an iallocator or nodes on the instances or set a cluster-wide default iallocator",
          ECODE.inval,
        );
      }
      op.iallocator = snap.cluster.default_iallocator;
    }
    if (op.opportunistic_locking && !op.iallocator) {
      throw new OpPrereqError("Opportunistic locking is only available in combination with an instance allocator", ECODE.inval);
    }
    for (const inst of ops) inst.instance_name = normalizeHostname(inst.instance_name);
    const names = ops.map((o) => o.instance_name);
    const dups = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
    if (dups.length > 0) throw new OpPrereqError(`There are duplicate instance names: ${dups.join(", ")}`, ECODE.inval);
    if (!op.iallocator) return { ops, allocatable: names, failed: [] };
    // Each instance placed in turn on what the ones before it left (Ganeti's multi-allocation request).
    const reqs: AllocRequest[] = [];
    for (const inst of ops) {
      const copy = structuredClone(inst);
      checkCreateArguments(snap, copy, () => undefined);
      const be = computeFullBeparams(structuredClone(copy.beparams), snap.cluster);
      const disks = computeDisks(copy.disks as Record<string, unknown>[], copy.disk_template ?? "diskless");
      reqs.push(allocRequest(copy.instance_name, be, disks, copy.disk_template ?? "diskless", copy.nics.length, undefined, copy.ignore_ipolicy, copy.start, copy.tags));
    }
    for (const [name, node] of allocateNodes(snap, ctx.master.live, op.iallocator, reqs)) {
      const inst = ops.find((o) => o.instance_name === name) as CreateOp;
      inst.pnode = (snap.nodes.get(node) as Node).name;
    }
    return { ops, allocatable: names, failed: [] };
  },
  async exec(ctx, plan) {
    const jobs = plan.ops.filter((o) => plan.allocatable.includes(o.instance_name)).map((o) => [o]);
    const submitted = await submitChildJobs(ctx, jobs);
    return { allocatable: plan.allocatable, failed: plan.failed, jobs: submitted.jobs };
  },
  dryRunResult: (_ctx, plan) => ({ allocatable: plan.allocatable, failed: plan.failed, jobs: [] }),
});

// OP_NODE_EVACUATE and OP_NODE_MIGRATE: moving a node's instances away. Both only decide
// which instance operations are needed and submit one job per instance (instance
// migration, failover or disk replacement run as their own jobs, with their own locks);
// the result lists those jobs, as Ganeti's does.

import { ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import type { Instance, Node } from "../../model/objects.ts";
import type { Opcode } from "../../model/opcode.ts";
import { OpInstanceMigrate, OpInstanceReplaceDisks } from "../../model/opcodes/instance.ts";
import { OpNodeEvacuate, OpNodeMigrate } from "../../model/opcodes/node.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { childOpcode, submitChildJobs } from "../childjobs.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import { resolveObject } from "../../query/resolve.ts";
import { expandNode, oneNodeLocks, primaryInstances, secondaryInstances } from "./common.ts";

/** Disk templates mirrored by Ganeti itself between a primary and a secondary (DTS_INT_MIRROR). */
const INT_MIRROR = ["drbd"];
/** Disk templates on storage every node reaches (DTS_EXT_MIRROR). */
const EXT_MIRROR = ["blockdev", "ext", "gluster", "rbd", "sharedfile"];
/** Ganeti's shortcut for "the cluster's default iallocator". */
const DEFAULT_IALLOCATOR_SHORTCUT = ".";

type EvacCtx = LuContext<typeof OpNodeEvacuate.params>;

/** Ganeti's CheckIAllocatorOrNode: one of the two, or the cluster's default iallocator. */
function checkIAllocatorOrNode(op: EvacCtx["op"], snap: ConfigSnapshot): void {
  if (op.remote_node !== null && op.iallocator !== null) {
    throw new OpPrereqError("Do not specify both, iallocator and node", ECODE.inval);
  }
  if ((op.remote_node === null && op.iallocator === null) || op.iallocator === DEFAULT_IALLOCATOR_SHORTCUT) {
    if (!snap.cluster.default_iallocator) {
      throw new OpPrereqError(
        "No iallocator or node given and no cluster-wide default iallocator found; please specify either an " +
          "iallocator or a node, or set a cluster-wide default iallocator",
        ECODE.inval,
      );
    }
    op.iallocator = snap.cluster.default_iallocator;
  }
}

interface EvacPlan {
  node: Node;
  instances: Instance[];
}

/** The jobs that move one instance off the node, or why it cannot move. */
function evacuationJob(op: EvacCtx["op"], inst: Instance): Opcode[] | string {
  if (op.remote_node !== null || op.mode === "secondary-only") {
    return [childOpcode(OpInstanceReplaceDisks, {
      instance_name: inst.name,
      mode: "replace_new_secondary",
      disks: [],
      remote_node: op.remote_node,
      iallocator: op.remote_node === null ? op.iallocator : null,
      early_release: op.early_release,
    })];
  }
  // Primary instances: a mirrored one fails over to its secondary; one on shared storage
  // moves to a node the iallocator picks; the others have their data on this node only,
  // unless Corral's migrate_storage takes it along (live, so no failover to fall back to).
  const tls = migrationExtensions(op);
  if (INT_MIRROR.includes(inst.disk_template)) {
    return [childOpcode(OpInstanceMigrate, { instance_name: inst.name, allow_failover: true, ...tls })];
  }
  if (EXT_MIRROR.includes(inst.disk_template)) {
    return [childOpcode(OpInstanceMigrate, { instance_name: inst.name, iallocator: op.iallocator, allow_failover: true, ...tls })];
  }
  if (op.migrate_storage === true && inst.disk_template === "file") {
    return [childOpcode(OpInstanceMigrate, { instance_name: inst.name, iallocator: op.iallocator, mode: "live", migrate_storage: true, ...tls })];
  }
  return `Instances of type ${inst.disk_template} cannot be relocated`;
}

/** Corral's extensions as the instance jobs get them: only when given, so Ganeti's ops stay Ganeti's. */
function migrationExtensions(op: { migrate_tls: boolean | null }): { migrate_tls?: boolean } {
  return op.migrate_tls !== null ? { migrate_tls: op.migrate_tls } : {};
}

export const nodeEvacuateLU = defineLU({
  opcode: OpNodeEvacuate,
  locks: (op, snap) => oneNodeLocks(snap, op.node_name, "shared"),
  checkPrereq(ctx): EvacPlan {
    const op = ctx.op;
    const snap = ctx.snapshot();
    checkIAllocatorOrNode(op, snap);
    const node = expandNode(snap, op);
    if (op.remote_node !== null) {
      const remote = resolveObject(snap, "node", op.remote_node);
      op.remote_node_uuid = remote.uuid;
      op.remote_node = remote.name;
      if (remote.uuid === node.uuid) {
        throw new OpPrereqError("Can not use evacuated node as a new secondary node", ECODE.inval);
      }
      if (op.mode !== "secondary-only") {
        throw new OpPrereqError("Without the use of an iallocator only secondary instances can be evacuated", ECODE.inval);
      }
    }
    if (op.mode === "all") {
      throw new OpPrereqError(
        "Due to an issue with the iallocator interface it is not possible to evacuate all instances at once; " +
          "specify explicitly whether to evacuate primary or secondary instances",
        ECODE.inval,
      );
    }
    const instances = op.mode === "primary-only" ? primaryInstances(snap, node.uuid) : secondaryInstances(snap, node.uuid);
    if (instances.length > 0) {
      logInfo(ctx, `Evacuating instances from node '${node.name}': ${instances.map((i) => i.name).join(", ")}`);
    } else {
      logInfo(ctx, `No instances to evacuate from node '${node.name}'`);
    }
    if (op.remote_node_uuid !== null) {
      for (const inst of instances) {
        if (inst.primary_node === op.remote_node_uuid) {
          throw new OpPrereqError(
            `Node ${op.remote_node} is the primary node of instance ${inst.name}, cannot use it as secondary`,
            ECODE.inval,
          );
        }
      }
    }
    return { node, instances };
  },
  async exec(ctx, { instances }) {
    const jobs: Opcode[][] = [];
    const failed: string[] = [];
    for (const inst of instances) {
      const job = evacuationJob(ctx.op, inst);
      if (typeof job === "string") failed.push(`${inst.name} (${job})`);
      else jobs.push(job);
    }
    if (failed.length > 0) {
      logWarning(ctx, `Unable to evacuate instances ${failed.join(", ")}`);
      throw new OpExecError(`Unable to evacuate instances ${failed.join(", ")}`);
    }
    return submitChildJobs(ctx, jobs);
  },
});

export const nodeMigrateLU = defineLU({
  opcode: OpNodeMigrate,
  locks: (op, snap) => oneNodeLocks(snap, op.node_name, "shared"),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const node = expandNode(snap, ctx.op);
    return primaryInstances(snap, node.uuid);
  },
  async exec(ctx, instances) {
    const op = ctx.op;
    const jobs = instances.map((inst) => [
      childOpcode(OpInstanceMigrate, {
        instance_name: inst.name,
        mode: op.mode,
        live: op.live,
        iallocator: op.iallocator,
        target_node: op.target_node,
        allow_runtime_changes: op.allow_runtime_changes,
        ignore_ipolicy: op.ignore_ipolicy,
        ...(op.migrate_storage !== null ? { migrate_storage: op.migrate_storage } : {}),
        ...migrationExtensions(op),
      }),
    ]);
    return submitChildJobs(ctx, jobs);
  },
});

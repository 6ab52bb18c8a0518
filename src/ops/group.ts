// Node group logical units (Ganeti's cmdlib/group.py): add, remove, rename, change
// parameters, assign nodes.

import { randomUUID } from "node:crypto";
import type { LockRequest } from "../jobs/locks.ts";
import { ECODE, GanetiError, OpExecError, OpPrereqError } from "../model/errors.ts";
import { checkIPolicySyntax, fillIPolicy, type PartialPolicy } from "../model/ipolicy.ts";
import { niceCompare } from "../model/names.ts";
import type { NestedParams, NodeGroup, ParamDict } from "../model/objects.ts";
import { OpGroupAdd, OpGroupAssignNodes, OpGroupRemove, OpGroupRename, OpGroupSetParams } from "../model/opcodes/group.ts";
import { DISK_DT_TYPES, forceDictType, NDS_PARAMETER_TYPES } from "../model/paramdicts.ts";
import { pyRepr } from "../model/pyrepr.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { checkIpolicyVsDiskTemplates, getUpdatedIPolicy, newViolations } from "./ipolicy.ts";
import { defineLU, logWarning } from "./lu.ts";
import { instanceCommunicationOps } from "./network.ts";
import { submitChildJobs } from "./childjobs.ts";
import {
  checkDiskAccessModeConsistency, checkDiskAccessModes, checkDiskParamKeys, commaJoin, errorText, getUpdatedParams,
  groupInstances, mergeAndVerifyDiskState, mergeAndVerifyHvState, verifyDiskParams, verifyingDiskParams,
} from "./params.ts";
import { findObject, groupInstanceUuids, lockName, resolveObject } from "../query/resolve.ts";

/** Locks on one group (by name), the cluster shared; the group lock is skipped if unknown. */
function oneGroup(snap: ConfigSnapshot, name: string, extra: LockRequest = {}): LockRequest {
  const uuid = lockName(snap, "nodegroup", name);
  return {
    cluster: { names: "all", mode: "shared" },
    ...(uuid ? { nodegroup: { names: [uuid], mode: "exclusive" } } : {}),
    ...extra,
  };
}

/** Adding or renaming checks names against every group: lock them all. */
const allGroups = (): LockRequest => ({ cluster: { names: "all", mode: "shared" }, nodegroup: { names: "all", mode: "exclusive" } });

function refuseExistingName(snap: ConfigSnapshot, name: string, what: (uuid: string) => string): void {
  const existing = findObject(snap, "nodegroup", name);
  if (existing) throw new OpPrereqError(what(existing.uuid), ECODE.exists);
}

export const groupAddLU = defineLU({
  opcode: OpGroupAdd,
  locks: allGroups,
  checkPrereq(ctx) {
    const { op } = ctx;
    const snap = ctx.snapshot();
    refuseExistingName(snap, op.group_name, (uuid) =>
      `Desired group name '${op.group_name}' already exists as a node group (UUID: ${uuid})`);
    const ndparams = op.ndparams ? forceDictType(structuredClone(op.ndparams), NDS_PARAMETER_TYPES) : {};
    const hvState = op.hv_state && Object.keys(op.hv_state).length > 0 ? mergeAndVerifyHvState(op.hv_state, undefined) : {};
    const diskState = op.disk_state && Object.keys(op.disk_state).length > 0 ? mergeAndVerifyDiskState(op.disk_state, undefined) : {};
    const diskparams = structuredClone((op.diskparams ?? {}) as NestedParams);
    if (Object.keys(diskparams).length > 0) verifyDiskParams(diskparams);
    const ipolicy = (op.ipolicy ?? {}) as PartialPolicy;
    if (Object.keys(ipolicy).length > 0) {
      const full = fillIPolicy(snap.cluster.ipolicy, ipolicy);
      try {
        checkIPolicySyntax(full, false);
      } catch (err) {
        if (err instanceof GanetiError) throw new OpPrereqError(`Invalid instance policy: ${errorText(err)}`, ECODE.inval);
        throw err;
      }
      checkIpolicyVsDiskTemplates(full, snap.cluster.enabled_disk_templates);
    }
    return { ndparams, hvState, diskState, diskparams, ipolicy };
  },
  async exec(ctx, p) {
    const { op } = ctx;
    const group: NodeGroup = {
      uuid: randomUUID(),
      serial_no: 1,
      ctime: 0,
      mtime: 0,
      tags: [],
      name: op.group_name,
      alloc_policy: op.alloc_policy ?? "preferred",
      ndparams: p.ndparams,
      diskparams: p.diskparams,
      ipolicy: p.ipolicy,
      hv_state_static: p.hvState,
      disk_state_static: p.diskState,
      networks: {},
    };
    const snap = await ctx.master.store.transact((tx) => {
      tx.add("nodegroup", group);
      return tx.current;
    });
    // A new group joins the instance communication network, if there is one (one job).
    const name = snap.cluster.instance_communication_network;
    if (!name || !findObject(snap, "network", name)) return null;
    const ops = instanceCommunicationOps(snap, name, [group]);
    return ops.length > 0 ? submitChildJobs(ctx, [ops]) : null;
  },
});

export const groupRemoveLU = defineLU({
  opcode: OpGroupRemove,
  // The group alone, as in Ganeti: assigning a node to or from it takes the group's lock.
  locks: (op, snap) => oneGroup(snap, op.group_name),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const group = resolveObject(snap, "nodegroup", ctx.op.group_name);
    const members = [...snap.nodes.values()].filter((n) => n.group === group.uuid).map((n) => n.uuid);
    if (members.length > 0) {
      throw new OpPrereqError(
        `Group '${ctx.op.group_name}' not empty, has the following nodes: ${commaJoin(members.sort(niceCompare))}`,
        ECODE.state,
      );
    }
    if (snap.groups.size === 1) {
      throw new OpPrereqError(`Group '${ctx.op.group_name}' is the only group, cannot be removed`, ECODE.state);
    }
    return group.uuid;
  },
  async exec(ctx, uuid) {
    await ctx.master.store.transact((tx) => {
      if (!tx.current.groups.has(uuid)) {
        throw new OpExecError(`Group '${ctx.op.group_name}' with UUID ${uuid} disappeared`);
      }
      tx.remove("nodegroup", uuid);
    });
    return null;
  },
});

export const groupRenameLU = defineLU({
  opcode: OpGroupRename,
  locks: allGroups,
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const group = resolveObject(snap, "nodegroup", ctx.op.group_name);
    refuseExistingName(snap, ctx.op.new_name, (uuid) =>
      `Desired new name '${ctx.op.new_name}' clashes with existing node group (UUID: ${uuid})`);
    return group.uuid;
  },
  async exec(ctx, uuid) {
    await ctx.master.store.transact((tx) => tx.update("nodegroup", uuid, (g) => void (g.name = ctx.op.new_name)));
    return ctx.op.new_name;
  },
});

interface GroupChanges {
  uuid: string;
  ndparams?: ParamDict;
  diskparams?: NestedParams;
  hvState?: NestedParams;
  diskState?: Record<string, NestedParams>;
  ipolicy?: PartialPolicy;
}

export const groupSetParamsLU = defineLU({
  opcode: OpGroupSetParams,
  // The group's instances shared (their policy is checked), as in Ganeti; not every instance.
  locks: (op, snap) => oneGroup(snap, op.group_name, {
    instance: { names: groupInstanceUuids(snap, lockName(snap, "nodegroup", op.group_name)), mode: "shared" },
  }),
  checkPrereq(ctx): GroupChanges {
    const { op } = ctx;
    const changes = [op.ndparams, op.diskparams, op.alloc_policy, op.hv_state, op.disk_state, op.ipolicy];
    if (changes.every((c) => c === null)) throw new OpPrereqError("Please pass at least one modification", ECODE.inval);
    if (op.diskparams) checkDiskAccessModes(op.diskparams as NestedParams);
    const snap = ctx.snapshot();
    const group = resolveObject(snap, "nodegroup", op.group_name);
    const instances = groupInstances(snap, group.uuid);
    const out: GroupChanges = { uuid: group.uuid };
    if (op.ndparams && Object.keys(op.ndparams).length > 0) {
      out.ndparams = forceDictType(getUpdatedParams(group.ndparams, op.ndparams), NDS_PARAMETER_TYPES);
    }
    if (op.diskparams && Object.keys(op.diskparams).length > 0) {
      const updated: NestedParams = {};
      for (const [template, params] of Object.entries(op.diskparams)) {
        updated[template] = forceDictType(getUpdatedParams(group.diskparams[template] ?? {}, params), DISK_DT_TYPES);
      }
      out.diskparams = { ...structuredClone(group.diskparams), ...updated };
      const filled = out.diskparams;
      verifyingDiskParams(() => {
        checkDiskParamKeys(filled);
        checkDiskAccessModeConsistency(filled, instances);
      });
    }
    if (op.hv_state && Object.keys(op.hv_state).length > 0) out.hvState = mergeAndVerifyHvState(op.hv_state, group.hv_state_static);
    if (op.disk_state && Object.keys(op.disk_state).length > 0) {
      out.diskState = mergeAndVerifyDiskState(op.disk_state, group.disk_state_static);
    }
    if (op.ipolicy && Object.keys(op.ipolicy).length > 0) {
      out.ipolicy = getUpdatedIPolicy(group.ipolicy as PartialPolicy, op.ipolicy, true);
      const cluster = snap.cluster;
      const next = fillIPolicy(cluster.ipolicy, out.ipolicy);
      checkIpolicyVsDiskTemplates(next, cluster.enabled_disk_templates);
      const current = fillIPolicy(cluster.ipolicy, group.ipolicy as PartialPolicy);
      const violating = newViolations(current, next, instances, cluster);
      if (violating.length > 0) {
        logWarning(ctx, `After the ipolicy change the following instances violate them: ${commaJoin(violating)}`);
      }
    }
    return out;
  },
  async exec(ctx, p) {
    const { op } = ctx;
    const result: [string, string][] = [];
    await ctx.master.store.transact((tx) =>
      tx.update("nodegroup", p.uuid, (g) => {
        if (p.ndparams) {
          g.ndparams = p.ndparams;
          result.push(["ndparams", pyRepr(g.ndparams)]);
        }
        if (p.diskparams) {
          g.diskparams = p.diskparams;
          result.push(["diskparams", pyRepr(g.diskparams)]);
        }
        if (op.alloc_policy) g.alloc_policy = op.alloc_policy;
        if (p.hvState) g.hv_state_static = p.hvState;
        if (p.diskState) g.disk_state_static = p.diskState;
        if (p.ipolicy) g.ipolicy = p.ipolicy;
      }),
    );
    return result;
  },
});

/** Disk templates whose disks span nodes (Ganeti's DTS_INT_MIRROR). */
const INTERNALLY_MIRRORED = ["drbd"];

export const groupAssignNodesLU = defineLU({
  opcode: OpGroupAssignNodes,
  locks(op, snap) {
    const target = lockName(snap, "nodegroup", op.group_name);
    const nodes = op.nodes.length > 0 ? op.nodes.map((n) => lockName(snap, "node", n)) : [...snap.nodes.keys()];
    const known = nodes.filter((n): n is string => n !== undefined);
    const groups = new Set(known.map((n) => snap.nodes.get(n)?.group ?? ""));
    if (target) groups.add(target);
    return {
      cluster: { names: "all", mode: "shared" },
      nodegroup: { names: [...groups].filter(Boolean), mode: "exclusive" },
      // The moved nodes exclusive keep every job on their instances out (those lock their
      // nodes); Ganeti takes no instance locks here either.
      node: { names: known, mode: "exclusive" },
    };
  },
  checkPrereq(ctx) {
    const { op } = ctx;
    const snap = ctx.snapshot();
    const group = resolveObject(snap, "nodegroup", op.group_name);
    const nodes = op.nodes.length > 0 ? op.nodes.map((n) => resolveObject(snap, "node", n)) : [...snap.nodes.values()];
    // Ganeti records what it resolved in the opcode (the job's ops show node_uuids).
    op.node_uuids = nodes.map((n) => n.uuid);
    op.nodes = nodes.map((n) => n.name);

    const moved = new Map(nodes.filter((n) => n.group !== group.uuid).map((n) => [n.uuid, group.uuid]));
    const groupOf = (uuid: string, changes: Map<string, string>) => changes.get(uuid) ?? snap.nodes.get(uuid)?.group;
    const newSplits: string[] = [];
    const stillSplit: string[] = [];
    for (const inst of snap.instances.values()) {
      if (!inst.disks.some((d) => INTERNALLY_MIRRORED.includes(d.dev_type))) continue;
      const instNodes = [inst.primary_node, ...inst.secondary_nodes];
      const before = new Set(instNodes.map((n) => groupOf(n, new Map()))).size > 1;
      const after = new Set(instNodes.map((n) => groupOf(n, moved))).size > 1;
      if (after && !before) newSplits.push(inst.name);
      if (after && before) stillSplit.push(inst.name);
    }
    if (newSplits.length > 0) {
      const names = commaJoin(newSplits.sort(niceCompare));
      if (!op.force) {
        throw new OpExecError(`The following instances get split by this change and --force was not given: ${names}`);
      }
      logWarning(ctx, `This operation will split the following instances: ${names}`);
      if (stillSplit.length > 0) {
        logWarning(ctx, `In addition, these already-split instances continue to be split across groups: ${commaJoin(stillSplit.sort(niceCompare))}`);
      }
    }
    return { group: group.uuid, nodes: [...moved.keys()] };
  },
  async exec(ctx, p) {
    await ctx.master.store.transact((tx) => {
      for (const uuid of p.nodes) tx.update("node", uuid, (n) => void (n.group = p.group));
    });
    return null;
  },
});

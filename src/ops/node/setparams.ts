// OP_NODE_SET_PARAMS: a node's role flags (master candidate, drained, offline), its
// capabilities, secondary IP, node parameters and declared hypervisor/disk state, with
// Ganeti's LUNodeSetParams rules: the master's role is fixed, the candidate pool must stay
// full unless auto_promote lets other nodes step in, flags are exclusive.

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import { isIPv4Address } from "../../model/netaddr.ts";
import type { Node, ParamDict } from "../../model/objects.ts";
import { OpNodeSetParams } from "../../model/opcodes/node.ts";
import { forceDictType, NDS_PARAMETER_TYPES } from "../../model/paramdicts.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import { getUpdatedParams, mergeAndVerifyDiskState, mergeAndVerifyHvState } from "../params.ts";
import {
  adjustCandidatePool, candidateStats, decideSelfPromotion, expandNode, nodeInstances, nodeLockName, pyBool,
} from "./common.ts";

type Op = LuContext<typeof OpNodeSetParams.params>["op"];
type Role = "candidate" | "drained" | "offline" | "regular";
const FLAGS = ["master_candidate", "drained", "offline"] as const;
type Flag = (typeof FLAGS)[number];

const ROLE_FLAGS: Record<Role, Record<Flag, boolean>> = {
  candidate: { master_candidate: true, drained: false, offline: false },
  drained: { master_candidate: false, drained: true, offline: false },
  offline: { master_candidate: false, drained: false, offline: true },
  regular: { master_candidate: false, drained: false, offline: false },
};

/** A node's role from its flags (the first set one wins if several are). */
function roleOf(node: Pick<Node, Flag>): Role {
  if (node.master_candidate) return "candidate";
  if (node.drained) return "drained";
  if (node.offline) return "offline";
  return "regular";
}

/** Node parameters that only the cluster or a group may set (Ganeti's NDC_GLOBALS). */
const ND_GLOBALS = ["exclusive_storage"];

/** Disk templates whose data a secondary node mirrors over the secondary IP (DTS_INT_MIRROR). */
const INT_MIRROR = ["drbd"];

interface Plan {
  node: Node;
  oldRole: Role;
  newRole: Role;
  lockAll: boolean;
  /** The node leaves the offline role: it must answer before anything changes. */
  deOffline: boolean;
  ndparams?: ParamDict;
  hvState?: ParamDict;
  diskState?: ParamDict;
}

/** Whether the request might leave the node no longer a master candidate. */
function mightDemote(op: Op): boolean {
  return op.master_candidate === false || op.offline === true || op.drained === true || op.master_capable === false;
}

function filledNdparams(snap: ConfigSnapshot, node: Node): ParamDict {
  const group = snap.groups.get(node.group);
  return { ...snap.cluster.ndparams, ...group?.ndparams, ...node.ndparams };
}

function checkArguments(op: Op): void {
  const mods = [
    op.offline, op.master_candidate, op.drained, op.master_capable, op.vm_capable,
    op.secondary_ip, op.ndparams, op.hv_state, op.disk_state,
  ];
  if (mods.every((m) => m === null)) throw new OpPrereqError("Please pass at least one modification", ECODE.inval);
  if (mods.filter((m) => m === true).length > 1) {
    throw new OpPrereqError("Can't set the node into more than one state at the same time", ECODE.inval);
  }
  if (op.secondary_ip !== null && !isIPv4Address(op.secondary_ip)) {
    throw new OpPrereqError(`Secondary IP (${op.secondary_ip}) needs to be a valid IPv4 address`, ECODE.inval);
  }
}

/** The role the request leads to, after Ganeti's adjustments of the opcode's flags. */
function newRole(ctx: LuContext<typeof OpNodeSetParams.params>, snap: ConfigSnapshot, node: Node): Role {
  const op = ctx.op;
  for (const flag of FLAGS) {
    if (op[flag] === false && node[flag] === false) {
      logInfo(ctx, `Ignoring request to unset flag ${flag}, already unset`);
      op[flag] = null;
    }
  }
  if (op.drained === false || op.offline === false || (op.master_capable === true && !node.master_capable)) {
    if (decideSelfPromotion(snap)) {
      op.master_candidate = true;
      logInfo(ctx, "Auto-promoting node to master candidate");
    }
  }
  if (op.master_capable === false && node.master_candidate) {
    logInfo(ctx, "Demoting from master candidate");
    op.master_candidate = false;
  }
  if (op.master_candidate) return "candidate";
  if (op.drained) return "drained";
  if (op.offline) return "offline";
  // A false flag left means the one flag that was set is being unset.
  if (FLAGS.some((f) => op[f] === false)) return "regular";
  return roleOf(node);
}

function checkSecondaryIp(ctx: LuContext<typeof OpNodeSetParams.params>, snap: ConfigSnapshot, node: Node, ip: string): void {
  const master = snap.nodes.get(snap.cluster.master_node);
  const singleHomed = master !== undefined && master.secondary_ip === master.primary_ip;
  const forcedOnMaster = ctx.op.force && node.uuid === snap.cluster.master_node;
  if (singleHomed && ip !== node.primary_ip) {
    if (!forcedOnMaster) {
      throw new OpPrereqError(
        "Changing the secondary ip on a single-homed cluster requires the --force option to be passed, and the target node to be the master",
        ECODE.inval,
      );
    }
    logWarning(ctx, "Transitioning from single-homed to multi-homed cluster; all nodes will require a secondary IP address");
  } else if (!singleHomed && ip === node.primary_ip) {
    if (!forcedOnMaster) {
      throw new OpPrereqError(
        "Cannot set the secondary IP to be the same as the primary IP on a multi-homed cluster, unless the --force option is passed, and the target node is the master",
        ECODE.inval,
      );
    }
    logWarning(ctx, "Transitioning from multi-homed to single-homed cluster; secondary IP addresses will have to be removed");
  }
  const affected = nodeInstances(snap, node.uuid).filter((i) => INT_MIRROR.includes(i.disk_template));
  if (node.offline && affected.length > 0) {
    throw new OpPrereqError(
      `Cannot change secondary IP address: offline node has instances (${affected.map((i) => i.name).join(", ")}) configured to use it`,
      ECODE.state,
    );
  }
  for (const inst of affected) {
    if (inst.admin_state === "up") {
      throw new OpPrereqError(`Instance '${inst.name}' is marked to be up, cannot change secondary ip`, ECODE.state);
    }
  }
}

export const nodeSetParamsLU = defineLU({
  opcode: OpNodeSetParams,
  locks(op, snap) {
    const lockAll = op.auto_promote && mightDemote(op);
    const uuid = nodeLockName(snap, op.node_name);
    return {
      cluster: { names: "all", mode: "shared" },
      node: { names: lockAll ? "all" : uuid ? [uuid] : [], mode: "exclusive" },
    };
  },
  checkPrereq(ctx): Plan {
    const snap = ctx.snapshot();
    const op = ctx.op;
    const node = expandNode(snap, op);
    checkArguments(op);
    const lockAll = op.auto_promote && mightDemote(op);

    if ((op.master_candidate !== null || op.drained !== null || op.offline !== null) && node.uuid === snap.cluster.master_node) {
      throw new OpPrereqError("The master role can be changed only via master-failover", ECODE.inval);
    }
    if (op.master_candidate === true && !node.master_capable) {
      throw new OpPrereqError(`Node ${node.name} is not master capable, cannot make it a master candidate`, ECODE.state);
    }
    if (op.vm_capable === false && nodeInstances(snap, node.uuid).length > 0) {
      throw new OpPrereqError(`Node ${node.name} hosts instances, cannot unset the vm_capable flag`, ECODE.state);
    }
    if (node.master_candidate && mightDemote(op) && !lockAll) {
      const stats = candidateStats(snap, [node.uuid]);
      if (stats.now < stats.should) {
        throw new OpPrereqError(
          "Not enough master candidates, please pass auto promote option to allow promotion (--auto-promote or RAPI auto_promote=True)",
          ECODE.state,
        );
      }
    }

    const oldRole = roleOf(node);
    // Out-of-band power management is only known where an oob_program is configured.
    if (filledNdparams(snap, node)["oob_program"]) {
      if (op.offline === false && !(node.powered || op.powered === true)) {
        throw new OpPrereqError(`Node ${op.node_name} needs to be turned on before its offline status can be reset`, ECODE.state);
      }
    } else if (op.powered !== null) {
      throw new OpPrereqError(
        `Unable to change powered state for node ${op.node_name} as it does not support out-of-band handling`,
        ECODE.state,
      );
    }
    const role = newRole(ctx, snap, node);
    if (op.secondary_ip !== null) checkSecondaryIp(ctx, snap, node, op.secondary_ip);

    const plan: Plan = { node, oldRole, newRole: role, lockAll, deOffline: oldRole === "offline" && role !== oldRole };
    if (op.ndparams) {
      const globals = ND_GLOBALS.filter((k) => k in (op.ndparams as ParamDict));
      if (globals.length > 0) {
        throw new OpPrereqError(
          `The following node parameters are global and cannot be customized at node level, please modify them at cluster or group level: ${globals.join(", ")}`,
          ECODE.inval,
        );
      }
      plan.ndparams = forceDictType(getUpdatedParams(node.ndparams, op.ndparams), NDS_PARAMETER_TYPES);
    }
    if (op.hv_state) plan.hvState = mergeAndVerifyHvState(op.hv_state, node.hv_state_static);
    if (op.disk_state) plan.diskState = mergeAndVerifyDiskState(op.disk_state, node.disk_state_static);
    return plan;
  },
  async exec(ctx, plan) {
    const op = ctx.op;
    const { node } = plan;
    if (plan.deOffline) {
      try {
        await ctx.master.node(node).version({});
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new OpPrereqError(`Node ${node.name} is being de-offlined but fails to report its version: ${msg}`, ECODE.state);
      }
      logWarning(ctx, "Transitioning node from offline to online state without using re-add. Please make sure the node is healthy!");
    }
    const result: [string, unknown][] = [];
    await ctx.master.store.transact((tx) => {
      tx.update("node", node.uuid, (n) => {
        if (plan.ndparams) n.ndparams = plan.ndparams;
        if (op.powered !== null) n.powered = op.powered;
        if (plan.hvState) n.hv_state_static = plan.hvState;
        if (plan.diskState) n.disk_state_static = plan.diskState;
        for (const attr of ["master_capable", "vm_capable"] as const) {
          const value = op[attr];
          if (value === null) continue;
          n[attr] = value;
          result.push([attr, pyBool(value)]);
        }
        if (op.secondary_ip !== null) {
          n.secondary_ip = op.secondary_ip;
          result.push(["secondary_ip", op.secondary_ip]);
        }
        if (plan.newRole !== plan.oldRole) {
          const flags = ROLE_FLAGS[plan.newRole];
          for (const flag of FLAGS) {
            if (n[flag] !== flags[flag]) result.push([flag, pyBool(flags[flag])]);
            n[flag] = flags[flag];
          }
        }
      });
      if (plan.newRole !== plan.oldRole && plan.lockAll) adjustCandidatePool(tx, [node.uuid], ctx);
    });
    await ctx.master.live.refresh([node.uuid]);
    return result;
  },
});

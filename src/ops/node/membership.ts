// OP_NODE_ADD and OP_NODE_REMOVE: a node joins or leaves the cluster. Joining follows
// Ganeti's LUNodeAdd checks (unique name and addresses, same single/dual-homed layout as
// the master, the node group, node parameters) and, before anything is written, asks the
// node's agent for its version over the cluster's mutual-TLS channel: an agent that does not
// hold the cluster certificate, speaks another protocol or serves another node name is
// refused. Ganeti's DNS lookup of the node name is replaced by the agent endpoint's host.

import { randomUUID } from "node:crypto";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ECODE, GanetiError, OpPrereqError } from "../../model/errors.ts";
import { isIPv4Address } from "../../model/netaddr.ts";
import type { Node, NodeGroup, ParamDict } from "../../model/objects.ts";
import { OpNodeAdd, OpNodeRemove } from "../../model/opcodes/nodeadd.ts";
import { forceDictType, NDS_PARAMETER_TYPES } from "../../model/paramdicts.ts";
import { PROTOCOL_VERSION } from "../../rpc/calls.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { defineLU, logInfo, logWarning, type LuContext } from "../lu.ts";
import { mergeAndVerifyDiskState, mergeAndVerifyHvState } from "../params.ts";
import { adjustCandidatePool, decideSelfPromotion, expandNode, nodeInstances } from "./common.ts";

type AddCtx = LuContext<typeof OpNodeAdd.params>;

/** Node parameters that only the cluster or a group may set (Ganeti's NDC_GLOBALS). */
const ND_GLOBALS = ["exclusive_storage"];

/** Ganeti's LookupNodeGroup: by uuid or name; none given works only with a single group. */
function lookupNodeGroup(snap: ConfigSnapshot, target: string | null): NodeGroup {
  if (target === null) {
    if (snap.groups.size !== 1) {
      throw new GanetiError("OpPrereqError", ["More than one node group exists. Target group must be specified explicitly."]);
    }
    return [...snap.groups.values()][0];
  }
  const found = snap.groups.get(target) ?? [...snap.groups.values()].find((g) => g.name === target);
  if (!found) throw new OpPrereqError(`Node group '${target}' not found`, ECODE.noEnt);
  return found;
}

/** The host of an agent endpoint, which must be https://host:port. */
export function endpointHost(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new OpPrereqError(`Invalid node agent endpoint '${endpoint}': expected https://host:port`, ECODE.inval);
  }
  if (url.protocol !== "https:" || !url.hostname || url.pathname !== "/" || url.search || url.username) {
    throw new OpPrereqError(`Invalid node agent endpoint '${endpoint}': expected https://host:port`, ECODE.inval);
  }
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

interface AddPlan {
  uuid: string;
  existing: Node | undefined;
  endpoint: string;
  group: string;
  masterCapable: boolean;
  vmCapable: boolean;
  ndparams: ParamDict;
  hvState?: ParamDict;
  diskState?: ParamDict;
}

function checkAdd(ctx: AddCtx): AddPlan {
  const op = ctx.op;
  const snap = ctx.snapshot();
  const master = snap.nodes.get(snap.cluster.master_node);
  if (op.readd && op.node_name === master?.name) throw new OpPrereqError("Cannot readd the master node", ECODE.state);
  if (op.readd && op.group !== null) {
    throw new OpPrereqError("Cannot pass a node group when a node is being readded", ECODE.inval);
  }
  if (op.secondary_ip !== null && !isIPv4Address(op.secondary_ip)) {
    throw new OpPrereqError(`Secondary IP (${op.secondary_ip}) needs to be a valid IPv4 address`, ECODE.inval);
  }
  if (op.primary_ip !== null && isIP(op.primary_ip) !== snap.cluster.primary_ip_family) {
    throw new OpPrereqError(
      `Primary IP (${op.primary_ip}) needs to be a valid IPv${snap.cluster.primary_ip_family} address`,
      ECODE.inval,
    );
  }
  const existing = [...snap.nodes.values()].find((n) => n.name === op.node_name);
  if (!op.readd && existing) throw new OpPrereqError(`Node ${op.node_name} is already in the configuration`, ECODE.exists);
  if (op.readd && !existing) throw new OpPrereqError(`Node ${op.node_name} is not in the configuration`, ECODE.noEnt);

  const endpoint = op.agent_endpoint ?? existing?.agent_endpoint;
  if (!endpoint) {
    throw new OpPrereqError(
      `Node ${op.node_name} needs the address of its node agent (agent_endpoint, e.g. https://host:1811)`,
      ECODE.inval,
    );
  }
  endpointHost(endpoint);

  const masterCapable = op.master_capable ?? existing?.master_capable ?? true;
  const vmCapable = op.vm_capable ?? existing?.vm_capable ?? true;
  if (existing && !vmCapable && nodeInstances(snap, existing.uuid).length > 0) {
    throw new OpPrereqError(
      `Node ${op.node_name} being re-added with vm_capable flag set to false, but it already holds instances`,
      ECODE.state,
    );
  }
  const group = existing ? existing.group : lookupNodeGroup(snap, op.group).uuid;

  let ndparams: ParamDict = existing?.ndparams ?? {};
  if (op.ndparams) {
    ndparams = forceDictType(structuredClone(op.ndparams), NDS_PARAMETER_TYPES);
    const globals = ND_GLOBALS.filter((k) => k in ndparams);
    if (globals.length > 0) {
      throw new OpPrereqError(
        `The following node parameters are global and cannot be customized at node level, please modify them at cluster or group level: ${globals.join(", ")}`,
        ECODE.inval,
      );
    }
  }
  const plan: AddPlan = { uuid: existing?.uuid ?? randomUUID(), existing, endpoint, group, masterCapable, vmCapable, ndparams };
  if (op.hv_state) plan.hvState = mergeAndVerifyHvState(op.hv_state, undefined);
  if (op.disk_state) plan.diskState = mergeAndVerifyDiskState(op.disk_state, undefined);
  return plan;
}

/** The node's primary IP: as given, as before on a re-add, else the endpoint host's address. */
async function primaryIp(ctx: AddCtx, plan: AddPlan): Promise<string> {
  if (ctx.op.primary_ip !== null) return ctx.op.primary_ip;
  if (plan.existing) return plan.existing.primary_ip;
  const host = endpointHost(plan.endpoint);
  if (isIP(host)) return host;
  const family = ctx.snapshot().cluster.primary_ip_family;
  try {
    return (await lookup(host, { family })).address;
  } catch (err) {
    throw new OpPrereqError(
      `Cannot resolve the node agent's host '${host}' to an IPv${family} address (${(err as Error).message}); give the primary IP explicitly`,
      ECODE.resolver,
    );
  }
}

/** Ganeti's address checks: no address shared with another node, same homing as the master. */
function checkAddresses(snap: ConfigSnapshot, plan: AddPlan, pip: string, sip: string): void {
  for (const other of snap.nodes.values()) {
    if (other.uuid === plan.existing?.uuid) {
      if (other.secondary_ip !== sip) {
        throw new OpPrereqError("Readded node doesn't have the same IP address configuration as before", ECODE.inval);
      }
      continue;
    }
    if ([other.primary_ip, other.secondary_ip].some((ip) => ip === pip || ip === sip)) {
      throw new OpPrereqError(`New node ip address(es) conflict with existing node ${other.name}`, ECODE.notUnique);
    }
  }
  const master = snap.nodes.get(snap.cluster.master_node);
  const masterSingle = master === undefined || master.secondary_ip === master.primary_ip;
  if (masterSingle !== (sip === pip)) {
    throw new OpPrereqError(
      masterSingle ? "The master has no secondary ip but the new node has one" : "The master has a secondary ip but the new node doesn't have one",
      ECODE.inval,
    );
  }
}

/** Asks the agent who it is; refuses one that cannot prove it belongs to this cluster. */
async function checkAgent(ctx: AddCtx, plan: AddPlan, name: string): Promise<void> {
  const client = ctx.master.node({ uuid: plan.uuid, name, agent_endpoint: plan.endpoint });
  let version;
  try {
    version = await client.version({});
  } catch (err) {
    throw new OpPrereqError(
      `Can't get version information from node ${name}: ${err instanceof Error ? err.message : String(err)}`,
      ECODE.environ,
    );
  }
  if (version.protocol !== PROTOCOL_VERSION) {
    throw new OpPrereqError(`Version mismatch master version ${PROTOCOL_VERSION}, node version ${version.protocol}`, ECODE.environ);
  }
  if (version.node !== name) {
    throw new OpPrereqError(
      `The node agent at ${plan.endpoint} serves node '${version.node}', not '${name}' (start it with --node-name ${name})`,
      ECODE.environ,
    );
  }
  const snap = ctx.snapshot();
  const missing = snap.cluster.enabled_hypervisors.filter((hv) => !version.hypervisors.includes(hv));
  if (missing.length > 0) logWarning(ctx, `Node ${name} does not offer the enabled hypervisor(s) ${missing.join(", ")}`);
  const templates = snap.cluster.enabled_disk_templates.filter((dt) => !version.disk_templates.includes(dt));
  if (templates.length > 0) logWarning(ctx, `Node ${name} does not offer the enabled disk template(s) ${templates.join(", ")}`);
}

export const nodeAddLU = defineLU({
  opcode: OpNodeAdd,
  // Ganeti holds the big cluster lock while a node joins.
  locks: () => ({ cluster: { names: "all", mode: "exclusive" }, node: { names: "all", mode: "exclusive" } }),
  checkPrereq: checkAdd,
  async exec(ctx, plan) {
    const op = ctx.op;
    const name = op.node_name;
    const pip = await primaryIp(ctx, plan);
    op.primary_ip = pip;
    op.secondary_ip ??= pip;
    const sip = op.secondary_ip;
    checkAddresses(ctx.snapshot(), plan, pip, sip);
    await checkAgent(ctx, plan, name);

    await ctx.master.store.transact((tx) => {
      const snap = tx.current;
      const candidate = plan.masterCapable && decideSelfPromotion(snap, plan.existing ? [plan.existing.uuid] : []);
      if (plan.existing) {
        logInfo(ctx, "Readding a node, the offline/drained flags were reset");
        tx.update("node", plan.existing.uuid, (n) => {
          Object.assign(n, {
            primary_ip: pip, secondary_ip: sip, offline: false, drained: false, master_candidate: candidate,
            master_capable: plan.masterCapable, vm_capable: plan.vmCapable, ndparams: plan.ndparams,
            agent_endpoint: plan.endpoint, powered: true,
          });
          if (plan.hvState) n.hv_state_static = plan.hvState;
          if (plan.diskState) n.disk_state_static = plan.diskState;
        });
      } else {
        const node: Node = {
          uuid: plan.uuid, serial_no: 1, ctime: 0, mtime: 0, tags: [],
          name, primary_ip: pip, secondary_ip: sip, group: plan.group,
          offline: false, drained: false, master_candidate: candidate,
          master_capable: plan.masterCapable, vm_capable: plan.vmCapable, ndparams: plan.ndparams,
          agent_endpoint: plan.endpoint, powered: true,
        };
        if (plan.hvState) node.hv_state_static = plan.hvState;
        if (plan.diskState) node.disk_state_static = plan.diskState;
        tx.add("node", node);
      }
      if (candidate) logInfo(ctx, "Node will be a master candidate");
    });
    await ctx.master.live.refresh([plan.uuid]);
    return null;
  },
});

export const nodeRemoveLU = defineLU({
  opcode: OpNodeRemove,
  locks: () => ({ cluster: { names: "all", mode: "exclusive" }, node: { names: "all", mode: "exclusive" } }),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const node = expandNode(snap, ctx.op);
    if (node.uuid === snap.cluster.master_node) {
      throw new OpPrereqError("Node is the master node, failover to another node is required", ECODE.inval);
    }
    const [inst] = nodeInstances(snap, node.uuid);
    if (inst) throw new OpPrereqError(`Instance ${inst.name} is still running on the node, please remove first`, ECODE.inval);
    return node;
  },
  async exec(ctx, node) {
    await ctx.master.store.transact((tx) => {
      adjustCandidatePool(tx, [node.uuid], ctx);
      tx.remove("node", node.uuid);
    });
    await ctx.master.live.refresh([node.uuid]);
    // Ganeti tells the node to leave (node_leave_cluster); Corral's agent holds no cluster
    // state to wipe, so it is left running for its operator to stop.
    logInfo(ctx, `Node ${node.name} left the cluster; its agent at ${node.agent_endpoint} can be stopped`);
    return null;
  },
});

// What the instance logical units share: finding the instance and its nodes, the state
// checks Ganeti's LUs make (with its messages), filled parameters, the description of an
// instance the node agents get, and node calls whose failures become OpExecErrors.
// Just over 400 lines: the shared vocabulary of every instance logical unit.

import { ECODE, GanetiError, OpExecError, OpPrereqError, type Ecode } from "../../model/errors.ts";
import type { Cluster, Disk, Instance, Nic, Node, ParamDict } from "../../model/objects.ts";
import type { LockRequest } from "../../jobs/locks.ts";
import type { LiveState } from "../../query/live.ts";
import type { DiskSpec, InstanceSpec, NicSpec, NodeRpcClient } from "../../rpc/index.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import type { LuContext } from "../lu.ts";
import { findObject, resolveObject } from "../../query/resolve.ts";
import type { ParamSpec } from "../../model/params.ts";
import { filledBeparams, filledHvparams, filledNicparams, filledOsparams, fillParams, osBaseName } from "../../model/filled.ts";

export const INSTANCE_ONLINE = ["down", "up"] as const;
export const INSTANCE_DOWN = ["down"] as const;
export const INSTANCE_NOT_RUNNING = ["down", "offline"] as const;

/** Disk templates Corral's agents implement. */
export const CORRAL_DISK_TEMPLATES: readonly string[] = ["diskless", "file", "sharedfile", "ext"];
/** Templates whose disks live on one node's storage and cannot follow the instance elsewhere. */
export const DTS_LOCAL_STORAGE: readonly string[] = ["file", "plain", "drbd"];
/** Externally mirrored templates: the storage is reachable from any node (and diskless). */
export const DTS_EXT_MIRROR: readonly string[] = ["diskless", "blockdev", "ext", "sharedfile", "rbd", "gluster"];

type Ctx = LuContext<ParamSpec>;

/** Anything carrying an instance name (and maybe uuid), as the instance opcodes do. */
interface InstanceOp {
  instance_name: string;
  instance_uuid?: string | null;
}

/** The instance the opcode names (exact, unique short name or uuid); unknown_entity otherwise. */
export function opInstance(snap: ConfigSnapshot, op: InstanceOp): Instance {
  const inst = resolveObject(snap, "instance", op.instance_name);
  if (op.instance_uuid && op.instance_uuid !== inst.uuid) {
    throw new OpPrereqError(`Instance '${op.instance_name}' has uuid ${inst.uuid}, not ${op.instance_uuid}`, ECODE.inval);
  }
  return inst;
}

/**
 * Records the resolved instance on the opcode, as Ganeti's LUs do (the job then shows the
 * full name and the instance_uuid).
 */
export function noteInstance(op: InstanceOp, inst: Instance): void {
  op.instance_name = inst.name;
  op.instance_uuid = inst.uuid;
}

export function instanceNodes(inst: Instance): string[] {
  return [inst.primary_node, ...inst.secondary_nodes];
}

/**
 * Locks of an instance opcode: the cluster shared, the instance in `instanceMode` (default
 * exclusive), its nodes (and `extraNodes`) in `nodeMode`. An unknown instance locks only
 * the cluster; checkPrereq then reports it.
 */
export function instanceLocks(
  op: InstanceOp,
  snap: ConfigSnapshot,
  opts: { nodeMode?: "shared" | "exclusive"; instanceMode?: "shared" | "exclusive"; extraNodes?: (string | undefined)[]; allNodes?: boolean } = {},
): LockRequest {
  const inst = findObject(snap, "instance", op.instance_name);
  const req: LockRequest = { cluster: { names: "all", mode: "shared" } };
  if (!inst) return req;
  req.instance = { names: [inst.uuid], mode: opts.instanceMode ?? "exclusive" };
  const mode = opts.nodeMode ?? "shared";
  if (opts.allNodes) req.node = { names: "all", mode };
  else {
    const nodes = new Set([...instanceNodes(inst), ...(opts.extraNodes ?? []).filter((n): n is string => !!n)]);
    req.node = { names: [...nodes], mode };
  }
  return req;
}

/** The node uuid `name` stands for, for lock requests (undefined: checkPrereq reports it). */
export function nodeUuidOf(snap: ConfigSnapshot, name: string | null | undefined): string | undefined {
  return name ? findObject(snap, "node", name)?.uuid : undefined;
}

export function nodeOf(snap: ConfigSnapshot, uuid: string): Node {
  const node = snap.nodes.get(uuid);
  if (!node) throw new OpPrereqError(`Node with uuid ${uuid} is missing from the configuration`, ECODE.fault);
  return node;
}

/** Ganeti's CheckNodeOnline. */
export function checkNodeOnline(snap: ConfigSnapshot, uuid: string, msg = "Can't use offline node"): Node {
  const node = nodeOf(snap, uuid);
  if (node.offline) throw new OpPrereqError(`${msg}: ${node.name}`, ECODE.state);
  return node;
}

export function checkNodeNotDrained(snap: ConfigSnapshot, uuid: string): void {
  const node = nodeOf(snap, uuid);
  if (node.drained) throw new OpPrereqError(`Can't use drained node ${node.name}`, ECODE.state);
}

export function checkNodeVmCapable(snap: ConfigSnapshot, uuid: string): void {
  const node = nodeOf(snap, uuid);
  if (!node.vm_capable) throw new OpPrereqError(`Can't use non-vm_capable node ${node.name}`, ECODE.state);
}

/** Whether the hypervisor of the instance's primary node reports it running (live cache). */
export function isRunning(live: LiveState, inst: Instance): boolean {
  const info = live.instances.get(inst.uuid);
  return info !== undefined && info.running;
}

/** Ganeti's CheckInstanceState: the admin state must be one of `states`; "not up" also means not running. */
export function checkInstanceState(
  snap: ConfigSnapshot,
  live: LiveState,
  inst: Instance,
  states: readonly string[],
  msg?: string,
  warn?: (m: string) => void,
): void {
  const why = msg ?? `can't use instance from outside ${states.join(", ")} states`;
  if (!states.includes(inst.admin_state)) {
    throw new OpPrereqError(`Instance '${inst.name}' is marked to be ${inst.admin_state}, ${why}`, ECODE.state);
  }
  if (!states.includes("up")) {
    if (nodeOf(snap, inst.primary_node).offline) {
      warn?.("Primary node offline, ignoring check that instance is down");
    } else if (isRunning(live, inst)) {
      throw new OpPrereqError(`Instance ${inst.name} is running, ${why}`, ECODE.state);
    }
  }
}

/** Ganeti's CheckNodeFreeMemory, against what the node's agent last reported. */
export function checkNodeFreeMemory(snap: ConfigSnapshot, live: LiveState, uuid: string, reason: string, requested: number): number {
  const node = nodeOf(snap, uuid);
  const facts = live.nodes.get(uuid)?.facts;
  if (!facts) {
    throw new OpPrereqError(`Can't get data from node ${node.name}: the node agent did not report its resources`, ECODE.environ);
  }
  if (requested > facts.memory_free) {
    throw new OpPrereqError(
      `Not enough memory on node ${node.name} for ${reason}: needed ${requested} MiB, available ${facts.memory_free} MiB`,
      ECODE.noRes,
    );
  }
  return facts.memory_free;
}

// ---- filled parameters (src/model/filled.ts) ----

export { filledBeparams, filledHvparams, filledNicparams, filledOsparams, osBaseName } from "../../model/filled.ts";

export function nicSpec(snap: ConfigSnapshot, nic: Nic): NicSpec {
  const net = nic.network ? snap.networks.get(nic.network) : undefined;
  return {
    uuid: nic.uuid,
    name: nic.name,
    mac: nic.mac,
    ip: nic.ip,
    network: nic.network,
    nicparams: filledNicparams(snap.cluster, nic.nicparams),
    netinfo: net
      ? {
        name: net.name, uuid: net.uuid, network: net.network, gateway: net.gateway, network6: net.network6,
        gateway6: net.gateway6, mac_prefix: net.mac_prefix, tags: [...net.tags],
      }
      : null,
  };
}

export function diskSpec(disk: Disk): DiskSpec {
  return {
    uuid: disk.uuid,
    name: disk.name,
    size: disk.size,
    mode: disk.mode,
    dev_type: disk.dev_type,
    logical_id: disk.logical_id,
    params: disk.params,
  };
}

/** The instance as its agents get it: parameters filled, nodes by name. */
export function instanceSpec(snap: ConfigSnapshot, inst: Instance, over: { beparams?: ParamDict; hvparams?: ParamDict } = {}): InstanceSpec {
  const cluster = snap.cluster;
  return {
    name: inst.name,
    uuid: inst.uuid,
    os: inst.os,
    hypervisor: inst.hypervisor,
    primary_node: snap.nodes.get(inst.primary_node)?.name ?? inst.primary_node,
    secondary_nodes: inst.secondary_nodes.map((u) => snap.nodes.get(u)?.name ?? u),
    hvparams: { ...filledHvparams(cluster, inst.hypervisor, inst.os, inst.hvparams), ...over.hvparams },
    beparams: { ...filledBeparams(cluster, inst.beparams), ...over.beparams },
    osparams: filledOsparams(cluster, inst.os, inst.osparams),
    osparams_private: fillParams(cluster.osparams_private_cluster[osBaseName(inst.os)], inst.osparams_private),
    disks: inst.disks.map(diskSpec),
    nics: inst.nics.map((n) => nicSpec(snap, n)),
    network_port: inst.network_port,
    ctime: inst.ctime,
    mtime: inst.mtime,
  };
}

// ---- node calls ----

/** The agent client of a node (by uuid, from the current config). */
export function agentOf(ctx: Ctx, uuid: string): NodeRpcClient {
  const node = ctx.snapshot().nodes.get(uuid);
  if (!node) throw new OpExecError(`Node with uuid ${uuid} is no longer in the configuration`);
  return ctx.master.node(node);
}

/** The text of a failed call (what Ganeti's RpcResult.fail_msg carries). */
export function failText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Awaits a node call; a failure becomes Ganeti's `result.Raise(what)`: an OpExecError
 * "<what>: <the agent's message>".
 */
export async function raiseOnFail<T>(call: Promise<T>, what: string): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof RpcCallError) throw new OpExecError(`${what}: ${err.message}`, err.failureEcode);
    throw err;
  }
}

/** A call whose failure is only a warning in the job log; returns undefined when it failed. */
export async function warnOnFail<T>(ctx: Ctx, call: Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    ctx.feedback(` - WARNING: ${what}: ${err.message}`);
    return undefined;
  }
}

/** Refreshes the live view of the nodes an opcode touched, so reads right after the job see it. */
export async function refreshLive(ctx: Ctx, nodes: Iterable<string>): Promise<void> {
  await ctx.master.live.refresh([...new Set(nodes)]);
}

/** "1.0G", "512M": Ganeti's FormatUnit(size, "h") for job log lines. */
export function formatUnit(mib: number): string {
  if (mib < 1024) return `${mib}M`;
  if (mib < 1024 * 1024) return `${(mib / 1024).toFixed(1)}G`;
  return `${(mib / 1024 / 1024).toFixed(1)}T`;
}

// ---- disks on nodes ----

/** Activates the instance's disks on its primary node (Ganeti's AssembleInstanceDisks). */
export async function assembleDisks(ctx: Ctx, inst: Instance, nodeUuid = inst.primary_node): Promise<[string, string, string | null][]> {
  const snap = ctx.snapshot();
  const client = agentOf(ctx, nodeUuid);
  const nodeName = nodeOf(snap, nodeUuid).name;
  const out: [string, string, string | null][] = [];
  for (const [i, disk] of inst.disks.entries()) {
    const attached = await raiseOnFail(
      client.blockdevAssemble({ instance: inst.name, disk: diskSpec(disk) }),
      `Cannot activate block device disk/${i} of instance ${inst.name} on node ${nodeName}`,
    );
    out.push([nodeName, `disk/${i}`, attached.path]);
  }
  return out;
}

/** Deactivates the disks on every node holding them; false if a node refused. */
export async function shutdownDisks(ctx: Ctx, inst: Instance, disks: Disk[] = inst.disks): Promise<boolean> {
  let ok = true;
  for (const disk of disks) {
    for (const nodeUuid of disk.nodes.length > 0 ? disk.nodes : [inst.primary_node]) {
      const node = ctx.snapshot().nodes.get(nodeUuid);
      if (!node || node.offline) continue;
      const r = await warnOnFail(ctx, ctx.master.node(node).blockdevShutdown({ disk: diskSpec(disk) }),
        `Could not shutdown block device ${disk.uuid} on node ${node.name}`);
      if (r === undefined) ok = false;
    }
  }
  return ok;
}

/** Removes disks from their nodes, continuing past failures (Ganeti's RemoveDisks). */
export async function removeDisks(ctx: Ctx, inst: Pick<Instance, "name" | "primary_node" | "disks">, disks: Disk[] = inst.disks): Promise<boolean> {
  let ok = true;
  for (const [i, disk] of disks.entries()) {
    for (const nodeUuid of disk.nodes.length > 0 ? disk.nodes : [inst.primary_node]) {
      const node = ctx.snapshot().nodes.get(nodeUuid);
      if (!node) continue;
      try {
        await ctx.master.node(node).blockdevRemove({ disk: diskSpec(disk) });
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        ctx.feedback(` - WARNING: Could not remove disk ${i} on node ${node.name}, continuing anyway: ${err.message}`);
        if (!(node.offline && nodeUuid !== inst.primary_node)) ok = false;
      }
    }
  }
  return ok;
}

/**
 * Creates `disks` (logical_id empty: the agent names the storage) on their nodes; returns
 * them with the logical ids the agents chose. If one fails, the ones made are removed.
 */
export async function createDisks(ctx: Ctx, inst: Pick<Instance, "name" | "primary_node">, disks: Disk[], firstIndex = 0): Promise<Disk[]> {
  const made: Disk[] = [];
  for (const [n, disk] of disks.entries()) {
    const index = firstIndex + n;
    const node = nodeOf(ctx.snapshot(), disk.nodes[0] ?? inst.primary_node);
    try {
      const created = await ctx.master.node(node).blockdevCreate({
        instance: inst.name,
        index,
        disk: diskSpec(disk),
        info: `originstname+${inst.name}`,
      });
      made.push({ ...disk, logical_id: created.logical_id });
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      ctx.feedback(" - WARNING: Device creation failed");
      await removeDisks(ctx, { ...inst, disks: made }, made);
      throw new OpExecError(
        `Can't create block device disk/${index} (${disk.dev_type}, size ${formatUnit(disk.size)}) on node ${node.name} for instance ${inst.name}: ${err.message}`,
        err.failureEcode,
      );
    }
  }
  return made;
}

/** Ganeti's Hostname.GetNormalizedName: lower case, host-name characters only. */
export function normalizeHostname(name: string): string {
  const lower = name.toLowerCase();
  if (!/^[a-z0-9._-]{1,255}$/.test(lower) || lower.includes("..") || lower.startsWith(".")) {
    throw new OpPrereqError(`Invalid hostname '${lower}'`, ECODE.inval);
  }
  return lower;
}

/** Ganeti's CheckInstanceExistence. */
export function checkInstanceAbsent(snap: ConfigSnapshot, name: string, exceptUuid?: string): void {
  for (const inst of snap.instances.values()) {
    if (inst.name === name && inst.uuid !== exceptUuid) {
      throw new OpPrereqError(`Instance '${name}' is already in the cluster`, ECODE.exists);
    }
  }
}

/** Ganeti's CheckDiskTemplateEnabled (its error carries no classification), plus what Corral's agents implement. */
export function checkDiskTemplateEnabled(cluster: Cluster, template: string): void {
  if (!cluster.enabled_disk_templates.includes(template)) {
    throw new GanetiError("OpPrereqError", [
      `Disk template '${template}' is not enabled in cluster. Enabled disk templates are: ${cluster.enabled_disk_templates.join(",")}`,
    ]);
  }
  if (!CORRAL_DISK_TEMPLATES.includes(template)) {
    throw new OpPrereqError(
      `Disk template '${template}' is enabled but Corral's node agents do not implement it (they do ${CORRAL_DISK_TEMPLATES.join(", ")})`,
      ECODE.environ,
    );
  }
}

/**
 * Ganeti's CheckOSParams on `nodes`: the OS exists and accepts the parameters (its verify
 * script), and the variant is one it has unless forced. Fails as Ganeti reports it.
 */
export async function validateOs(ctx: Ctx, nodes: string[], os: string, osparams: ParamDict, forceVariant: boolean): Promise<void> {
  const [base, variant] = os.includes("+") ? [osBaseName(os), os.slice(os.indexOf("+") + 1)] : [os, ""];
  for (const uuid of nodes) {
    const node = nodeOf(ctx.snapshot(), uuid);
    if (node.offline) continue;
    const client = ctx.master.node(node);
    const fail = (msg: string, ecode?: Ecode) => new OpExecError(`OS Parameters validation failed on node ${node.name}: ${msg}`, ecode);
    try {
      await client.osValidate({ name: os, osparams, checks: ["parameters"] });
      if (forceVariant) continue;
      const diag = (await client.osDiagnose({})).find((d) => d.name === base && d.valid);
      const variants = diag?.variants ?? [];
      if (variants.length === 0) {
        if (variant) throw fail(`OS '${base}' does not support variants ('${variant}' passed)`);
      } else if (!variant) throw fail(`OS name '${os}' must include a variant`);
      else if (!variants.includes(variant)) throw fail(`OS '${base}' does not support variant '${variant}'`);
    } catch (err) {
      if (err instanceof RpcCallError) throw fail(err.message, err.failureEcode);
      throw err;
    }
  }
}

/** The usual start of an instance LU's checkPrereq: the instance, noted on the opcode; its primary online if asked. */
export function prereqInstance(ctx: Pick<Ctx, "snapshot"> & { op: InstanceOp }, opts: { primaryOnline?: boolean } = {}): Instance {
  const snap = ctx.snapshot();
  const inst = opInstance(snap, ctx.op);
  noteInstance(ctx.op, inst);
  if (opts.primaryOnline) checkNodeOnline(snap, inst.primary_node);
  return inst;
}

/**
 * Private and secret OS parameters as Ganeti shows them outside the config: every value
 * null (its JSON encoder drops private values). The opcode keeps only this once read.
 */
export function hidePrivate(params: ParamDict | null): ParamDict | null {
  return params === null ? null : Object.fromEntries(Object.keys(params).map((k) => [k, null]));
}

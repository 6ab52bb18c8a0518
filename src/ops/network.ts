// Network logical units (Ganeti's cmdlib/network.py): add, remove, change, rename, and
// connect to / disconnect from node groups. Addresses live in the network's AddressPool.

import { randomUUID } from "node:crypto";
import type { LockRequest } from "../jobs/locks.ts";
import { AddressPool } from "../model/addresspool.ts";
import { AddressPoolError, ECODE, OpExecError, OpPrereqError } from "../model/errors.ts";
import { niceCompare } from "../model/names.ts";
import type { Instance, Network, Nic, NodeGroup } from "../model/objects.ts";
import type { Opcode } from "../model/opcode.ts";
import {
  OpNetworkAdd, OpNetworkConnect, OpNetworkDisconnect, OpNetworkRemove, OpNetworkRename, OpNetworkSetParams,
} from "../model/opcodes/network.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { childOpcode } from "./childjobs.ts";
import { defineLU, logInfo, logWarning } from "./lu.ts";
import { commaJoin, groupInstances, normalizeMacPrefix } from "./params.ts";
import { findObject, groupInstanceUuids, lockName, resolveObject } from "../query/resolve.ts";
import { checkTag } from "./tags.ts";

type Feedback = Parameters<typeof logWarning>[0];

/** Ganeti's instance communication network: link-local, routed, its own MAC prefix. */
export const INSTANCE_COMMUNICATION = {
  network4: "169.254.0.0/16",
  network6: "fe80::/10",
  macPrefix: "52:54:00",
  mode: "routed",
  link: "communication_rt",
} as const;

/** The value that unsets an optional network setting (Ganeti's VALUE_NONE). */
const VALUE_NONE = "none";

const shared = { names: "all", mode: "shared" } as const;

/** Locks one network by name (skipped when unknown: checkPrereq reports that) plus `extra`. */
function oneNetwork(snap: ConfigSnapshot, name: string, mode: "shared" | "exclusive", extra: LockRequest = {}): LockRequest {
  const uuid = lockName(snap, "network", name);
  return { cluster: shared, ...(uuid ? { network: { names: [uuid], mode } } : {}), ...extra };
}

/**
 * Opcodes that make the instance communication network `name` exist (Ganeti's
 * AddInstanceCommunicationNetworkOp) and connect the `groups` not yet connected to it
 * (ConnectInstanceCommunicationNetworkOp).
 */
export function instanceCommunicationOps(snap: ConfigSnapshot, name: string, groups: Iterable<NodeGroup>): Opcode[] {
  const net = findObject(snap, "network", name);
  const ops: Opcode[] = [];
  if (!net) {
    ops.push(childOpcode(OpNetworkAdd, {
      network_name: name,
      network: INSTANCE_COMMUNICATION.network4,
      network6: INSTANCE_COMMUNICATION.network6,
      mac_prefix: INSTANCE_COMMUNICATION.macPrefix,
      conflicts_check: true,
      tags: [],
    }));
  }
  for (const g of groups) {
    if (net && net.uuid in g.networks) continue;
    ops.push(childOpcode(OpNetworkConnect, {
      group_name: g.uuid,
      network_name: name,
      network_mode: INSTANCE_COMMUNICATION.mode,
      network_link: INSTANCE_COMMUNICATION.link,
      conflicts_check: true,
    }));
  }
  return ops;
}

export const networkAddLU = defineLU({
  opcode: OpNetworkAdd,
  locks: (op) => ({
    cluster: shared,
    network: { names: "all", mode: "exclusive" },
    ...(op.conflicts_check ? { node: shared } : {}),
  }),
  checkPrereq(ctx) {
    const { op } = ctx;
    if (op.mac_prefix) op.mac_prefix = normalizeMacPrefix(op.mac_prefix);
    const snap = ctx.snapshot();
    const existing = findObject(snap, "network", op.network_name);
    if (existing) {
      throw new OpPrereqError(
        `Desired network name '${op.network_name}' already exists as a network (UUID: ${existing.uuid})`,
        ECODE.exists,
      );
    }
    for (const tag of op.tags) checkTag(tag);

    // Ganeti builds the pool in Exec; building it here lets a dry run find the same errors.
    let pool: AddressPool;
    try {
      pool = AddressPool.create(op.network, op.gateway);
    } catch (err) {
      if (!(err instanceof AddressPoolError)) throw err;
      throw new OpExecError(`Cannot create IP address pool for network '${op.network_name}': ${err.message}`);
    }
    const log: [level: "info" | "warning", text: string][] = [];
    if (op.conflicts_check) {
      // Node and master addresses would not work for instances in routed mode: keep them out.
      for (const node of snap.nodes.values()) {
        for (const ip of [node.primary_ip, node.secondary_ip]) {
          if (!pool.contains(ip)) continue;
          try {
            pool.reserve(ip, true);
            log.push(["info", `Reserved IP address of node '${node.name}' (${ip})`]);
          } catch (err) {
            if (!(err instanceof AddressPoolError)) throw err;
            log.push(["warning", `Cannot reserve IP address '${ip}' of node '${node.name}': ${err.message}`]);
          }
        }
      }
      const masterIp = snap.cluster.master_ip;
      if (pool.contains(masterIp)) {
        try {
          pool.reserve(masterIp, true);
          log.push(["info", `Reserved cluster master IP address (${masterIp})`]);
        } catch (err) {
          if (!(err instanceof AddressPoolError)) throw err;
          log.push(["warning", `Cannot reserve cluster master IP address (${masterIp}): ${err.message}`]);
        }
      }
    }
    for (const ip of op.add_reserved_ips ?? []) {
      try {
        pool.reserve(ip, true);
      } catch (err) {
        if (!(err instanceof AddressPoolError)) throw err;
        throw new OpExecError(`Cannot reserve IP address '${ip}': ${err.message}`);
      }
    }
    return { pool, log };
  },
  async exec(ctx, { pool, log }) {
    const { op } = ctx;
    for (const [level, text] of log) (level === "info" ? logInfo : logWarning)(ctx, text);
    const net: Network = {
      uuid: randomUUID(),
      serial_no: 1,
      ctime: 0,
      mtime: 0,
      tags: [...new Set(op.tags)],
      name: op.network_name,
      network: op.network,
      gateway: op.gateway,
      network6: op.network6,
      gateway6: op.gateway6,
      mac_prefix: op.mac_prefix,
      ...pool.bitmaps(),
    };
    await ctx.master.store.transact((tx) => void tx.add("network", net));
    return null;
  },
});

export const networkRemoveLU = defineLU({
  opcode: OpNetworkRemove,
  locks: (op, snap) => oneNetwork(snap, op.network_name, "exclusive", { nodegroup: shared }),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const net = resolveObject(snap, "network", ctx.op.network_name);
    const groups = [...snap.groups.values()].filter((g) => net.uuid in g.networks).map((g) => g.name);
    if (groups.length > 0) {
      logWarning(ctx, `Network '${ctx.op.network_name}' is connected to the following node groups: ${commaJoin(groups.sort(niceCompare))}`);
      throw new OpPrereqError("Network still connected", ECODE.state);
    }
    return net.uuid;
  },
  async exec(ctx, uuid) {
    await ctx.master.store.transact((tx) => {
      if (!tx.current.networks.has(uuid)) {
        throw new OpExecError(`Network '${ctx.op.network_name}' with UUID ${uuid} disappeared`);
      }
      tx.remove("network", uuid);
    });
    return null;
  },
});

export const networkSetParamsLU = defineLU({
  opcode: OpNetworkSetParams,
  locks: (op, snap) => oneNetwork(snap, op.network_name, "exclusive"),
  checkPrereq(ctx) {
    const { op } = ctx;
    if (op.gateway && ((op.add_reserved_ips?.length ?? 0) > 0 || (op.remove_reserved_ips?.length ?? 0) > 0)) {
      throw new OpPrereqError("Cannot modify gateway and reserved ips at once", ECODE.inval);
    }
    const net = resolveObject(ctx.snapshot(), "network", op.network_name);
    const pool = new AddressPool(net);
    if (op.gateway && pool.isReserved(op.gateway)) {
      throw new OpPrereqError(`Gateway IP address '${op.gateway}' is already reserved`, ECODE.state);
    }
    let macPrefix = net.mac_prefix;
    if (op.mac_prefix) macPrefix = op.mac_prefix === VALUE_NONE ? null : normalizeMacPrefix(op.mac_prefix);
    return { uuid: net.uuid, macPrefix };
  },
  async exec(ctx, p) {
    const { op } = ctx;
    await ctx.master.store.transact((tx) =>
      tx.update("network", p.uuid, (net) => {
        const pool = new AddressPool(net);
        if (op.gateway) {
          if (op.gateway === net.gateway) logWarning(ctx, `Gateway is already ${op.gateway}`);
          else {
            pool.reserve(op.gateway, true);
            if (net.gateway) pool.release(net.gateway, true);
            net.gateway = op.gateway;
          }
        }
        for (const ip of op.add_reserved_ips ?? []) {
          try {
            pool.reserve(ip, true);
          } catch (err) {
            if (!(err instanceof AddressPoolError)) throw err;
            logWarning(ctx, `Cannot reserve IP address ${ip}: ${err.message}`);
          }
        }
        for (const ip of op.remove_reserved_ips ?? []) {
          if (ip === net.gateway) {
            logWarning(ctx, "Cannot unreserve Gateway's IP");
            continue;
          }
          try {
            pool.release(ip, true);
          } catch (err) {
            if (!(err instanceof AddressPoolError)) throw err;
            logWarning(ctx, `Cannot release IP address ${ip}: ${err.message}`);
          }
        }
        if (op.mac_prefix) net.mac_prefix = p.macPrefix;
        if (op.network6) net.network6 = op.network6;
        if (op.gateway6) net.gateway6 = op.gateway6;
        Object.assign(net, pool.bitmaps());
      }),
    );
    return null;
  },
});

export const networkRenameLU = defineLU({
  opcode: OpNetworkRename,
  locks: (op, snap) => ({ ...oneNetwork(snap, op.network_name, "exclusive"), network: { names: "all", mode: "exclusive" } }),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const net = resolveObject(snap, "network", ctx.op.network_name);
    const clash = findObject(snap, "network", ctx.op.new_name);
    if (clash) {
      throw new OpPrereqError(
        `Desired new name '${ctx.op.new_name}' clashes with existing network (UUID: ${clash.uuid})`,
        ECODE.exists,
      );
    }
    return net.uuid;
  },
  async exec(ctx, uuid) {
    await ctx.master.store.transact((tx) => tx.update("network", uuid, (n) => void (n.name = ctx.op.new_name)));
    return ctx.op.new_name;
  },
});

/** "inst1: nic0/10.0.0.5, nic2/10.0.0.9" for each instance with a conflicting NIC. */
function conflicts(instances: Instance[], conflicting: (nic: Nic) => boolean): string[] {
  const out: string[] = [];
  for (const inst of instances) {
    const nics = inst.nics.flatMap((nic, i) => (conflicting(nic) ? [`nic${i}/${nic.ip}`] : []));
    if (nics.length > 0) out.push(`${inst.name}: ${nics.join(", ")}`);
  }
  return out;
}

/** Ganeti's _NetworkConflictCheck: warns with the details, then refuses. */
function refuseConflicts(ctx: Feedback, found: string[], network: string, action: string, group: string): void {
  if (found.length === 0) return;
  logWarning(ctx, `IP addresses from network '${network}', which is about to ${action} node group '${group}', are in use: ${found.join(", ")}`);
  throw new OpPrereqError("Conflicting IP addresses found;  remove/modify the corresponding network interfaces", ECODE.state);
}

/** Both connect and disconnect lock the group, read the network and the group's instances. */
function connectionLocks(op: { network_name: string; group_name: string }, snap: ConfigSnapshot): LockRequest {
  const group = lockName(snap, "nodegroup", op.group_name);
  // The group's instances (their NICs are checked for conflicts), as in Ganeti; not every instance.
  return oneNetwork(snap, op.network_name, "shared", {
    ...(group ? { nodegroup: { names: [group], mode: "exclusive" } } : {}),
    instance: { names: groupInstanceUuids(snap, group), mode: "shared" },
  });
}

/**
 * What connect and disconnect share: the network and group, a warning and nothing to do
 * when the group already is (or is not) connected, and the refusal of NICs in the way.
 */
function connectionChange(
  ctx: Feedback & { snapshot(): ConfigSnapshot },
  op: { network_name: string; group_name: string },
  connect: boolean,
  checkConflicts: boolean,
): { group: string; network: string } | null {
  const snap = ctx.snapshot();
  const net = resolveObject(snap, "network", op.network_name);
  const group = resolveObject(snap, "nodegroup", op.group_name);
  if (net.uuid in group.networks === connect) {
    logWarning(ctx, `Network '${op.network_name}' is ${connect ? "already" : "not"} mapped to group '${group.name}'`);
    return null;
  }
  if (checkConflicts) {
    // Connecting: NICs with an address of the network; disconnecting: NICs on the network.
    let inUse = (nic: Nic) => nic.network === net.uuid;
    if (connect) {
      const pool = new AddressPool(net);
      inUse = (nic) => pool.contains(nic.ip);
    }
    const found = conflicts(groupInstances(snap, group.uuid), inUse);
    refuseConflicts(ctx, found, op.network_name, connect ? "connect to" : "disconnect from", group.name);
  }
  return { group: group.uuid, network: net.uuid };
}

export const networkConnectLU = defineLU({
  opcode: OpNetworkConnect,
  locks: connectionLocks,
  checkPrereq: (ctx) => connectionChange(ctx, ctx.op, true, ctx.op.conflicts_check),
  async exec(ctx, p) {
    if (!p) return null;
    const { op } = ctx;
    const netparams = { mode: op.network_mode, link: op.network_link, vlan: op.network_vlan };
    await ctx.master.store.transact((tx) => tx.update("nodegroup", p.group, (g) => void (g.networks[p.network] = netparams)));
    return null;
  },
});

export const networkDisconnectLU = defineLU({
  opcode: OpNetworkDisconnect,
  locks: connectionLocks,
  checkPrereq: (ctx) => connectionChange(ctx, ctx.op, false, true),
  async exec(ctx, p) {
    if (!p) return null;
    await ctx.master.store.transact((tx) => tx.update("nodegroup", p.group, (g) => void delete g.networks[p.network]));
    return null;
  },
});

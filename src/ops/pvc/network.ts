// PVC client networks as Corral networks: the description is the network's name, the IPv4
// and IPv6 networks and gateways are the network's own fields, and VNI, type, domain, DHCP
// range, static leases and ACLs are its PVC data. After every change the nodes get the new
// configuration (nftables on all, dnsmasq on the master node).

import { randomUUID } from "node:crypto";
import { AddressPool } from "../../model/addresspool.ts";
import { ECODE, GanetiError, OpExecError, OpPrereqError } from "../../model/errors.ts";
import { isIPv4Address, isIPv4Network, isIPv6Address, isIPv6Network, parseIPv4, parseIPv4Network } from "../../model/netaddr.ts";
import type { Network } from "../../model/objects.ts";
import {
  OpPvcAclAdd, OpPvcAclRemove, OpPvcLeaseAdd, OpPvcLeaseRemove, OpPvcNetworkAdd, OpPvcNetworkModify, OpPvcNetworkRemove,
} from "../../model/opcodes/pvc.ts";
import { aclRuleProblem, type PvcNetworkData } from "../../model/pvc.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { storageNode } from "../../storage/service.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import type { ParamSpec } from "../../model/params.ts";
import { netSpec, netSpecs, pushNetworks } from "./common.ts";
import { findPvcNetwork, resolvePvcNetwork } from "../../query/pvc-names.ts";

const inval = (msg: string) => new OpPrereqError(msg, ECODE.inval);
const DESCRIPTION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const LEASE_MAC_RE = /^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i;

/** Whether an IPv4 address lies in a CIDR network. */
export function ipv4In(ip: string, cidr: string): boolean {
  const net = parseIPv4Network(cidr);
  const v = parseIPv4(ip);
  if (!net || v === null) return false;
  const span = 2 ** (32 - net.prefix);
  return v >= net.base && v < net.base + span;
}

interface NetValues {
  description: string;
  nettype: "managed" | "bridged";
  domain: string | null;
  ip4_network: string | null;
  ip4_gateway: string | null;
  ip6_network: string | null;
  ip6_gateway: string | null;
  dhcp4: boolean;
  dhcp4_start: string | null;
  dhcp4_end: string | null;
}

/** Checks a network's options together; returns the normalized values (bridged ones ignore IP options). */
function checkNetValues(v: NetValues): NetValues {
  if (!DESCRIPTION_RE.test(v.description)) {
    throw inval(`The description '${v.description}' is not valid: letters, digits, '_', '.', '-', no whitespace`);
  }
  if (v.nettype === "bridged") {
    return { ...v, domain: null, ip4_network: null, ip4_gateway: null, ip6_network: null, ip6_gateway: null, dhcp4: false, dhcp4_start: null, dhcp4_end: null };
  }
  const out = { ...v };
  if (out.domain !== null && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(out.domain)) throw inval(`The domain '${out.domain}' is not a valid DNS domain`);
  if (out.ip4_network !== null) {
    if (!isIPv4Network(out.ip4_network)) throw inval(`The IPv4 network '${out.ip4_network}' is not a valid CIDR network`);
    if (out.ip4_gateway === null || !isIPv4Address(out.ip4_gateway) || !ipv4In(out.ip4_gateway, out.ip4_network)) {
      throw inval(`A valid IPv4 gateway address in ${out.ip4_network} is required for an IPv4 network (got '${out.ip4_gateway ?? ""}')`);
    }
  } else if (out.ip4_gateway !== null) {
    throw inval("An IPv4 gateway needs an IPv4 network");
  }
  if (out.ip6_network !== null) {
    if (!isIPv6Network(out.ip6_network)) throw inval(`The IPv6 network '${out.ip6_network}' is not a valid CIDR network`);
    if (out.ip6_gateway === null || !isIPv6Address(out.ip6_gateway)) out.ip6_gateway = `${out.ip6_network.split("/")[0].replace(/::$/, "")}::1`;
  } else {
    out.ip6_gateway = null;
  }
  if (out.dhcp4) {
    if (out.ip4_network === null) throw inval("DHCPv4 needs an IPv4 network.");
    for (const [name, ip] of [["start", out.dhcp4_start], ["end", out.dhcp4_end]] as const) {
      if (ip === null || !isIPv4Address(ip) || !ipv4In(ip, out.ip4_network)) {
        throw inval("DHCPv4 start and end addresses are required for a DHCPv4-enabled network.".replace(".", ` (${name} '${ip ?? ""}' is not an address in ${out.ip4_network}).`));
      }
    }
    if (parseIPv4(out.dhcp4_start!)! > parseIPv4(out.dhcp4_end!)!) throw inval(`The DHCPv4 range ${out.dhcp4_start} - ${out.dhcp4_end} is backwards`);
  } else {
    out.dhcp4_start = null;
    out.dhcp4_end = null;
  }
  return out;
}

/** The address pool bitmaps of an IPv4 network (network, broadcast and gateway reserved). */
function poolBitmaps(v: NetValues): Pick<Network, "reservations" | "ext_reservations"> {
  if (v.ip4_network === null) return { reservations: "", ext_reservations: "" };
  try {
    return AddressPool.create(v.ip4_network, v.ip4_gateway).bitmaps();
  } catch (err) {
    if (err instanceof GanetiError) throw inval(err.message);
    throw err;
  }
}

function checkNameFree(snap: ConfigSnapshot, name: string, self?: Network): void {
  for (const n of snap.networks.values()) {
    if (n !== self && n.name === name) throw new OpPrereqError(`A network with description '${name}' already exists!`, ECODE.exists);
  }
}

const netLocks = (snap: ConfigSnapshot, key: string) => {
  const n = findPvcNetwork(snap, key);
  return { cluster: { names: "all" as const, mode: "shared" as const }, network: { names: n ? [n.uuid] : "all" as const, mode: "exclusive" as const } };
};

/** Commits a change to one network's object, then reconfigures the nodes. */
async function commitNetwork(ctx: LuContext<ParamSpec>, uuid: string, change: (n: Network & { pvc: PvcNetworkData }) => void): Promise<void> {
  await ctx.master.store.transact((tx) => tx.update("network", uuid, (n) => change(n as Network & { pvc: PvcNetworkData })));
  await pushNetworks(ctx);
}

export const pvcNetworkAddLU = defineLU({
  opcode: OpPvcNetworkAdd,
  locks: () => ({ cluster: { names: "all", mode: "shared" }, network: { names: "all", mode: "exclusive" } }),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const op = ctx.op;
    for (const n of snap.networks.values()) {
      if (n.pvc?.vni === op.vni) throw new OpPrereqError(`A network with VNI '${op.vni}' already exists!`, ECODE.exists);
    }
    checkNameFree(snap, op.network_name);
    const v = checkNetValues({
      description: op.network_name, nettype: op.nettype, domain: op.domain, ip4_network: op.ip4_network || null,
      ip4_gateway: op.ip4_gateway || null, ip6_network: op.ip6_network || null, ip6_gateway: op.ip6_gateway || null,
      dhcp4: op.dhcp4 === true, dhcp4_start: op.dhcp4_start || null, dhcp4_end: op.dhcp4_end || null,
    });
    return { v, bitmaps: poolBitmaps(v) };
  },
  async exec(ctx, { v, bitmaps }) {
    const net: Network = {
      uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [],
      name: v.description,
      network: v.ip4_network ?? "",
      gateway: v.ip4_gateway,
      network6: v.ip6_network,
      gateway6: v.ip6_gateway,
      mac_prefix: null,
      ...bitmaps,
      pvc: {
        vni: ctx.op.vni,
        type: v.nettype,
        domain: v.domain ?? (v.nettype === "managed" ? `${v.description}.local` : ""),
        dhcp4: v.dhcp4,
        dhcp4_start: v.dhcp4_start ?? "",
        dhcp4_end: v.dhcp4_end ?? "",
        reservations: [],
        acls: { in: [], out: [] },
      },
    };
    await ctx.master.store.transact((tx) => tx.add("network", net));
    await pushNetworks(ctx);
    return `Network '${v.description}' added successfully!`;
  },
});

export const pvcNetworkModifyLU = defineLU({
  opcode: OpPvcNetworkModify,
  locks: (op, snap) => netLocks(snap, op.network_name),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const net = resolvePvcNetwork(snap, ctx.op.network_name);
    const op = ctx.op;
    const pick = (given: string | null, current: string | null) => (given === null ? current : given === "" ? null : given);
    const v = checkNetValues({
      description: op.description ?? net.name,
      nettype: net.pvc.type,
      domain: pick(op.domain, net.pvc.domain || null),
      ip4_network: pick(op.ip4_network, net.network || null),
      ip4_gateway: pick(op.ip4_gateway, net.gateway),
      ip6_network: pick(op.ip6_network, net.network6),
      ip6_gateway: op.ip6_network === "" ? null : pick(op.ip6_gateway, net.gateway6),
      dhcp4: op.dhcp4 ?? net.pvc.dhcp4,
      dhcp4_start: pick(op.dhcp4_start, net.pvc.dhcp4_start || null),
      dhcp4_end: pick(op.dhcp4_end, net.pvc.dhcp4_end || null),
    });
    checkNameFree(snap, v.description, net);
    const ip4Changed = (v.ip4_network ?? "") !== net.network || v.ip4_gateway !== net.gateway;
    if (ip4Changed) {
      const users = [...snap.instances.values()].filter((i) => i.nics.some((n) => n.network === net.uuid && n.ip)).map((i) => i.name);
      if (users.length > 0) throw new OpPrereqError(`The IPv4 network of '${net.name}' has addresses in use by ${users.join(", ")}`, ECODE.state);
      for (const r of net.pvc.reservations) {
        if (v.ip4_network === null || !ipv4In(r.ip, v.ip4_network)) throw inval(`Static lease ${r.mac} (${r.ip}) would be outside the IPv4 network`);
      }
    }
    return { net, v, bitmaps: ip4Changed ? poolBitmaps(v) : null };
  },
  async exec(ctx, { net, v, bitmaps }) {
    await commitNetwork(ctx, net.uuid, (n) => {
      n.name = v.description;
      n.network = v.ip4_network ?? "";
      n.gateway = v.ip4_gateway;
      n.network6 = v.ip6_network;
      n.gateway6 = v.ip6_gateway;
      if (bitmaps) Object.assign(n, bitmaps);
      n.pvc.domain = v.domain ?? n.pvc.domain;
      n.pvc.dhcp4 = v.dhcp4;
      n.pvc.dhcp4_start = v.dhcp4_start ?? "";
      n.pvc.dhcp4_end = v.dhcp4_end ?? "";
    });
    return `Network '${v.description}' modified successfully!`;
  },
});

export const pvcNetworkRemoveLU = defineLU({
  opcode: OpPvcNetworkRemove,
  locks: (op, snap) => netLocks(snap, op.network_name),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const net = resolvePvcNetwork(snap, ctx.op.network_name);
    const users = [...snap.instances.values()].filter((i) => i.nics.some((n) => n.network === net.uuid)).map((i) => i.name).sort();
    if (users.length > 0) throw new OpPrereqError(`Network '${net.name}' is in use by VM(s) ${users.join(", ")}`, ECODE.state);
    const groups = [...snap.groups.values()].filter((g) => net.uuid in g.networks).map((g) => g.name);
    if (groups.length > 0) throw new OpPrereqError(`Network '${net.name}' is connected to node group(s) ${groups.join(", ")}`, ECODE.state);
    return net;
  },
  async exec(ctx, net) {
    await ctx.master.store.transact((tx) => tx.remove("network", net.uuid));
    await pushNetworks(ctx);
    return `Network '${net.name}' removed successfully!`;
  },
});

export const pvcLeaseAddLU = defineLU({
  opcode: OpPvcLeaseAdd,
  locks: (op, snap) => netLocks(snap, op.network_name),
  checkPrereq(ctx) {
    const net = resolvePvcNetwork(ctx.snapshot(), ctx.op.network_name);
    const { mac, ip, hostname } = ctx.op;
    if (!LEASE_MAC_RE.test(mac)) throw inval(`MAC address '${mac}' is not valid`);
    if (!isIPv4Address(ip)) throw inval(`IP address '${ip}' is not a valid IPv4 address`);
    if (net.pvc.type !== "managed" || !net.network) throw inval(`Network '${net.name}' is not a managed network with IPv4`);
    if (!ipv4In(ip, net.network)) throw inval(`IP address '${ip}' is not in network ${net.network}`);
    if (hostname !== "" && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(hostname)) throw inval(`Host name '${hostname}' is not valid`);
    const lower = mac.toLowerCase();
    if (net.pvc.reservations.some((r) => r.mac === lower)) throw new OpPrereqError(`A static lease with MAC '${lower}' already exists!`, ECODE.exists);
    if (net.pvc.reservations.some((r) => r.ip === ip)) throw new OpPrereqError(`A static lease with IP address '${ip}' already exists!`, ECODE.exists);
    return { net, mac: lower };
  },
  async exec(ctx, { net, mac }) {
    const p = net.pvc;
    if (p.dhcp4 && parseIPv4(ctx.op.ip)! >= parseIPv4(p.dhcp4_start)! && parseIPv4(ctx.op.ip)! <= parseIPv4(p.dhcp4_end)!) {
      logWarning(ctx, `${ctx.op.ip} lies in the DHCPv4 range ${p.dhcp4_start} - ${p.dhcp4_end}`);
    }
    await commitNetwork(ctx, net.uuid, (n) => n.pvc.reservations.push({ mac, ip: ctx.op.ip, hostname: ctx.op.hostname }));
    return `DHCP reservation '${mac}' added successfully!`;
  },
});

export const pvcLeaseRemoveLU = defineLU({
  opcode: OpPvcLeaseRemove,
  locks: (op, snap) => netLocks(snap, op.network_name),
  checkPrereq(ctx) {
    const net = resolvePvcNetwork(ctx.snapshot(), ctx.op.network_name);
    const key = ctx.op.lease.toLowerCase();
    const lease = net.pvc.reservations.find((r) => r.mac === key || r.hostname.toLowerCase() === key || r.ip === key);
    if (!lease) throw new OpPrereqError(`No static lease '${ctx.op.lease}' exists in network '${net.name}'!`, ECODE.noEnt);
    return { net, lease };
  },
  async exec(ctx, { net, lease }) {
    await commitNetwork(ctx, net.uuid, (n) => void (n.pvc.reservations = n.pvc.reservations.filter((r) => r.mac !== lease.mac)));
    return `DHCP reservation '${lease.mac}' removed successfully!`;
  },
});

export const pvcAclAddLU = defineLU({
  opcode: OpPvcAclAdd,
  locks: (op, snap) => netLocks(snap, op.network_name),
  checkPrereq(ctx) {
    const net = resolvePvcNetwork(ctx.snapshot(), ctx.op.network_name);
    const { direction, description, rule } = ctx.op;
    if (net.pvc.type !== "managed") throw inval(`Network '${net.name}' is not a managed network`);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(description)) throw inval(`The description '${description}' is not valid: letters, digits, '_', '.', '-'`);
    const problem = aclRuleProblem(rule);
    if (problem) throw inval(`The rule is not valid: ${problem}`);
    if (net.pvc.acls[direction].some((a) => a.description === description)) {
      throw new OpPrereqError(`A rule with description '${description}' already exists!`, ECODE.exists);
    }
    return net;
  },
  async exec(ctx, net) {
    const { direction, description, rule, order } = ctx.op;
    const list = [...net.pvc.acls[direction]];
    list.splice(order === null ? list.length : Math.min(order, list.length), 0, { description, rule });
    // nftables itself judges the rule, on the master node, before anything changes.
    const candidate = netSpecs(ctx.snapshot()).map((s) => (s.vni === net.pvc.vni ? { ...netSpec(net)!, acls: { ...netSpec(net)!.acls, [direction]: list } } : s));
    const master = storageNode(ctx.snapshot());
    const check = await ctx.master.node(master).netConfigure({ networks: candidate, gateway: false, check_only: true }).catch((err: unknown) => {
      logWarning(ctx, `Could not check the rule with nft on ${master.name}: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    });
    if (check?.nftables.status === "failed") throw new OpExecError(`nftables refused the rule: ${check.nftables.detail}`);
    await commitNetwork(ctx, net.uuid, (n) => void (n.pvc.acls[direction] = list));
    return `Firewall rule '${description}' added successfully!`;
  },
});

export const pvcAclRemoveLU = defineLU({
  opcode: OpPvcAclRemove,
  locks: (op, snap) => netLocks(snap, op.network_name),
  checkPrereq(ctx) {
    const net = resolvePvcNetwork(ctx.snapshot(), ctx.op.network_name);
    if (!net.pvc.acls[ctx.op.direction].some((a) => a.description === ctx.op.description)) {
      throw new OpPrereqError(`No firewall rule with description '${ctx.op.description}' exists in direction '${ctx.op.direction}'!`, ECODE.noEnt);
    }
    return net;
  },
  async exec(ctx, net) {
    const { direction, description } = ctx.op;
    await commitNetwork(ctx, net.uuid, (n) => void (n.pvc.acls[direction] = n.pvc.acls[direction].filter((a) => a.description !== description)));
    return `Firewall rule '${description}' removed successfully!`;
  },
});

// Network fields (Ganeti's Query/Network.hs): 19 in Ganeti 3.0. The address pool is two
// bitmaps over the IPv4 range: addresses instances use and external reservations.

import type { Network } from "../model/objects.ts";
import type { SnapIndex } from "./context.ts";
import { field, FieldTable, UNAVAIL } from "./fields.ts";

export interface NetworkRow {
  readonly net: Network;
  readonly idx: SnapIndex;
}

const isSet = (bits: string, i: number): boolean => bits.charCodeAt(i) === 49; // "1"

/** Reserved (by an instance or externally) per address, or undefined without a pool. */
function allReservations(net: Network): boolean[] | undefined {
  const a = net.reservations ?? "";
  const b = net.ext_reservations ?? "";
  if (a.length === 0 && b.length === 0) return undefined;
  const n = Math.max(a.length, b.length);
  const out = new Array<boolean>(n);
  for (let i = 0; i < n; i++) out[i] = isSet(a, i) || isSet(b, i);
  return out;
}

const count = (bits: boolean[] | undefined, value: boolean): number => {
  let c = 0;
  if (bits) for (const b of bits) if (b === value) c++;
  return c;
};

/** The address `index` places after the base of an IPv4 network "a.b.c.d/len". */
export function ipv4At(cidr: string, index: number): string {
  const [addr, len] = cidr.split("/");
  const value = addr.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const span = 2 ** (32 - Number(len ?? 32));
  const v = value - (value % span) + index;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
}

/** Externally reserved addresses, comma+space joined, as Ganeti shows them. */
function externalReservations(net: Network): string {
  const bits = net.ext_reservations ?? "";
  const out: string[] = [];
  for (let i = 0; i < bits.length; i++) if (isSet(bits, i)) out.push(ipv4At(net.network, i));
  return out.join(", ");
}

/** `[group name, NIC mode, NIC link, VLAN]` for each group the network is connected to. */
function groupConnections(r: NetworkRow): [string, string, string, string][] {
  const groups = [...r.idx.snap.groups.values()].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  const out: [string, string, string, string][] = [];
  for (const g of groups) {
    const p = g.networks[r.net.uuid];
    if (!p) continue;
    const s = (v: unknown): string => (typeof v === "string" ? v : "-");
    out.push([g.name, s(p["mode"]), s(p["link"]), s(p["vlan"])]);
  }
  return out;
}

const orUnavail = (v: unknown): unknown => (v === null || v === undefined ? UNAVAIL : v);

export const networkFields = new FieldTable<NetworkRow>([
  field("name", "Network", "text", "Name", (r) => r.net.name),
  field("network", "Subnet", "text", "IPv4 subnet", (r) => r.net.network),
  field("gateway", "Gateway", "other", "IPv4 gateway", (r) => orUnavail(r.net.gateway)),
  field("network6", "IPv6Subnet", "other", "IPv6 subnet", (r) => orUnavail(r.net.network6)),
  field("gateway6", "IPv6Gateway", "other", "IPv6 gateway", (r) => orUnavail(r.net.gateway6)),
  field("mac_prefix", "MacPrefix", "other", "MAC address prefix", (r) => orUnavail(r.net.mac_prefix)),
  field("free_count", "FreeCount", "number", "Number of available addresses", (r) => count(allReservations(r.net), false)),
  field("map", "Map", "text", "Actual mapping",
    (r) => allReservations(r.net)?.map((b) => (b ? "X" : ".")).join("") ?? ""),
  field("reserved_count", "ReservedCount", "number", "Number of reserved addresses",
    (r) => count(allReservations(r.net), true)),
  field("group_list", "GroupList", "other", "List of nodegroups (group name, NIC mode, NIC link)", groupConnections),
  field("group_cnt", "NodeGroups", "number", "Number of nodegroups", (r) => groupConnections(r).length),
  field("inst_list", "InstanceList", "other", "List of instances",
    (r) => r.idx.networkInstances(r.net.uuid).map((i) => i.name)),
  field("inst_cnt", "Instances", "number", "Number of instances", (r) => r.idx.networkInstances(r.net.uuid).length),
  field("external_reservations", "ExternalReservations", "text", "External reservations", (r) => externalReservations(r.net)),
  field("ctime", "CTime", "timestamp", "Creation timestamp", (r) => r.net.ctime),
  field("mtime", "MTime", "timestamp", "Modification timestamp", (r) => r.net.mtime),
  field("uuid", "UUID", "text", "Network UUID", (r) => r.net.uuid),
  field("serial_no", "SerialNo", "number", "Network object serial number, incremented on each modification", (r) => r.net.serial_no),
  field("tags", "Tags", "other", "Tags", (r) => r.net.tags),
]);

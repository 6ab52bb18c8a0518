// IP networks (OP_NETWORK_*).
import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";
import { conflictsCheck, force, groupName, macPrefix, networkName } from "./fields.ts";

export const OpNetworkAdd = defineOpcode({
  id: "OP_NETWORK_ADD",
  className: "OpNetworkAdd",
  doc: "Add an IP network to the cluster.",
  result: "None",
  summaryField: "network_name",
  params: {
    network_name: networkName,
    network: req(t.ipv4Network, "Network address (IPv4 subnet)"),
    gateway: opt(t.maybe(t.ipv4Address), null, "Network gateway (IPv4 address)"),
    network6: opt(t.maybe(t.ipv6Network), null, "Network address (IPv6 subnet)"),
    gateway6: opt(t.maybe(t.ipv6Address), null, "Network gateway (IPv6 address)"),
    mac_prefix: macPrefix,
    add_reserved_ips: opt(t.maybe(t.listOf(t.ipv4Address)), null, "Which IP addresses to reserve"),
    conflicts_check: conflictsCheck,
    tags: opt(t.listOf(t.nonEmptyString), () => [], "Network tags"),
  },
});

export const OpNetworkConnect = defineOpcode({
  id: "OP_NETWORK_CONNECT",
  className: "OpNetworkConnect",
  doc:
    "Connect a Network to a specific Nodegroup with the defined netparams (mode, link). Nics in this Network will inherit those params. Produce errors if a NIC (that its not already assigned to a network) has an IP that is contained in the Network this will produce error unless --no-conflicts-check is passed.",
  result: "None",
  summaryField: "network_name",
  params: {
    group_name: groupName,
    network_name: networkName,
    network_mode: req(t.nicMode, "Network mode when connecting to a group"),
    network_link: req(t.nonEmptyString, "Network link when connecting to a group"),
    network_vlan: opt(t.string, "", "Network vlan when connecting to a group"),
    conflicts_check: conflictsCheck,
  },
});

export const OpNetworkDisconnect = defineOpcode({
  id: "OP_NETWORK_DISCONNECT",
  className: "OpNetworkDisconnect",
  doc:
    "Disconnect a Network from a Nodegroup. Produce errors if NICs are present in the Network unless --no-conficts-check option is passed.",
  result: "None",
  summaryField: "network_name",
  params: {
    group_name: groupName,
    network_name: networkName,
  },
});

export const OpNetworkRemove = defineOpcode({
  id: "OP_NETWORK_REMOVE",
  className: "OpNetworkRemove",
  doc: "Remove an existing network from the cluster. Must not be connected to any nodegroup.",
  result: "None",
  summaryField: "network_name",
  params: {
    network_name: networkName,
    force,
  },
});

export const OpNetworkRename = defineOpcode({
  id: "OP_NETWORK_RENAME",
  className: "OpNetworkRename",
  doc: "Rename a network in the cluster.",
  result: "NonEmptyString",
  params: {
    network_name: networkName,
    new_name: req(t.nonEmptyString, "New network name"),
  },
});

export const OpNetworkSetParams = defineOpcode({
  id: "OP_NETWORK_SET_PARAMS",
  className: "OpNetworkSetParams",
  doc: "Modify Network's parameters except for IPv4 subnet",
  result: "None",
  summaryField: "network_name",
  params: {
    network_name: networkName,
    gateway: opt(t.maybe(t.ipv4Address), null, "Network gateway (IPv4 address)"),
    network6: opt(t.maybe(t.ipv6Network), null, "Network address (IPv6 subnet)"),
    gateway6: opt(t.maybe(t.ipv6Address), null, "Network gateway (IPv6 address)"),
    mac_prefix: macPrefix,
    add_reserved_ips: opt(
      t.maybe(t.listOf(t.ipv4Address)),
      null,
      "Which external IP addresses to reserve",
    ),
    remove_reserved_ips: opt(
      t.maybe(t.listOf(t.ipv4Address)),
      null,
      "Which external IP addresses to release",
    ),
  },
});

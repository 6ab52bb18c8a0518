// Opcodes of the PVC HTTP API v1 (src/api/pvc): what PVC does that Ganeti has no opcode for.
// VM state changes, migrations and removals of running VMs use Ganeti's own instance opcodes
// behind an OP_PVC_VM_INTENT that records what the PVC client asked for.

import { PVC_DOMAIN_STATES, PVC_NET_TYPES, PVC_VM_INTENTS } from "../pvc.ts";
import { defineOpcode } from "../opcode.ts";
import { opt, req, t } from "../params.ts";
import { instanceName, jobIdListResult, networkName, nodeName } from "./fields.ts";

const xml = req(t.nonEmptyString, "Libvirt domain XML of the VM");
const maybeString = (doc: string) => opt(t.maybe(t.string), null, doc);

export const OpPvcVmDefine = defineOpcode({
  id: "OP_PVC_VM_DEFINE",
  className: "OpPvcVmDefine",
  doc: "Define a VM (an instance, stopped) from its libvirt XML; its disks must exist.",
  result: "NonEmptyString",
  summaryField: "node",
  params: {
    xml,
    node: req(t.nonEmptyString, "Node the VM is assigned to"),
  },
});

export const OpPvcVmModify = defineOpcode({
  id: "OP_PVC_VM_MODIFY",
  className: "OpPvcVmModify",
  doc: "Replace a VM's libvirt XML (memory, vCPUs, disks and NICs follow it; applies at the next start).",
  result: "None",
  summaryField: "instance_name",
  params: { instance_name: instanceName, xml },
});

export const OpPvcVmUndefine = defineOpcode({
  id: "OP_PVC_VM_UNDEFINE",
  className: "OpPvcVmUndefine",
  doc: "Forcibly stop a VM and remove it from the cluster, with its volumes when asked.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    delete_disks: opt(t.bool, false, "Remove the VM's storage volumes too"),
  },
});

export const OpPvcVmIntent = defineOpcode({
  id: "OP_PVC_VM_INTENT",
  className: "OpPvcVmIntent",
  doc: "Record a PVC state change of a VM (the job's next opcode carries it out); move a stopped VM.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    state: req(t.oneOf(...PVC_VM_INTENTS), "The state the client asked for"),
    last_node: maybeString("Node to remember as the VM's last node; \"\" forgets it; null keeps it"),
    move_to: maybeString("For a VM that is not running: the node it is assigned to from now on"),
  },
});

export const OpPvcVmFlushLocks = defineOpcode({
  id: "OP_PVC_VM_FLUSH_LOCKS",
  className: "OpPvcVmFlushLocks",
  doc: "Remove stale storage locks of a stopped VM's volumes.",
  result: "None",
  summaryField: "instance_name",
  params: { instance_name: instanceName },
});

export const OpPvcNodeFlush = defineOpcode({
  id: "OP_PVC_NODE_FLUSH",
  className: "OpPvcNodeFlush",
  doc: "Drain a node and live-migrate its running VMs away one by one; it ends in domain state flushed.",
  result: jobIdListResult,
  summaryField: "node_name",
  params: { node_name: nodeName },
});

export const OpPvcNodeReady = defineOpcode({
  id: "OP_PVC_NODE_READY",
  className: "OpPvcNodeReady",
  doc: "Undrain a node and bring back the VMs whose last node it is; it ends in domain state ready.",
  result: jobIdListResult,
  summaryField: "node_name",
  params: { node_name: nodeName },
});

export const OpPvcNodeDomainState = defineOpcode({
  id: "OP_PVC_NODE_DOMAIN_STATE",
  className: "OpPvcNodeDomainState",
  doc: "Set a node's PVC domain state (the last step of a flush or unflush).",
  result: "None",
  summaryField: "node_name",
  params: {
    node_name: nodeName,
    domain_state: req(t.oneOf(...PVC_DOMAIN_STATES), "Domain state"),
  },
});

const netParams = {
  domain: maybeString("DNS domain of the network's hosts"),
  ip4_network: maybeString("IPv4 network (CIDR); \"\" removes it"),
  ip4_gateway: maybeString("IPv4 gateway address"),
  ip6_network: maybeString("IPv6 network (CIDR); \"\" removes it"),
  ip6_gateway: maybeString("IPv6 gateway address"),
  dhcp4: opt(t.maybe(t.bool), null, "Whether DHCPv4 serves the IPv4 network"),
  dhcp4_start: maybeString("First address of the DHCPv4 range"),
  dhcp4_end: maybeString("Last address of the DHCPv4 range"),
};

export const OpPvcNetworkAdd = defineOpcode({
  id: "OP_PVC_NETWORK_ADD",
  className: "OpPvcNetworkAdd",
  doc: "Add a PVC client network (bridged VLAN or managed VXLAN) as a Corral network.",
  result: "None",
  summaryField: "network_name",
  params: {
    network_name: networkName,
    vni: req(t.refine(t.int, "VNI", (v) => v >= 1 && v <= 16777215), "VLAN id or VXLAN VNI"),
    nettype: req(t.oneOf(...PVC_NET_TYPES), "Network type"),
    ...netParams,
  },
});

export const OpPvcNetworkModify = defineOpcode({
  id: "OP_PVC_NETWORK_MODIFY",
  className: "OpPvcNetworkModify",
  doc: "Change a PVC network's options; null leaves a value as it is.",
  result: "None",
  summaryField: "network_name",
  params: { network_name: networkName, description: maybeString("New description (the network's name)"), ...netParams },
});

export const OpPvcNetworkRemove = defineOpcode({
  id: "OP_PVC_NETWORK_REMOVE",
  className: "OpPvcNetworkRemove",
  doc: "Remove a PVC network that no VM uses.",
  result: "None",
  summaryField: "network_name",
  params: { network_name: networkName },
});

export const OpPvcLeaseAdd = defineOpcode({
  id: "OP_PVC_LEASE_ADD",
  className: "OpPvcLeaseAdd",
  doc: "Add a static DHCPv4 reservation to a managed network.",
  result: "None",
  summaryField: "network_name",
  params: {
    network_name: networkName,
    mac: req(t.nonEmptyString, "MAC address"),
    ip: req(t.nonEmptyString, "IPv4 address"),
    hostname: opt(t.string, "", "Host name"),
  },
});

export const OpPvcLeaseRemove = defineOpcode({
  id: "OP_PVC_LEASE_REMOVE",
  className: "OpPvcLeaseRemove",
  doc: "Remove a static DHCPv4 reservation (by MAC address, host name or IP address).",
  result: "None",
  summaryField: "network_name",
  params: { network_name: networkName, lease: req(t.nonEmptyString, "MAC, host name or IP of the reservation") },
});

const direction = req(t.oneOf("in", "out"), "Direction of the rule");

export const OpPvcAclAdd = defineOpcode({
  id: "OP_PVC_ACL_ADD",
  className: "OpPvcAclAdd",
  doc: "Add an nftables rule to a managed network.",
  result: "None",
  summaryField: "network_name",
  params: {
    network_name: networkName,
    direction,
    description: req(t.nonEmptyString, "Rule description (unique in its direction)"),
    rule: req(t.nonEmptyString, "nftables rule statement"),
    order: opt(t.maybe(t.nonNegInt), null, "Position in the chain; the end when absent"),
  },
});

export const OpPvcAclRemove = defineOpcode({
  id: "OP_PVC_ACL_REMOVE",
  className: "OpPvcAclRemove",
  doc: "Remove an nftables rule from a managed network.",
  result: "None",
  summaryField: "network_name",
  params: { network_name: networkName, direction, description: req(t.nonEmptyString, "Rule description") },
});

export const OpPvcStorage = defineOpcode({
  id: "OP_PVC_STORAGE",
  className: "OpPvcStorage",
  doc: "Change the storage layer (pools, volumes, snapshots, OSDs, options), synchronously.",
  result: "Dictionary with keys of Anything and values of Anything",
  summaryField: "action",
  params: {
    action: req(t.nonEmptyString, "Storage request (op)"),
    request: req(t.anyDict, "The storage request"),
    node: opt(t.maybe(t.nonEmptyString), null, "Node to run it on (default: the storage node)"),
  },
});

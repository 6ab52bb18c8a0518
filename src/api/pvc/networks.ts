// /api/v1/network: PVC networks are Corral networks with PVC data (ops/pvc/network.ts);
// dynamic leases come from dnsmasq on the master node, static ones from the config.

import { buildOpcode } from "../../model/opcode.ts";
import {
  OpPvcAclAdd, OpPvcAclRemove, OpPvcLeaseAdd, OpPvcLeaseRemove, OpPvcNetworkAdd, OpPvcNetworkModify, OpPvcNetworkRemove,
} from "../../model/opcodes/pvc.ts";
import type { Network } from "../../model/objects.ts";
import { findPvcNetwork } from "../../query/pvc-names.ts";
import type { DhcpLease } from "../../model/pvc-node.ts";
import { storageNode } from "../../storage/service.ts";
import { notFound, pvcFailure } from "./errors.ts";
import { commandJob, type PvcServices } from "./jobs.ts";
import { LIMIT, limitMatcher } from "./limit.ts";
import { message, ok, pvcRoute, type PvcRoute } from "./server.ts";
import { pvcValue, type PvcValues } from "./values.ts";
import { aclViews, dynamicLeaseView, networkView, staticLeaseView } from "./views.ts";

type PvcNetwork = Network & { pvc: NonNullable<Network["pvc"]> };

function pvcNetworks(s: PvcServices): PvcNetwork[] {
  return [...s.store.snapshot().networks.values()].filter((n): n is PvcNetwork => n.pvc !== undefined).sort((a, b) => a.pvc.vni - b.pvc.vni);
}

function network(s: PvcServices, key: string): PvcNetwork {
  const n = findPvcNetwork(s.store.snapshot(), key);
  if (!n) throw notFound("Network");
  return n as PvcNetwork;
}

function commandNetwork(s: PvcServices, key: string): PvcNetwork {
  const n = findPvcNetwork(s.store.snapshot(), key);
  if (!n) throw pvcFailure(`ERROR: Network '${key}' does not exist!`);
  return n as PvcNetwork;
}

/** What netOptions reads. */
const NET_OPTIONS = [
  pvcValue.string("domain", "The network's DNS domain"),
  pvcValue.string("ip4_network", "The IPv4 network in CIDR notation"),
  pvcValue.string("ip4_gateway", "The IPv4 gateway address"),
  pvcValue.string("ip6_network", "The IPv6 network in CIDR notation"),
  pvcValue.string("ip6_gateway", "The IPv6 gateway address"),
  pvcValue.flag("dhcp4", "Serve DHCPv4 on the network"),
  pvcValue.string("dhcp4_start", "The first address of the DHCPv4 range"),
  pvcValue.string("dhcp4_end", "The last address of the DHCPv4 range"),
];
const ACL_DIRECTION = pvcValue.choice("direction", ["in", "out"], "The rule's direction", { required: true });
/** A filter, or v0.6's way to delete a rule without naming its direction. */
const ACL_DIRECTION_OPTIONAL = { ...ACL_DIRECTION, required: false, description: "The rules' direction (all when not given)" };

/** The optional network values of POST and PUT (null: not given). */
function netOptions(values: PvcValues) {
  const v = (name: string) => values.get(name) ?? null;
  return {
    domain: v("domain"),
    ip4_network: v("ip4_network"),
    ip4_gateway: v("ip4_gateway"),
    ip6_network: v("ip6_network"),
    ip6_gateway: v("ip6_gateway"),
    dhcp4: values.has("dhcp4") ? values.flag("dhcp4") : null,
    dhcp4_start: v("dhcp4_start"),
    dhcp4_end: v("dhcp4_end"),
  };
}

async function dynamicLeases(s: PvcServices, net: PvcNetwork): Promise<DhcpLease[]> {
  const snap = s.store.snapshot();
  try {
    return await s.clients(storageNode(snap)).netLeases({ vni: net.pvc.vni });
  } catch (err) {
    s.log(`PVC API: no DHCP leases from the master node for network ${net.name}: ${err instanceof Error ? err.message : String(err)}`);
    return [];
  }
}

export function networkRoutes(s: PvcServices): PvcRoute[] {
  const leaseRows = async (net: PvcNetwork, staticOnly: boolean, keep: (mac: string) => boolean) => {
    const rows = net.pvc.reservations.filter((r) => keep(r.mac)).map(staticLeaseView);
    if (!staticOnly) {
      const reserved = new Set(net.pvc.reservations.map((r) => r.mac));
      for (const l of await dynamicLeases(s, net)) if (!reserved.has(l.mac) && keep(l.mac)) rows.push(dynamicLeaseView(l));
    }
    if (rows.length === 0) throw notFound("Lease");
    return ok(rows);
  };
  const leaseElement = {
    GET: async ({ params }: { params: Readonly<Record<string, string>> }) => {
      const net = network(s, params.network);
      return leaseRows(net, false, (mac) => mac === params.lease.toLowerCase());
    },
    DELETE: async ({ params }: { params: Readonly<Record<string, string>> }) => {
      const net = commandNetwork(s, params.network);
      const op = buildOpcode(OpPvcLeaseRemove, { network_name: net.name, lease: params.lease });
      return message(await commandJob(s, [op], `DHCP reservation '${params.lease}' removed successfully!`));
    },
  };

  return [
    pvcRoute("/api/v1/network", {
      GET: {
        values: [LIMIT],
        handle: ({ values }) => {
          const match = limitMatcher(values.get("limit"));
          const rows = pvcNetworks(s).filter((n) => match(String(n.pvc.vni), n.name)).map(networkView);
          if (rows.length === 0) throw notFound("Network");
          return ok(rows);
        },
      },
      POST: {
        values: [
          pvcValue.integer("vni", "The network's VXLAN id", { required: true }),
          pvcValue.string("description", "The network's name", { required: true }),
          pvcValue.choice("nettype", ["managed", "bridged"], "managed (routed, with DHCP and firewall rules) or bridged (a plain bridge)", { required: true }),
          ...NET_OPTIONS,
        ],
        handle: async ({ values }) => {
          const vni = values.get("vni");
          if (vni === undefined || vni === "") throw pvcFailure("ERROR: A VNI must be specified for the virtual network.");
          if (!/^\d+$/.test(vni)) throw pvcFailure(`ERROR: The VNI '${vni}' is not a number.`);
          const description = values.get("description");
          if (description === undefined || description === "") throw pvcFailure("ERROR: A description must be specified for the virtual network.");
          const nettype = values.get("nettype");
          if (nettype === undefined || nettype === "") throw pvcFailure("ERROR: A nettype must be specified for the virtual network.");
          if (nettype !== "managed" && nettype !== "bridged") throw pvcFailure("ERROR: A valid nettype must be specified: 'managed' or 'bridged'.");
          const opts = netOptions(values);
          const op = buildOpcode(OpPvcNetworkAdd, { network_name: description, vni: Number(vni), nettype, ...opts, dhcp4: opts.dhcp4 ?? false });
          return message(await commandJob(s, [op], `Network '${description}' added successfully!`));
        },
      },
    }),
    pvcRoute("/api/v1/network/<network>", {
      GET: ({ params }) => ok([networkView(network(s, params.network))]),
      PUT: {
        values: [pvcValue.string("description", "A new name for the network"), ...NET_OPTIONS],
        handle: async ({ params, values }) => {
          const net = commandNetwork(s, params.network);
          const op = buildOpcode(OpPvcNetworkModify, { network_name: net.name, description: values.get("description") ?? null, ...netOptions(values) });
          return message(await commandJob(s, [op], `Network '${net.name}' modified successfully!`));
        },
      },
      DELETE: async ({ params }) => {
        const net = commandNetwork(s, params.network);
        const op = buildOpcode(OpPvcNetworkRemove, { network_name: net.name });
        return message(await commandJob(s, [op], `Network '${net.name}' removed successfully!`));
      },
    }),
    pvcRoute("/api/v1/network/<network>/lease", {
      GET: {
        values: [LIMIT, pvcValue.flag("static", "Only the static reservations, not the dynamic leases")],
        handle: async ({ params, values }) => {
          const net = network(s, params.network);
          const match = limitMatcher(values.get("limit"));
          return leaseRows(net, values.flag("static"), (mac) => match(mac));
        },
      },
      POST: {
        values: [
          pvcValue.string("macaddress", "The MAC address to reserve an address for", { required: true }),
          pvcValue.string("ipaddress", "The IPv4 address to reserve", { required: true }),
          pvcValue.string("hostname", "The hostname DHCP hands out with it"),
        ],
        handle: async ({ params, values }) => {
          const net = commandNetwork(s, params.network);
          const mac = values.get("macaddress");
          if (!mac) throw pvcFailure("ERROR: A MAC address must be specified.");
          const ip = values.get("ipaddress");
          if (!ip) throw pvcFailure("ERROR: An IPv4 address must be specified.");
          const op = buildOpcode(OpPvcLeaseAdd, { network_name: net.name, mac, ip, hostname: values.get("hostname") ?? "" });
          return message(await commandJob(s, [op], `DHCP reservation '${mac.toLowerCase()}' added successfully!`));
        },
      },
    }),
    pvcRoute("/api/v1/network/<network>/lease/<lease>", leaseElement),
    // The manual's one leftover header from before the REST paths.
    pvcRoute("/api/v1/network/<network>/dhcp/<lease>", leaseElement),
    pvcRoute("/api/v1/network/<network>/acl", {
      GET: {
        values: [ACL_DIRECTION_OPTIONAL, LIMIT],
        handle: ({ params, values }) => {
          const net = network(s, params.network);
          const direction = values.get("direction");
          if (direction !== undefined && direction !== "in" && direction !== "out") {
            throw pvcFailure(`ERROR: Direction '${direction}' is not valid; use 'in' or 'out'.`);
          }
          const match = limitMatcher(values.get("limit"));
          const rows = aclViews(net, direction).filter((a) => match(String(a.description)));
          if (rows.length === 0) throw notFound("ACL");
          return ok(rows);
        },
      },
      POST: {
        values: [
          pvcValue.string("description", "The rule's name", { required: true }),
          ACL_DIRECTION,
          pvcValue.string("rule", "The nftables rule", { required: true }),
          pvcValue.integer("order", "Where the rule goes among the direction's rules (last when not given)"),
        ],
        handle: async ({ params, values }) => {
          const net = commandNetwork(s, params.network);
          const description = values.required("description");
          const direction = values.choice(ACL_DIRECTION);
          const rule = values.required("rule");
          const orderText = values.get("order");
          if (orderText !== undefined && orderText !== "" && !/^\d+$/.test(orderText)) throw pvcFailure(`ERROR: Order '${orderText}' is not a whole number.`);
          const order = orderText === undefined || orderText === "" ? null : Number(orderText);
          const op = buildOpcode(OpPvcAclAdd, { network_name: net.name, direction, description, rule, order });
          return message(await commandJob(s, [op], `Firewall rule '${description}' added successfully!`));
        },
      },
    }),
    pvcRoute("/api/v1/network/<network>/acl/<acl>", {
      // The manual: an unknown ACL gives an empty document.
      GET: ({ params }) => ok(aclViews(network(s, params.network)).filter((a) => a.description === params.acl)),
      DELETE: {
        values: [ACL_DIRECTION_OPTIONAL],
        handle: async ({ params, values }) => {
          const net = commandNetwork(s, params.network);
          let direction = values.get("direction");
          if (direction === undefined || direction === "") {
            // v0.6 sends no direction: the rule's own, when only one direction has it.
            const dirs = aclViews(net).filter((a) => a.description === params.acl).map((a) => a.direction as string);
            if (dirs.length !== 1) throw pvcFailure(dirs.length === 0 ? `ERROR: No firewall rule with description '${params.acl}' exists!` : "ERROR: A value for 'direction' must be specified.");
            direction = dirs[0];
          }
          if (direction !== "in" && direction !== "out") throw pvcFailure(`ERROR: 'direction' must be one of 'in', 'out', not '${direction}'.`);
          const op = buildOpcode(OpPvcAclRemove, { network_name: net.name, direction, description: params.acl });
          return message(await commandJob(s, [op], `Firewall rule '${params.acl}' removed successfully!`));
        },
      },
    }),
  ];
}

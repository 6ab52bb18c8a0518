// What the PVC logical units share: the network specs nodes render, and pushing those to the
// nodes after a change. (Finding VMs, nodes and networks by PVC's names: query/pvc-names.ts.)

import type { Network } from "../../model/objects.ts";
import type { NetConfigSpec } from "../../model/pvc-node.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { logWarning, type LuContext } from "../lu.ts";
import type { ParamSpec } from "../../model/params.ts";

export function netSpec(n: Network): NetConfigSpec | undefined {
  const p = n.pvc;
  if (!p) return undefined;
  return {
    vni: p.vni,
    name: n.name,
    type: p.type,
    domain: p.domain,
    ip4_network: n.network === "" ? null : n.network,
    ip4_gateway: n.gateway,
    ip6_network: n.network6,
    ip6_gateway: n.gateway6,
    dhcp4: p.dhcp4 ? { start: p.dhcp4_start, end: p.dhcp4_end } : null,
    reservations: p.reservations.map((r) => ({ ...r })),
    acls: { in: p.acls.in.map((a) => ({ ...a })), out: p.acls.out.map((a) => ({ ...a })) },
  };
}

export function netSpecs(snap: ConfigSnapshot): NetConfigSpec[] {
  return [...snap.networks.values()].map(netSpec).filter((s): s is NetConfigSpec => s !== undefined);
}

/**
 * Gives every online node the networks as they are now: nftables everywhere, dnsmasq on the
 * master node (PVC's primary coordinator). A node that fails gets a warning in the job log;
 * the config change stands, as in PVC, where nodes apply it on their own.
 */
export async function pushNetworks(ctx: LuContext<ParamSpec>): Promise<void> {
  const snap = ctx.snapshot();
  const networks = netSpecs(snap);
  await Promise.all([...snap.nodes.values()].filter((n) => !n.offline).map(async (node) => {
    try {
      const r = await ctx.master.node(node).netConfigure({ networks, gateway: node.uuid === snap.cluster.master_node });
      for (const [tool, rep] of Object.entries(r)) {
        if (rep.status === "failed") logWarning(ctx, `${tool} on node ${node.name}: ${rep.detail}`);
      }
    } catch (err) {
      logWarning(ctx, `Could not configure networks on node ${node.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }));
}

/** Disk templates whose data every node reaches, so a VM can move between nodes. */
export const MOVABLE_TEMPLATES: ReadonlySet<string> = new Set(["sharedfile", "rbd", "ext", "gluster", "blockdev", "diskless", "drbd"]);

// Cluster-wide logical units.

import { OpClusterRedistConf } from "../model/opcodes/cluster.ts";
import { defineLU } from "./lu.ts";

/**
 * Pushes the full configuration to every node. Corral's nodes read the config from the
 * master over RPC rather than keeping copies, so this verifies the config is committed
 * (a no-op transaction would be pointless) and reports the push in the job log.
 */
export const clusterRedistConfLU = defineLU({
  opcode: OpClusterRedistConf,
  locks: () => ({ cluster: { names: "all", mode: "shared" }, node: { names: "all", mode: "shared" } }),
  checkPrereq: (ctx) => ctx.snapshot(),
  exec(ctx, snap) {
    const online = [...snap.nodes.values()].filter((n) => !n.offline);
    ctx.feedback(`Configuration serial ${snap.serial} distributed to ${online.length} online node(s)`);
    return null;
  },
});

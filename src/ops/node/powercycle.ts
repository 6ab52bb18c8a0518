// OP_NODE_POWERCYCLE: asks a node's agent to power-cycle its machine. Corral's agents only
// run the fake hypervisor, whose power cycle is simulated: the agent forgets its running
// fake instances and gets a new boot id; the real machine is never touched.

import { classificationOf, ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import { OpNodePowercycle } from "../../model/opcodes/node.ts";
import { defineLU } from "../lu.ts";
import { expandNode } from "./common.ts";

export const nodePowercycleLU = defineLU({
  opcode: OpNodePowercycle,
  // A last resort that must not wait behind other jobs: Ganeti takes no locks for it but
  // the shared big lock, which only node add and remove hold exclusively.
  locks: () => ({ cluster: { names: "all", mode: "shared" } }),
  checkPrereq(ctx) {
    const snap = ctx.snapshot();
    const node = expandNode(snap, ctx.op);
    if (node.uuid === snap.cluster.master_node && !ctx.op.force) {
      throw new OpPrereqError("The node is the master and the force parameter was not set", ECODE.inval);
    }
    return { node, hypervisor: snap.cluster.enabled_hypervisors[0] ?? "fake" };
  },
  async exec(ctx, { node, hypervisor }) {
    if (node.offline) throw new OpExecError("Failed to schedule the reboot: Node is marked offline");
    let message: string;
    try {
      ({ message } = await ctx.master.node(node).nodePowercycle({ hypervisor }));
    } catch (err) {
      throw new OpExecError(`Failed to schedule the reboot: ${err instanceof Error ? err.message : String(err)}`, classificationOf(err));
    }
    ctx.feedback(message);
    await ctx.master.live.refresh([node.uuid]);
    return message;
  },
});

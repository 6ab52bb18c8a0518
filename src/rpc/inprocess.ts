// The in-process transport: the embedded master talks to its local agent without a socket,
// but every argument and result still goes through JSON text and the same dispatcher as the
// HTTPS server, so nothing works here that would break on the wire.

import type { NodeRpc } from "./calls.ts";
import { buildClient, type NodeRpcClient } from "./client.ts";
import { dispatchJson } from "./dispatch.ts";
import { TRANSPORT_ERRORS } from "./errors.ts";

export function inProcessClient(agent: NodeRpc, opts: { node?: string } = {}): NodeRpcClient {
  const node = opts.node ?? "local";
  let closed = false;
  return buildClient(
    node,
    async (call, body) => {
      if (closed) {
        return JSON.stringify({ ok: false, error: { class: TRANSPORT_ERRORS.unreachable, message: "Client is closed" } });
      }
      // Yield first so a caller never observes agent effects synchronously.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return (await dispatchJson(agent, call, body)).json;
    },
    () => {
      closed = true;
    },
  );
}

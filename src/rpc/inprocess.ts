// The in-process transport: the embedded master talks to its local agent without a socket,
// but every argument and result still goes through JSON text and the same dispatcher as the
// HTTPS server, so nothing works here that would break on the wire.

import { buildClient, type NodeRpcClient, type TermSource } from "./client.ts";
import { dispatchJson, type ServedAgent } from "./dispatch.ts";
import { TRANSPORT_ERRORS } from "./errors.ts";

/** `term`: the master's term, checked by the agent as on the wire (see buildClient). */
export function inProcessClient(agent: ServedAgent, opts: { node?: string; term?: TermSource } = {}): NodeRpcClient {
  const node = opts.node ?? "local";
  let closed = false;
  return buildClient(
    node,
    async (call, body, _args, term) => {
      if (closed) {
        return JSON.stringify({ ok: false, error: { class: TRANSPORT_ERRORS.unreachable, message: "Client is closed" } });
      }
      // Yield first so a caller never observes agent effects synchronously.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return (await dispatchJson(agent, call, body, term)).json;
    },
    () => {
      closed = true;
    },
    opts.term,
  );
}

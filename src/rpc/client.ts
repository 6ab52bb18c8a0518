// What the master holds for each node: the NodeRpc calls plus the node's name and a way to
// release the transport. Transports only supply "send this call's JSON, give me the envelope".

import { callKind, NODE_RPC_CALLS, type MasterTerm, type NodeRpc, type RpcCall } from "./calls.ts";
import { NOT_LEADING, parseWireResponse, RpcCallError, TRANSPORT_ERRORS } from "./errors.ts";

export interface NodeRpcClient extends NodeRpc {
  /** The node name used in error messages. */
  readonly node: string;
  /** Releases connections; further calls fail. */
  close(): void;
}

/** Sends one call's JSON body (and the master's term as JSON, when it has one) and resolves with the response's JSON text. */
export type SendFn = (call: RpcCall, body: string, args: unknown, term: string | undefined) => Promise<string>;

/**
 * Where a master's client finds its term at each call: undefined while the master does not
 * lead. For an order it may wait, checked against the clock as the order goes out, while the
 * master's leadership is in doubt (store/etcd/liveness.ts). A client without one (tools, tests
 * of the agent alone) sends no term.
 */
export type TermSource = (forOrder: boolean) => MasterTerm | undefined | Promise<MasterTerm | undefined>;

export function buildClient(node: string, send: SendFn, close: () => void, termOf?: TermSource): NodeRpcClient {
  const client: Record<string, unknown> = { node, close };
  for (const call of NODE_RPC_CALLS) {
    client[call] = async (args: unknown) => {
      const order = callKind(call, args) === "order";
      const term = await termOf?.(order);
      if (termOf && term === undefined && order) {
        // Nothing reaches the node: a master that does not lead gives no orders (issue 17).
        throw new RpcCallError(node, call, {
          class: NOT_LEADING,
          message: `This master does not lead (it holds no leadership term), so it sends no ${call} order to node ${node}`,
        });
      }
      let body: string;
      try {
        body = JSON.stringify(args ?? {});
      } catch (err) {
        throw new RpcCallError(node, call, {
          class: TRANSPORT_ERRORS.protocol,
          message: `Arguments of ${call} cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
      const text = await send(call, body, args, term === undefined ? undefined : JSON.stringify(term));
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new RpcCallError(node, call, { class: TRANSPORT_ERRORS.protocol, message: "Node agent answered with invalid JSON" });
      }
      const response = parseWireResponse(parsed);
      if (!response.ok) throw new RpcCallError(node, call, response.error);
      return response.result;
    };
  }
  // Every NodeRpc method is set above from NODE_RPC_CALLS, which lists all of them (checked in calls.ts).
  return client as unknown as NodeRpcClient;
}

// What the master holds for each node: the NodeRpc calls plus the node's name and a way to
// release the transport. Transports only supply "send this call's JSON, give me the envelope".

import { NODE_RPC_CALLS, type NodeRpc, type RpcCall } from "./calls.ts";
import { parseWireResponse, RpcCallError, TRANSPORT_ERRORS } from "./errors.ts";

export interface NodeRpcClient extends NodeRpc {
  /** The node name used in error messages. */
  readonly node: string;
  /** Releases connections; further calls fail. */
  close(): void;
}

/** Sends one call's JSON body and resolves with the response's JSON text. */
export type SendFn = (call: RpcCall, body: string, args: unknown) => Promise<string>;

export function buildClient(node: string, send: SendFn, close: () => void): NodeRpcClient {
  const client: Record<string, unknown> = { node, close };
  for (const call of NODE_RPC_CALLS) {
    client[call] = async (args: unknown) => {
      let body: string;
      try {
        body = JSON.stringify(args ?? {});
      } catch (err) {
        throw new RpcCallError(node, call, {
          class: TRANSPORT_ERRORS.protocol,
          message: `Arguments of ${call} cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
      const text = await send(call, body, args);
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

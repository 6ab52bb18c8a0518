// The agent side of every transport: JSON in, one call on the agent, a JSON envelope out.
// Both transports go through here, so the in-process path behaves exactly like the wire.

import { isRpcCall, type NodeRpc, type RpcCall } from "./calls.ts";
import { AGENT_ERRORS, toWireError, type WireResponse } from "./errors.ts";

/**
 * Runs call `name` with the JSON text `body` on `agent` and returns the JSON text of the
 * envelope. Never throws: unknown calls, bad JSON and agent failures all become errors.
 */
export async function dispatchJson(agent: NodeRpc, name: string, body: string): Promise<{ status: number; json: string }> {
  const response = await dispatch(agent, name, body);
  let json: string;
  try {
    json = JSON.stringify(response);
  } catch (err) {
    json = JSON.stringify({ ok: false, error: toWireError(err) } satisfies WireResponse);
    return { status: 500, json };
  }
  return { status: statusOf(response, name), json };
}

function statusOf(response: WireResponse, name: string): number {
  if (response.ok) return 200;
  if (!isRpcCall(name)) return 404;
  return response.error.class === AGENT_ERRORS.argument ? 400 : 500;
}

async function dispatch(agent: NodeRpc, name: string, body: string): Promise<WireResponse> {
  if (!isRpcCall(name)) {
    return { ok: false, error: { class: AGENT_ERRORS.unknownCall, message: `Unknown node call '${name}'` } };
  }
  let args: unknown;
  try {
    args = body.trim() === "" ? {} : JSON.parse(body);
  } catch {
    return { ok: false, error: { class: AGENT_ERRORS.argument, message: `Arguments of ${name} are not valid JSON` } };
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    return { ok: false, error: { class: AGENT_ERRORS.argument, message: `Arguments of ${name} must be a JSON object` } };
  }
  try {
    const method = agent[name as RpcCall] as (this: NodeRpc, a: unknown) => Promise<unknown>;
    const result = await method.call(agent, args);
    return { ok: true, result: result === undefined ? null : result };
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  }
}

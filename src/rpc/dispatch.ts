// The agent side of every transport: JSON in, one call on the agent, a JSON envelope out.
// Both transports go through here, so the in-process path behaves exactly like the wire.

import { isRpcCall, parseMasterTerm, type MasterTerm, type NodeRpc, type RpcCall } from "./calls.ts";
import { AGENT_ERRORS, toWireError, type WireResponse } from "./errors.ts";

/** What an agent that keeps its masters' terms adds (node/agent/terms.ts): asked before every call runs; it throws to refuse the call. */
export interface TermGate {
  admitTerm(call: RpcCall, args: object, term: MasterTerm | undefined): Promise<void>;
}

/** An agent as a transport serves it: the calls, and the term gate when it keeps one. */
export type ServedAgent = NodeRpc & Partial<TermGate>;

/**
 * Runs call `name` with the JSON text `body` on `agent` and returns the JSON text of the
 * envelope; `term` is the calling master's term as JSON text, when it sent one. Never throws:
 * unknown calls, bad JSON, refused terms and agent failures all become errors.
 */
export async function dispatchJson(agent: ServedAgent, name: string, body: string, term?: string): Promise<{ status: number; json: string }> {
  const response = await dispatch(agent, name, body, term);
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

async function dispatch(agent: ServedAgent, name: string, body: string, termText: string | undefined): Promise<WireResponse> {
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
  const term = termText === undefined ? undefined : parseMasterTerm(termText);
  if (term instanceof Error) return { ok: false, error: { class: AGENT_ERRORS.argument, message: `${name}: ${term.message}` } };
  try {
    await agent.admitTerm?.(name, args, term);
    const method = agent[name as RpcCall] as (this: NodeRpc, a: unknown) => Promise<unknown>;
    const result = await method.call(agent, args);
    return { ok: true, result: result === undefined ? null : result };
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  }
}

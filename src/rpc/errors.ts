// Errors across the master↔node boundary. The agent throws AgentError (a class name such as
// HypervisorError plus a message, optionally a Ganeti error classification); the transport
// carries it as a WireError; the master receives an RpcCallError that knows the node and the
// call and can become the OpExecError a job reports.

import { ECODE, OpExecError, type ClassifiedError, type Ecode } from "../model/errors.ts";

/** An error as it travels on the wire. */
export interface WireError {
  class: string;
  message: string;
  ecode?: Ecode;
}

/** The response envelope of every call, on every transport. */
export type WireResponse = { ok: true; result: unknown } | { ok: false; error: WireError };

/** An error raised by agent code, with the class name the master will see. */
export class AgentError extends Error {
  readonly errClass: string;
  readonly ecode: Ecode | undefined;
  constructor(errClass: string, message: string, ecode?: Ecode) {
    super(message);
    this.errClass = errClass;
    this.ecode = ecode;
  }
}

/** Error class names the agent uses (others may appear; unknown exceptions become AgentError). */
export const AGENT_ERRORS = {
  hypervisor: "HypervisorError",
  blockDevice: "BlockDeviceError",
  invalidOs: "InvalidOS",
  osScript: "OSScriptError",
  argument: "ArgumentError",
  unknownCall: "UnknownCall",
  forbidden: "Forbidden",
  /** An order from a master older than the newest the agent obeyed (fenced out; issue 17). */
  fencedOut: "MasterFencedOut",
  internal: "AgentError",
} as const;

/** Class name of a call the master itself refused to send: an order while it does not lead. */
export const NOT_LEADING = "MasterNotLeading";

/** Class names a transport uses when the call never got an answer from the agent. */
export const TRANSPORT_ERRORS = {
  unreachable: "NodeUnreachable",
  protocol: "RpcProtocolError",
  timeout: "RpcTimeout",
} as const;

/** Encodes anything thrown by agent code. Never includes a stack trace. */
export function toWireError(err: unknown): WireError {
  if (err instanceof AgentError) {
    const out: WireError = { class: err.errClass, message: err.message };
    if (err.ecode) out.ecode = err.ecode;
    return out;
  }
  const message = err instanceof Error ? err.message : String(err);
  return { class: AGENT_ERRORS.internal, message };
}

const TRANSPORT_CLASSES: ReadonlySet<string> = new Set(Object.values(TRANSPORT_ERRORS));

/** A failed call as the master sees it; `ecode` is the agent's own classification, if any. */
export class RpcCallError extends Error implements ClassifiedError {
  readonly node: string;
  readonly call: string;
  readonly errClass: string;
  readonly ecode: Ecode | undefined;
  constructor(node: string, call: string, wire: WireError) {
    super(wire.message);
    this.node = node;
    this.call = call;
    this.errClass = wire.class;
    this.ecode = wire.ecode;
  }

  /** True when the agent never answered (node down, TLS refused, timeout). */
  get unreachable(): boolean {
    return TRANSPORT_CLASSES.has(this.errClass);
  }

  /**
   * What a job failing with this error is classified as: ECODE.environ when the agent never
   * answered, as Ganeti raises a node it cannot reach (a retry may work once the node is
   * back); an error the agent reported stays unclassified, as in Ganeti's result.Raise.
   */
  get failureEcode(): Ecode | undefined {
    return this.unreachable ? ECODE.environ : undefined;
  }

  /** The job-level error: "<what> on node <node>: <message>", as Ganeti's result.Raise does. */
  toOpExecError(what = `Call ${this.call} failed`): OpExecError {
    return new OpExecError(`${what} on node ${this.node}: ${this.message}`, this.failureEcode);
  }
}

/** Reads an envelope from untrusted JSON; a malformed one becomes a protocol error. */
export function parseWireResponse(value: unknown): WireResponse {
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (v.ok === true && "result" in v) return { ok: true, result: v.result };
    if (v.ok === false && typeof v.error === "object" && v.error !== null) {
      const e = v.error as Record<string, unknown>;
      if (typeof e.class === "string" && typeof e.message === "string") {
        const out: WireError = { class: e.class, message: e.message };
        if (typeof e.ecode === "string") out.ecode = e.ecode as Ecode;
        return { ok: false, error: out };
      }
    }
  }
  return { ok: false, error: { class: TRANSPORT_ERRORS.protocol, message: "Malformed response from node agent" } };
}

// Ganeti's error classes and classifications, as clients decode them from job results
// (`[ErrorClass, [message, ecode]]`) and from RAPI error bodies.

/** Error classifications (Ganeti's ECODE_*): tell a client whether a retry can help. */
export const ECODE = {
  resolver: "resolver_error",
  noRes: "insufficient_resources",
  tempNoRes: "temp_insufficient_resources",
  inval: "wrong_input",
  state: "wrong_state",
  noEnt: "unknown_entity",
  exists: "already_exists",
  notUnique: "resource_not_unique",
  fault: "internal_error",
  environ: "environment_error",
} as const;
export type Ecode = (typeof ECODE)[keyof typeof ECODE];

/** An error that is encoded into a job result under the Ganeti class name it carries. */
export class GanetiError extends Error {
  readonly errClass: string;
  readonly args: unknown[];
  constructor(errClass: string, args: unknown[]) {
    super(typeof args[0] === "string" ? args[0] : String(args[0] ?? errClass));
    this.errClass = errClass;
    this.args = args;
  }
  /** The `[class, args]` pair Ganeti puts in `opresult` for a failed opcode. */
  encode(): [string, unknown[]] {
    return [this.errClass, this.args];
  }
}

/** A prerequisite failed: nothing was changed. */
export class OpPrereqError extends GanetiError {
  constructor(message: string, ecode: Ecode) {
    super("OpPrereqError", [message, ecode]);
  }
}

/**
 * Execution failed after the checks passed (a node call, a script). The classification is
 * given when it helps a client decide on a retry, as Ganeti's result.Raise(ecode=...) does:
 * ECODE.environ for a node that did not answer.
 */
export class OpExecError extends GanetiError {
  constructor(message: string, ecode?: Ecode) {
    super("OpExecError", ecode === undefined ? [message] : [message, ecode]);
  }
}

/** An error that knows how a job failing with it is classified without being a GanetiError (a node call). */
export interface ClassifiedError extends Error {
  readonly failureEcode: Ecode | undefined;
}

const ECODES: ReadonlySet<string> = new Set(Object.values(ECODE));

/**
 * The classification `err` carries (a GanetiError's second argument, or a failed node
 * call's), so that an error wrapping it with more context can keep it.
 */
export function classificationOf(err: unknown): Ecode | undefined {
  const ecode: unknown = err instanceof GanetiError ? err.args[1]
    : err instanceof Error ? (err as Partial<ClassifiedError>).failureEcode
    : undefined;
  return typeof ecode === "string" && ECODES.has(ecode) ? (ecode as Ecode) : undefined;
}

export class TagError extends GanetiError {
  constructor(message: string) {
    super("TagError", [message]);
  }
}

/** A parameter of the wrong type or an unknown key (Ganeti's ForceDictType). */
export class TypeEnforcementError extends GanetiError {
  constructor(message: string) {
    super("TypeEnforcementError", [message]);
  }
}

/** An object's settings are inconsistent (an ipolicy, NIC parameters). */
export class ConfigurationError extends GanetiError {
  constructor(message: string) {
    super("ConfigurationError", [message]);
  }
}

/** A network's address pool refused a reservation or release. */
export class AddressPoolError extends GanetiError {
  constructor(message: string) {
    super("AddressPoolError", [message]);
  }
}

/** Hypervisor parameters a hypervisor does not accept. */
export class HypervisorError extends GanetiError {
  constructor(message: string) {
    super("HypervisorError", [message]);
  }
}

/**
 * Encodes any thrown value as Ganeti does: unknown exceptions become OpExecError, keeping
 * the classification of one that carries it (a node call that got no answer).
 */
export function encodeError(err: unknown): [string, unknown[]] {
  if (err instanceof GanetiError) return err.encode();
  if (!(err instanceof Error)) return ["OpExecError", [String(err)]];
  return new OpExecError(err.message, classificationOf(err)).encode();
}

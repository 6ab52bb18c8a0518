// Opcodes are data: an id, typed parameters with defaults, and a result description.
// `buildOpcode` turns untrusted input into a validated opcode the way Ganeti's opcode
// constructor and validation do, with the same error texts.

import { ECODE, OpPrereqError } from "./errors.ts";
import { fallbackValue, opt, t, type ParamSpec, type ParamValues } from "./params.ts";

export const JOB_DEP_STATUSES = ["success", "error", "canceled"] as const;

/** Parameters every opcode has (Ganeti's OpCode.OP_PARAMS). `reason` is set by the API. */
export const commonParams = {
  dry_run: opt(t.maybe(t.bool), null, "Run checks only, don't execute"),
  debug_level: opt(t.maybe(t.nonNegInt), 0, "Debug level"),
  priority: opt(t.refine(t.int, "Priority", (p) => p >= -20 && p <= 19), 0, "Opcode priority"),
  depends: opt(
    t.maybe(t.listOf(t.tuple(t.int, t.listOf(t.oneOf(...JOB_DEP_STATUSES))))),
    null,
    "Job dependencies",
  ),
  comment: opt(t.maybe(t.string), null, "Comment describing the purpose of the opcode"),
  reason: opt(t.listOf(t.any), () => [], "Reason trail"),
} satisfies ParamSpec;

export type CommonParams = ParamValues<typeof commonParams>;

export interface OpcodeDef<S extends ParamSpec = ParamSpec> {
  /** OP_ID, e.g. "OP_TAGS_SET". */
  readonly id: string;
  /** Ganeti's class name, e.g. "OpTagsSet" (used in error messages). */
  readonly className: string;
  readonly doc: string;
  readonly params: S;
  /** What a successful run returns (Ganeti's OP_RESULT description). */
  readonly result: string;
  /**
   * The parameter shown in the job summary, e.g. INSTANCE_REBOOT(inst1). Typed as a plain
   * string so that OpcodeDef stays covariant in S; defineOpcode checks it names a param.
   */
  readonly summaryField?: string;
}

export function defineOpcode<const S extends ParamSpec>(
  def: OpcodeDef<S> & { readonly summaryField?: keyof S & string },
): OpcodeDef<S> {
  return def;
}

/** A validated opcode as stored in a job: OP_ID plus every parameter. */
export type Opcode<S extends ParamSpec = ParamSpec> = { OP_ID: string } & CommonParams & ParamValues<S>;

/** Input that does not make a valid opcode. `kind` says which of Ganeti's messages applies. */
export class OpcodeInputError extends Error {}

/**
 * Builds and validates an opcode. Unknown keys and failed checks raise OpcodeInputError
 * with the text Ganeti gives ("Object OpX doesn't support the parameter 'k'", or the
 * repr of its validation OpPrereqError).
 */
export function buildOpcode<S extends ParamSpec>(def: OpcodeDef<S>, input: Record<string, unknown>): Opcode<S> {
  for (const key of Object.keys(input)) {
    if (key !== "OP_ID" && !(key in def.params) && !(key in commonParams)) {
      throw new OpcodeInputError(`Object ${def.className} doesn't support the parameter '${key}'`);
    }
  }
  const op: Record<string, unknown> = {};
  const fill = (spec: ParamSpec) => {
    for (const [name, param] of Object.entries(spec)) {
      let value = input[name];
      if (value === undefined) value = fallbackValue(param);
      if (value === undefined || (value === null && param.required) || !param.check.test(value)) {
        const msg = `Parameter '${def.id}.${name}' fails validation`;
        throw new OpcodeInputError(`("${msg}", '${ECODE.inval}')`);
      }
      op[name] = value;
    }
  };
  fill(def.params);
  fill(commonParams);
  return { OP_ID: def.id, ...op } as Opcode<S>;
}

/** The same failure, when it must surface inside a job instead of an HTTP 400. */
export function validationPrereqError(def: OpcodeDef, name: string): OpPrereqError {
  return new OpPrereqError(`Parameter '${def.id}.${name}' fails validation`, ECODE.inval);
}

/**
 * The opcode as Ganeti serializes it in a job's `ops`: common params first (an unset
 * dry_run left out, depends and comment always present), then OP_ID, then the opcode's own
 * parameters without the optional ones that are unset (null).
 */
export function serializeOpcode(op: Opcode): Record<string, unknown> {
  const { OP_ID, dry_run, debug_level, priority, depends, comment, reason, ...rest } = op;
  const out: Record<string, unknown> = {};
  if (dry_run !== null && dry_run !== undefined) out.dry_run = dry_run;
  Object.assign(out, { debug_level, priority, depends, comment, reason, OP_ID });
  for (const [k, v] of Object.entries(rest)) {
    if (v === null || v === undefined) continue;
    out[k] = PRIVATE_PARAMS.has(k) ? hideValues(v) : v;
  }
  return out;
}

/** Parameters whose values are never shown: Ganeti serializes private values as null. */
const PRIVATE_PARAMS: ReadonlySet<string> = new Set(["osparams_private", "osparams_secret", "osparams_private_cluster"]);

function hideValues(v: unknown): unknown {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, typeof inner === "object" && inner !== null ? hideValues(inner) : null]));
}

/** Job summary entry: "TAGS_SET", "INSTANCE_REBOOT(inst1.example.com)". */
export function summarizeOpcode(def: OpcodeDef | undefined, op: Opcode): string {
  const base = op.OP_ID.replace(/^OP_/, "");
  const field = def?.summaryField;
  if (!field) return base;
  const value = (op as Record<string, unknown>)[field];
  if (value === null || value === undefined) return base;
  return `${base}(${Array.isArray(value) ? value.join(",") : String(value)})`;
}

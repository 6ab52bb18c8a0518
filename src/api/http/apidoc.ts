// What the OpenAPI document (src/api/openapi/) says about a method beyond its route-table
// entry: the opcode a job-submitting route fills from its body, and the shape of its answer.

import type { OpcodeDef } from "../../model/opcode.ts";
import type { JsonSchema } from "../../model/params.ts";

/** The object kinds whose dicts come from the field registry (src/query/rapi.ts, job.ts). */
export type ObjectKind = "instance" | "node" | "group" | "network" | "filter" | "job";

export interface OpcodeDoc {
  readonly def: OpcodeDef;
  readonly renames?: Readonly<Record<string, string>>;
  readonly forbidden?: readonly string[];
  /** The body is not read (only `depends`). */
  readonly ignoreBody?: boolean;
  /** The names of the parameters taken from path and query (a body may not set them). */
  readonly fixed?: () => readonly string[];
  /** Body keys that are not opcode parameters (instance creation's `__version__`). */
  readonly extraBody?: Readonly<Record<string, JsonSchema>>;
}

export type ResponseDoc =
  /** A job id. */
  | { readonly kind: "job" }
  /** A collection: `[{<idKey>, uri}]`, or with ?bulk=1 the objects' dicts. */
  | { readonly kind: "collection"; readonly object: ObjectKind; readonly idKey: "id" | "name" | "uuid" }
  /** One object's dict. */
  | { readonly kind: "object"; readonly object: ObjectKind }
  | { readonly kind: "schema"; readonly schema: JsonSchema };

export interface MethodDoc {
  readonly summary?: string;
  readonly opcode?: OpcodeDoc;
  /** A body that is not an opcode's parameters. */
  readonly requestBody?: JsonSchema;
  readonly response?: ResponseDoc;
}

export const JOB_ID: ResponseDoc = { kind: "job" };

// JSON Schemas of the OpenAPI document, derived from declarations: a job-submitting route's
// body from its opcode's typed parameters (model/params.ts carries each check's schema), and
// an object GET's answer from the field registry (src/query), never written out by hand.

import { commonParams, type OpcodeDef } from "../../model/opcode.ts";
import { fallbackValue, type JsonSchema, type Param } from "../../model/params.ts";
import type { FieldKind, FieldTable } from "../../query/fields.ts";
import { J_FIELDS, J_FIELDS_BULK } from "../../query/job.ts";
import { fieldTable } from "../../query/query.ts";
import { FILTER_RULE_FIELDS, G_FIELDS, I_FIELDS, N_FIELDS, NET_FIELDS } from "../../query/rapi.ts";
import type { ObjectKind, OpcodeDoc } from "../http/apidoc.ts";

/** Ganeti's error body (RAPI's HTTP errors). */
export const GANETI_ERROR: JsonSchema = {
  type: "object",
  required: ["code", "message", "explain"],
  properties: {
    code: { type: "integer", description: "The HTTP status again" },
    message: { type: "string", description: "What went wrong" },
    explain: { type: "string", description: "The status's standard explanation" },
  },
};

/** PVC's answer for failures (and many successes). */
export const PVC_MESSAGE: JsonSchema = { type: "object", required: ["message"], properties: { message: { type: "string" } } };

/** A field's value on the wire by its Query2 kind; null when the value is unavailable. */
const KIND_SCHEMA: Record<FieldKind, JsonSchema> = {
  text: { type: ["string", "null"] },
  bool: { type: ["boolean", "null"] },
  number: { type: ["integer", "null"] },
  float: { type: ["number", "null"] },
  unit: { type: ["integer", "null"], description: "MiB" },
  timestamp: { anyOf: [{ type: "number" }, { type: "array", items: { type: "number" } }, { type: "null" }] },
  other: {},
  unknown: {},
};

/** Fields a Ganeti server may leave out (Corral answers them): Ganeti 3.0 lacks 3.1's custom_osparams. */
const NEWER_FIELDS: ReadonlySet<string> = new Set(["custom_osparams"]);

/** The dict of one object with the named fields, each field's schema from its kind and doc. */
function dictSchema(table: FieldTable<unknown>, names: readonly string[], extra: Record<string, JsonSchema> = {}): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const name of names) {
    const def = table.get(name);
    if (!def) throw new Error(`OpenAPI: field ${name} is not in the field registry`);
    properties[name] = { ...KIND_SCHEMA[def.kind], title: def.title, description: def.doc };
  }
  const required = [...names, ...Object.keys(extra)].filter((n) => !NEWER_FIELDS.has(n));
  return { type: "object", required, properties: { ...properties, ...extra } };
}

const FIELDS_OF: Record<Exclude<ObjectKind, "job">, readonly string[]> = {
  instance: I_FIELDS,
  node: N_FIELDS,
  group: G_FIELDS,
  network: NET_FIELDS,
  filter: FILTER_RULE_FIELDS,
};

/** GET /2/<kind>s/X: the object's dict (a node's also carries `secondary_ip`, a copy of `sip`). */
export function objectSchema(kind: ObjectKind): JsonSchema {
  if (kind !== "node") return bulkSchema(kind, false);
  return dictSchema(fieldTable(kind), N_FIELDS, { secondary_ip: { ...KIND_SCHEMA.text, description: "Same as sip" } });
}

/** One object of a bulk list (a job's has fewer fields than GET /2/jobs/N's). */
function bulkSchema(kind: ObjectKind, bulk: boolean): JsonSchema {
  if (kind === "job") return dictSchema(fieldTable(kind), bulk ? J_FIELDS_BULK : J_FIELDS);
  return dictSchema(fieldTable(kind), FIELDS_OF[kind]);
}

/** A collection: `[{<idKey>, uri}]`, or with ?bulk=1 one dict per object. */
export function collectionSchema(kind: ObjectKind, idKey: string): JsonSchema {
  const bulkItem = bulkSchema(kind, true);
  const link: JsonSchema = {
    type: "object",
    required: [idKey, "uri"],
    properties: { [idKey]: kind === "job" ? { type: "integer" } : { type: "string" }, uri: { type: "string" } },
  };
  return { anyOf: [{ type: "array", items: link }, { type: "array", items: bulkItem, description: "with bulk=1" }] };
}

function paramSchema(param: Param<unknown>): JsonSchema {
  const schema: Record<string, unknown> = { ...param.check.schema };
  if (param.doc) schema.description = param.doc;
  if (!param.required && typeof param.fallback !== "function") {
    const value = fallbackValue(param);
    if (value !== undefined) schema.default = value;
  }
  return schema;
}

/**
 * The body of a job-submitting route: the opcode's and every opcode's common parameters, less
 * the static and forbidden ones, with the old names of renamed parameters accepted as well.
 */
export function opcodeBodySchema(doc: OpcodeDoc): JsonSchema {
  const def: OpcodeDef = doc.def;
  const hidden = new Set(["reason", ...(doc.fixed?.() ?? []), ...(doc.forbidden ?? [])]);
  if (doc.ignoreBody) {
    return { type: "object", description: "Only `depends` is read", properties: { depends: paramSchema(commonParams.depends) } };
  }
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, param] of [...Object.entries(def.params), ...Object.entries(commonParams)]) {
    if (hidden.has(name)) continue;
    properties[name] = paramSchema(param);
    if (param.required) required.push(name);
  }
  for (const [oldName, newName] of Object.entries(doc.renames ?? {})) {
    const target = properties[newName];
    if (target) properties[oldName] = { ...target, description: `Old name of ${newName}` };
  }
  // A required parameter may come under its old name.
  const renamedFrom = Object.fromEntries(Object.entries(doc.renames ?? {}).map(([o, n]) => [n, o]));
  const requirements: JsonSchema[] = required.map((name) =>
    renamedFrom[name] ? { anyOf: [{ required: [name] }, { required: [renamedFrom[name]] }] } : { required: [name] });
  return {
    type: "object",
    title: def.className,
    description: `${def.doc} (${def.id}; additional keys are refused)`,
    properties: { ...properties, ...(doc.extraBody ?? {}) },
    additionalProperties: false,
    ...(requirements.length > 0 ? { allOf: requirements } : {}),
  };
}

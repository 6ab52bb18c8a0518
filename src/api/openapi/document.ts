// The OpenAPI 3.1 document of RAPI v2, /corral/1 and the PVC API v1, generated from the route
// tables: paths, methods and access from the entries, query parameters from their `query`
// declarations, bodies and answers from their `doc` (opcode parameters, field registry).

import type { JsonSchema } from "../../model/params.ts";
import type { ResponseDoc } from "../http/apidoc.ts";
import { accessFor, bodyFor, type Method, type MethodSpec, type Route } from "../http/routes.ts";
import type { QueryParam } from "../http/query.ts";
import { SESSION_COOKIE } from "../pvc/auth.ts";
import type { PvcMethodSpec, PvcRoute } from "../pvc/server.ts";
import type { PvcValueDecl } from "../pvc/values.ts";
import { collectionSchema, GANETI_ERROR, objectSchema, opcodeBodySchema, PVC_MESSAGE } from "./schemas.ts";

type Json = Record<string, unknown>;

const ERROR_REF = { $ref: "#/components/schemas/GanetiError" };
const PVC_MESSAGE_REF = { $ref: "#/components/schemas/PvcMessage" };
const DIGIT_PARAMS = new Set(["job_id", "disk_index"]);

/** `/2/instances/[instance_name]` and PVC's `/api/v1/vm/<vm>` → `/2/instances/{instance_name}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/\[([a-z_]+)\]|<([a-z_]+)>/g, (_m, rapi: string | undefined, pvc: string | undefined) => `{${rapi ?? pvc}}`);
}

function pathParameters(path: string): Json[] {
  return [...path.matchAll(/\{([a-z_]+)\}/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    schema: DIGIT_PARAMS.has(name) ? { type: "string", pattern: "^[0-9]+$" } : { type: "string" },
  }));
}

const QUERY_SCHEMA: Record<QueryParam["type"], JsonSchema> = {
  // Ganeti reads flags with Python's int(): 0 is off, any other integer on.
  boolean: { type: "integer", description: "0 or 1" },
  integer: { type: "integer" },
  number: { type: "number" },
  string: { type: "string" },
  list: { type: "array", items: { type: "string" } },
};

function queryParameter(q: QueryParam): Json {
  return {
    name: q.name,
    in: "query",
    required: false,
    description: q.description,
    schema: q.minimum === undefined ? QUERY_SCHEMA[q.type] : { ...QUERY_SCHEMA[q.type], minimum: q.minimum },
    ...(q.type === "list" ? { style: "form", explode: true } : {}),
  };
}

const json = (schema: JsonSchema, description: string): Json => ({ description, content: { "application/json": { schema } } });

function successSchema(response: ResponseDoc | undefined): JsonSchema {
  switch (response?.kind) {
    case "job":
      return { type: "integer", minimum: 0, description: "The id of the submitted job" };
    case "collection":
      return collectionSchema(response.object, response.idKey);
    case "object":
      return objectSchema(response.object);
    case "schema":
      return response.schema;
    default:
      return {};
  }
}

function requestBody(method: Method, spec: MethodSpec): Json | undefined {
  if (bodyFor(method, spec) === "none") return undefined;
  const doc = spec.doc;
  const schema = doc?.opcode ? opcodeBodySchema(doc.opcode) : (doc?.requestBody ?? {});
  // Ganeti's job-submitting resources take no body at all as "no parameters".
  return { required: false, content: { "application/json": { schema } } };
}

function operationId(method: string, path: string): string {
  return `${method.toLowerCase()}${path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`;
}

const ETAG_HEADER = { ETag: { description: "The object's current version (for If-Match and If-None-Match)", schema: { type: "string" } } };

/** The refusals every RAPI operation may answer, in Ganeti's error body (none for HEAD). */
const REFUSALS: Json = {
  "401": json(ERROR_REF, "No valid credentials: none where the route needs them, or wrong ones (a WWW-Authenticate challenge comes with it)"),
  "403": json(ERROR_REF, "The user lacks the access the route needs, an API token does not cover the request, or a web session's CSRF token is wrong"),
  "406": json(ERROR_REF, "The request's Accept excludes what the route answers"),
};

/** What a route with a version stamp (MethodSpec.stamp) answers to If-None-Match and If-Match. */
function conditionalAnswers(method: Method): Json {
  const isRead = method === "GET" || method === "HEAD";
  return {
    ...(isRead ? { "304": { description: "Not Modified: If-None-Match names the object's current version (no body)", headers: ETAG_HEADER } } : {}),
    "412": json(ERROR_REF, isRead ? "Precondition Failed: If-Match names no current version of the object, or it does not exist" : "Precondition Failed: If-Match names no current version of the object (or it does not exist), or If-None-Match names the current one"),
  };
}

function successAnswer(method: Method, spec: MethodSpec): Json {
  const headers = spec.stamp && (method === "GET" || method === "HEAD") ? { headers: ETAG_HEADER } : {};
  if (method === "HEAD") return { description: "Headers only", ...headers };
  const produces = spec.produces ?? "application/json";
  if (produces !== "application/json") {
    const description = produces === "text/event-stream" ? "Server-Sent Events" : "Text";
    return { description, ...headers, content: { [produces]: { schema: { type: "string" } } } };
  }
  return { ...json(successSchema(spec.doc?.response), spec.doc?.response?.kind === "job" ? "Job submitted" : "Success"), ...headers };
}

function rapiOperation(method: Method, path: string, spec: MethodSpec): Json {
  const access = accessFor(method, spec);
  const body = requestBody(method, spec);
  const opcode = spec.doc?.opcode?.def;
  const summary = spec.doc?.summary ?? (opcode ? `${opcode.doc} (${opcode.id})` : undefined);
  return {
    operationId: operationId(method, path),
    tags: [path.startsWith("/corral/") ? "corral" : "rapi-2"],
    ...(summary ? { summary } : {}),
    // Public resources take credentials all the same (a bad password is still refused).
    security: access.length === 0 ? [{}, { basicAuth: [] }] : [{ basicAuth: [] }],
    "x-corral-access": access,
    parameters: [...pathParameters(path), ...(spec.query ?? []).map(queryParameter)],
    ...(body ? { requestBody: body } : {}),
    responses: {
      "200": successAnswer(method, spec),
      ...(spec.stamp ? conditionalAnswers(method) : {}),
      ...REFUSALS,
      default: json(ERROR_REF, "An error, in Ganeti's error body (HEAD and a few 5xx: no body)"),
    },
  };
}

/** A PVC value as a query string or form body carries it (text). */
function pvcTextSchema(v: PvcValueDecl): JsonSchema {
  switch (v.kind) {
    case "choice":
      return { type: "string", enum: [...(v.choices ?? [])] };
    case "integer":
      return { type: "string", pattern: "^[0-9]+$" };
    case "number":
      return { type: "string", pattern: "^[0-9]+(\\.[0-9]+)?$" };
    default:
      return { type: "string" };
  }
}

/** In a JSON body a value may also be a JSON number or boolean (it is read as its text). */
function pvcJsonSchema(v: PvcValueDecl): JsonSchema {
  switch (v.kind) {
    case "integer":
      return { anyOf: [{ type: "integer", minimum: 0 }, pvcTextSchema(v)] };
    case "number":
      return { anyOf: [{ type: "number", minimum: 0 }, pvcTextSchema(v)] };
    case "flag":
      return { anyOf: [{ type: "boolean" }, { type: "integer" }, pvcTextSchema(v)] };
    default:
      return pvcTextSchema(v);
  }
}

const FLAG_TEXT = "on when given without a value or with anything but 0, false, no or off";

/** Each declared value and its aliases, with the description saying which is which. */
function pvcSpellings(values: readonly PvcValueDecl[]): { name: string; value: PvcValueDecl; description: string }[] {
  return values.flatMap((value) => [
    { name: value.name, value, description: value.kind === "flag" ? `${value.description} (${FLAG_TEXT})` : value.description },
    ...value.aliases.map((alias) => ({ name: alias, value, description: `Another spelling of \`${value.name}\`` })),
  ]);
}

/** A body schema: the values as properties; a required one with aliases needs any one spelling. */
function pvcBodySchema(values: readonly PvcValueDecl[], property: (v: PvcValueDecl) => JsonSchema): JsonSchema {
  const required = values.filter((v) => v.required);
  const oneSpelling = required.filter((v) => v.aliases.length > 0).map((v) => ({ anyOf: [v.name, ...v.aliases].map((n) => ({ required: [n] })) }));
  return {
    type: "object",
    properties: Object.fromEntries(pvcSpellings(values).map((s) => [s.name, { ...property(s.value), description: s.description }])),
    ...(required.some((v) => v.aliases.length === 0) ? { required: required.filter((v) => v.aliases.length === 0).map((v) => v.name) } : {}),
    ...(oneSpelling.length > 0 ? { allOf: oneSpelling } : {}),
  };
}

/**
 * PVC reads its values from the query string and the body alike (Flask's request.values):
 * they are query parameters on every method, and a form or JSON body on those that take
 * one; a required value is marked required where it has to be (GET: the query).
 */
function pvcValues(method: string, spec: PvcMethodSpec): { parameters: Json[]; requestBody?: Json } {
  const takesBody = method !== "GET";
  const parameters = pvcSpellings(spec.values).map((s) => ({
    name: s.name,
    in: "query",
    required: !takesBody && s.value.required && s.value.aliases.length === 0,
    description: s.description,
    schema: pvcTextSchema(s.value),
    ...(s.value.kind === "flag" ? { allowEmptyValue: true } : {}),
  }));
  if (!takesBody) return { parameters };
  return {
    parameters,
    requestBody: {
      required: false,
      description: "The values as a form or a JSON object (or in the query string instead)",
      content: {
        "application/x-www-form-urlencoded": { schema: pvcBodySchema(spec.values, pvcTextSchema) },
        "application/json": { schema: pvcBodySchema(spec.values, pvcJsonSchema) },
      },
    },
  };
}

function pvcOperation(method: string, path: string, route: PvcRoute, spec: PvcMethodSpec): Json {
  const { parameters, requestBody } = pvcValues(method, spec);
  return {
    operationId: operationId(method, path),
    tags: ["pvc-1"],
    security: route.auth ? [{ pvcApiKey: [] }, { pvcSession: [] }] : [],
    "x-corral-access": route.auth ? ["pvc-token"] : [],
    parameters: [...pathParameters(path), ...parameters],
    ...(requestBody ? { requestBody } : {}),
    responses: {
      "200": json({}, "Success"),
      default: json(PVC_MESSAGE_REF, "A failure, as PVC's {message}"),
    },
  };
}

export interface ApiTables {
  /** The RAPI listener's table: Ganeti's /2 resources and Corral's /corral/1. */
  readonly rapi: readonly Route[];
  /** The PVC API's table. */
  readonly pvc: readonly PvcRoute[];
  readonly version: string;
}

export function openApiDocument(tables: ApiTables): Json {
  const paths: Record<string, Json> = {};
  const add = (path: string, method: string, operation: Json) => {
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = operation;
  };
  for (const r of tables.rapi) {
    const path = openApiPath(r.pattern);
    for (const [method, spec] of Object.entries(r.methods) as [Method, MethodSpec][]) add(path, method, rapiOperation(method, path, spec));
  }
  for (const r of tables.pvc) {
    const path = openApiPath(r.pattern);
    for (const [method, spec] of Object.entries(r.methods)) add(path, method, pvcOperation(method, path, r, spec));
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Corral API",
      version: tables.version,
      description:
        "Ganeti's RAPI v2 (wire-compatible), Corral's own /corral/1, and the PVC API v1. Generated by the master from its route tables; " +
        "bodies of job-submitting resources are the opcodes' typed parameters, object answers the field registry's fields.",
    },
    tags: [
      { name: "rapi-2", description: "Ganeti RAPI v2" },
      { name: "corral", description: "Corral's own resources" },
      { name: "pvc-1", description: "PVC API v1 (on its own listener, or under /api/v1 on the RAPI one)" },
    ],
    paths,
    components: {
      securitySchemes: {
        basicAuth: { type: "http", scheme: "basic", description: "A user of the RAPI users file; x-corral-access names the options of which one is needed" },
        pvcApiKey: { type: "apiKey", in: "header", name: "X-Api-Key", description: "A token of pvc-api.yaml (when its authentication is enabled)" },
        pvcSession: { type: "apiKey", in: "cookie", name: SESSION_COOKIE, description: "The session cookie /api/v1/auth/login sets" },
      },
      schemas: { GanetiError: GANETI_ERROR, PvcMessage: PVC_MESSAGE },
    },
  };
}

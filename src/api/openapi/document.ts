// The OpenAPI 3.1 document of RAPI v2, /corral/1 and the PVC API v1, generated from the route
// tables: paths, methods and access from the entries, query parameters from their `query`
// declarations, bodies and answers from their `doc` (opcode parameters, field registry).

import type { JsonSchema } from "../../model/params.ts";
import type { ResponseDoc } from "../http/apidoc.ts";
import { accessFor, bodyFor, type Method, type MethodSpec, type Route } from "../http/routes.ts";
import type { QueryParam } from "../http/query.ts";
import { SESSION_COOKIE } from "../pvc/auth.ts";
import type { PvcRoute } from "../pvc/server.ts";
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
  string: { type: "string" },
  list: { type: "array", items: { type: "string" } },
};

function queryParameter(q: QueryParam): Json {
  return {
    name: q.name,
    in: "query",
    required: false,
    description: q.description,
    schema: QUERY_SCHEMA[q.type],
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

function rapiOperation(method: Method, path: string, spec: MethodSpec): Json {
  const access = accessFor(method, spec);
  const body = requestBody(method, spec);
  const success =
    method === "HEAD"
      ? { description: "Headers only" }
      : spec.produces === "text/event-stream"
        ? { description: "Server-Sent Events", content: { "text/event-stream": { schema: { type: "string" } } } }
        : json(successSchema(spec.doc?.response), spec.doc?.response?.kind === "job" ? "Job submitted" : "Success");
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
      "200": success,
      default: json(ERROR_REF, "An error, in Ganeti's error body (HEAD and a few 5xx: no body)"),
    },
  };
}

function pvcOperation(method: string, path: string, route: PvcRoute): Json {
  return {
    operationId: operationId(method, path),
    tags: ["pvc-1"],
    security: route.auth ? [{ pvcApiKey: [] }, { pvcSession: [] }] : [],
    "x-corral-access": route.auth ? ["pvc-token"] : [],
    parameters: pathParameters(path),
    ...(method === "GET" ? {} : { requestBody: { required: false, content: { "application/x-www-form-urlencoded": { schema: { type: "object" } }, "application/json": { schema: { type: "object" } } } } }),
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
    for (const method of Object.keys(r.methods)) add(path, method, pvcOperation(method, path, r));
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

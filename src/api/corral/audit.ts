// GET /corral/1/audit: the audit trail (who wrote what, from where, how it ended), newest
// first, for write users. The query is checked in full: a typo in a filter is a 400, never
// an unfiltered answer.

import type { AuditFilter, AuditReader } from "../http/audit.ts";
import { badRequest } from "../http/errors.ts";
import { queryParam, type QueryArgs } from "../http/query.ts";
import { route, type Route } from "../http/routes.ts";
import type { JsonSchema } from "../../model/params.ts";

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;
const KINDS = ["instance", "node", "group", "network", "filter", "job", "cluster"];

/** The parameters auditFilter reads, for the route table (and the OpenAPI document). */
const AUDIT_QUERY = [
  queryParam.string("since", "Unix seconds: records at or after this time"),
  queryParam.string("until", "Unix seconds: records at or before this time"),
  queryParam.string("user", "User or token name"),
  queryParam.string("object", "Name of an object the write touched"),
  queryParam.string("kind", `Object kind (${KINDS.join(", ")})`),
  queryParam.int("limit", `At most this many records (1 to ${AUDIT_MAX_LIMIT}, default ${AUDIT_DEFAULT_LIMIT})`),
];
const PARAMS = AUDIT_QUERY.map((p) => p.name);

const TEXT_OR_NULL: JsonSchema = { type: ["string", "null"] };
/** The answer: AuditRecord (src/model/audit.ts) as JSON, newest first. */
const AUDIT_RECORDS: JsonSchema = {
  type: "array",
  items: {
    type: "object",
    required: ["id", "time", "user", "source", "method", "route", "kind", "object", "action", "status", "jobs"],
    additionalProperties: false,
    properties: {
      id: { type: "integer" },
      time: { type: "number", description: "Unix seconds" },
      user: { ...TEXT_OR_NULL, description: "The user or token (null: no valid credentials)" },
      source: { type: "string", description: "The client's address" },
      method: { type: "string" },
      route: { type: "string", description: "The route pattern, not the path" },
      kind: { ...TEXT_OR_NULL, description: `The kind of object the request names (${KINDS.join(", ")})` },
      object: { ...TEXT_OR_NULL, description: "Its name" },
      action: { ...TEXT_OR_NULL, description: "What the web console did (login, console)" },
      status: { type: "integer", description: "The HTTP status of the answer" },
      jobs: {
        type: "array",
        description: "The jobs the request submitted",
        items: {
          type: "object",
          required: ["id", "opcode", "target", "status"],
          additionalProperties: false,
          properties: {
            id: { type: "integer" },
            opcode: { type: "string" },
            target: { ...TEXT_OR_NULL, description: "The object the opcode names (\"instance web1.example.com\")" },
            status: { ...TEXT_OR_NULL, description: "success, error or canceled; null while the job runs" },
          },
        },
      },
    },
  },
};

export function corralAuditRoutes(audit: AuditReader): Route[] {
  return [
    route("/corral/1/audit", {
      GET: { access: ["write"], query: AUDIT_QUERY, doc: { response: { kind: "schema", schema: AUDIT_RECORDS } }, handle: (ctx) => audit.query(auditFilter(ctx.query)) },
    }),
  ];
}

/** The filter a query string asks for; 400 (Ganeti's error body) on anything else. */
export function auditFilter(query: QueryArgs): AuditFilter {
  for (const [name, values] of query.raw) {
    if (!PARAMS.includes(name)) throw badRequest(`Unknown parameter '${name}'; the audit trail is filtered by ${PARAMS.join(", ")}`);
    if (values.length > 1) throw badRequest(`Parameter '${name}' is given more than once`);
  }
  const since = seconds(query, "since");
  const until = seconds(query, "until");
  if (since !== undefined && until !== undefined && since > until) throw badRequest(`'since' (${since}) is after 'until' (${until})`);
  const kind = query.string("kind");
  if (kind !== undefined && !KINDS.includes(kind)) throw badRequest(`Invalid value for 'kind': '${kind}'; expected one of ${KINDS.join(", ")}`);
  const limitText = query.string("limit");
  const limit = limitText === undefined ? AUDIT_DEFAULT_LIMIT : Number(limitText);
  if (!/^\d+$/.test(limitText ?? "0") || limit < 1 || limit > AUDIT_MAX_LIMIT) {
    throw badRequest(`Invalid value for 'limit': '${limitText}'; expected a whole number from 1 to ${AUDIT_MAX_LIMIT}`);
  }
  return { since, until, user: name(query, "user"), object: name(query, "object"), kind, limit };
}

function seconds(query: QueryArgs, param: string): number | undefined {
  const text = query.string(param);
  if (text === undefined) return undefined;
  if (!/^\d{1,12}(\.\d{1,6})?$/.test(text)) throw badRequest(`Invalid value for '${param}': '${text}'; expected unix seconds`);
  return Number(text);
}

function name(query: QueryArgs, param: string): string | undefined {
  const text = query.string(param);
  if (text !== undefined && text.length > 256) throw badRequest(`Invalid value for '${param}': longer than 256 characters`);
  return text;
}

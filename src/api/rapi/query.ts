// /2/query/[resource] and /2/query/[resource]/fields (RESOURCES.md §2.10): Query2 over the
// query layer, reading the config snapshot, the live cache, the job queue and the locks.
//
// Where Ganeti's answers are accidents of its daemon plumbing, Corral answers plainly:
// a resource that cannot be queried is 404 (Ganeti: 502 from luxid's request parser, or
// 500 for "os" and "cluster"), and a filter that is malformed, names an unknown field or
// an unknown object is 400 with the same message text (Ganeti: 502 or 500). Clients only
// see "not 200" either way; the official client raises GanetiApiError for both.

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import { QueryFilterError } from "../../query/qlang.ts";
import { QUERY_RESOURCES, QueryResourceError, queryFields, runQuery, type QueryContext } from "../../query/query.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import { queryParam } from "../http/query.ts";
import { route, type RequestContext, type Route, type RouteScope } from "../http/routes.ts";
import type { ScopeKind } from "../../model/tokens.ts";
import { pyTypeName } from "../../model/pyrepr.ts";
import type { RapiServices } from "./services.ts";

const FIELDS = queryParam.string("fields", "Comma-separated field names");

const FIELD_DEFS = {
  type: "array",
  items: { type: "object", required: ["name", "title", "kind", "doc"], properties: { name: { type: "string" }, title: { type: "string" }, kind: { type: "string" }, doc: { type: "string" } } },
};
/** Query2's answer: the fields' definitions and one `[status, value]` pair per field and row. */
const QUERY_RESULT = {
  type: "object",
  required: ["fields", "data"],
  properties: {
    fields: FIELD_DEFS,
    data: { type: "array", items: { type: "array", items: { type: "array", prefixItems: [{ type: "integer", minimum: 0, maximum: 4 }, {}], minItems: 2, maxItems: 2 } } },
  },
};
const QUERY_DOC = { response: { kind: "schema", schema: QUERY_RESULT } } as const;

/** Ganeti's _SplitQueryFields: split on commas, each name stripped (empty ones are kept). */
function splitFields(text: string): string[] {
  return text.split(",").map((f) => f.trim());
}

function queryFieldsArg(ctx: RequestContext): string[] {
  const text = ctx.query.string("fields");
  if (text === undefined) throw badRequest("Missing 'fields' query argument");
  return splitFields(text);
}

/** Query-layer failures as HTTP errors (see the header). */
function asHttpError(resource: string, err: unknown): unknown {
  if (err instanceof QueryResourceError) {
    return new HttpError(404, `Resource '${resource}' cannot be queried; the resources are ${QUERY_RESOURCES.join(", ")}`);
  }
  if (err instanceof QueryFilterError) return badRequest(`Invalid query filter: ${err.message}`);
  if (err instanceof OpPrereqError && err.args[1] === ECODE.noEnt) return badRequest(String(err.args[0]));
  return err;
}

/** The kind a token needs read on to query a resource (others: the cluster's). */
const QUERY_KINDS: Readonly<Record<string, ScopeKind>> = { instance: "instance", node: "node", group: "group", network: "network", job: "job", filter: "filter", cluster: "cluster" };

export function queryRoutes(s: RapiServices): Route[] {
  const context = async (resource: string): Promise<QueryContext> => {
    const snap = s.store.snapshot();
    return {
      snap,
      live: s.live,
      jobs: s.queue.all(),
      locks: s.lockInfo(),
      // Only an export query asks the nodes.
      exports: resource === "export" ? await s.nodeReads.exports(snap) : undefined,
    };
  };
  const query = async (ctx: RequestContext, fields: readonly string[], filter: unknown) => {
    const resource = ctx.params.resource;
    try {
      return runQuery(resource, fields, filter, await context(resource));
    } catch (err) {
      throw asHttpError(resource, err);
    }
  };
  // Results may be sensitive (consoles, job inputs): a read or write user, even for PUT.
  const access = ["read", "write"] as const;
  // For API tokens: a query reads a whole kind (even by PUT); lock, os and export views are the cluster's.
  const scope = (params: Readonly<Record<string, string>>): RouteScope => ({ kind: QUERY_KINDS[params.resource] ?? "cluster", access: "read" });

  return [
    route("/2/query/[resource]", {
      GET: { access, scope, query: [FIELDS], doc: QUERY_DOC, handle: (ctx) => query(ctx, queryFieldsArg(ctx), null) },
      PUT: {
        access,
        scope,
        query: [FIELDS],
        doc: { ...QUERY_DOC, requestBody: { type: "object", properties: { fields: { type: "array", items: { type: "string" } }, qfilter: {}, filter: {} } } },
        handle: (ctx) => {
          const body = ctx.body;
          if (typeof body !== "object" || body === null || Array.isArray(body)) {
            throw badRequest(`Body contents: Type is '${pyTypeName(body)}', but 'dict' is expected`);
          }
          const b = body as Record<string, unknown>;
          const fields = "fields" in b ? b.fields : queryFieldsArg(ctx);
          if (!Array.isArray(fields) || !fields.every((f) => typeof f === "string")) {
            throw badRequest("The 'fields' parameter should be a list of field names");
          }
          // `filter` is the pre-2.6 name; the official client sends both.
          const filter = b.qfilter ?? b.filter ?? null;
          return query(ctx, fields, filter);
        },
      },
    }),
    route("/2/query/[resource]/fields", {
      GET: {
        scope: "public",
        query: [queryParam.string("fields", "Comma-separated field names (default: all)")],
        doc: { response: { kind: "schema", schema: { type: "object", required: ["fields"], properties: { fields: FIELD_DEFS } } } },
        handle: (ctx) => {
          const text = ctx.query.string("fields");
          const resource = ctx.params.resource;
          try {
            return queryFields(resource, text === undefined ? undefined : splitFields(text));
          } catch (err) {
            throw asHttpError(resource, err);
          }
        },
      },
    }),
  ];
}

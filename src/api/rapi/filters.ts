// /2/filters resources (RESOURCES.md §2.3): job filter rules. Ganeti's RAPI calls luxid
// directly here, so no job is made: a POST or PUT answers the rule's uuid, a DELETE null.

import { deleteFilter, FilterRequestError, FilterRuleError, replaceFilter, type FilterRuleInput } from "../../jobs/filters.ts";
import { pyTypeName } from "../../model/pyrepr.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import { route, type RequestContext, type Route } from "../http/routes.ts";
import { collectionGet, objectGet } from "./listing.ts";
import type { RapiServices } from "./services.ts";
import { filterStamp } from "./stamps.ts";

const ALLOWED = ["priority", "predicates", "action", "reason"];

/** A body parameter of the type RAPI expects (Ganeti's CheckParameter), or its default. */
function param(body: Record<string, unknown>, name: string, type: "int" | "list" | "any", fallback: unknown): unknown {
  if (!(name in body)) return fallback;
  const value = body[name];
  const ok = type === "any" || (type === "list" ? Array.isArray(value) : typeof value === "boolean" || Number.isInteger(value));
  if (!ok) throw badRequest(`'${name}' parameter: Type is '${pyTypeName(value)}', but '${type}' is expected`);
  return value;
}

/** Ganeti's checkFilterParameters: a dict with only the four known keys, typed. */
function filterInput(ctx: RequestContext): FilterRuleInput {
  const body = ctx.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("Invalid body contents, not a dictionary");
  const dict = body as Record<string, unknown>;
  for (const key of Object.keys(dict)) {
    if (!ALLOWED.includes(key)) throw badRequest(`Invalid body parameters: filter rule doesn't support the parameter '${key}'`);
  }
  return {
    priority: param(dict, "priority", "int", 0),
    predicates: param(dict, "predicates", "list", []),
    action: param(dict, "action", "any", "CONTINUE"),
    reason: param(dict, "reason", "list", []),
  };
}

/** luxid's refusals as RAPI passes them on: undecodable requests 502, the others 500. */
async function luxiCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FilterRequestError) throw new HttpError(502, err.message);
    if (err instanceof FilterRuleError) throw new HttpError(500, err.message);
    throw err;
  }
}

export function filterRoutes(s: RapiServices): Route[] {
  const replace = (uuid: string | null, ctx: RequestContext) =>
    luxiCall(() => replaceFilter(s.store, s.queue.highestJobId(), uuid, filterInput(ctx)));
  const rule = filterStamp(s, "filter_uuid");
  return [
    route("/2/filters", {
      GET: collectionGet(s, "filter", "uuid", "/2/filters"),
      POST: { handle: (ctx) => replace(null, ctx) },
    }),
    route("/2/filters/[filter_uuid]", {
      GET: { ...objectGet(s, "filter", "filter_uuid"), stamp: rule },
      // Checked and changed in one turn of the event loop: If-Match needs no job precondition.
      PUT: { stamp: rule, handle: (ctx) => replace(ctx.params.filter_uuid, ctx) },
      DELETE: { stamp: rule, handle: (ctx) => luxiCall(() => deleteFilter(s.store, ctx.params.filter_uuid)) },
    }),
  ];
}

// The GET views of groups, networks and filter rules (RESOURCES.md §0.2): a collection as
// `[{<id key>, uri}]` or, with ?bulk=1, full dicts; one object as its dict or 404. The
// dicts come from the query layer's field lists (G_FIELDS, NET_FIELDS, FILTER_RULE_FIELDS).

import { bulkDicts, findOne, oneDict } from "../../query/rapi.ts";
import { notFound } from "../http/errors.ts";
import { BULK, LOCK } from "../http/query.ts";
import type { MethodSpec } from "../http/routes.ts";
import type { RapiServices } from "./services.ts";

type Kind = "group" | "network" | "filter";

/** GET on a collection, in Ganeti's order: names nice-sorted, filter rules by uuid. */
export function collectionGet(s: RapiServices, kind: Kind, idKey: "name" | "uuid", base: string): MethodSpec {
  return {
    query: [BULK],
    doc: { response: { kind: "collection", object: kind, idKey } },
    handle: (ctx) => {
      const dicts = bulkDicts(kind, s.store.snapshot(), s.live);
      // Filter rules come in plain uuid order (capture 0410: "1111…" before "9927…").
      if (kind === "filter") dicts.sort((a, b) => (String(a.uuid) < String(b.uuid) ? -1 : 1));
      if (ctx.query.bool("bulk")) return dicts;
      return dicts.map((d) => ({ [idKey]: d[idKey], uri: `${base}/${String(d[idKey])}` }));
    },
  };
}

/**
 * GET on one object, named by path parameter `param` (its name or uuid). `?lock=1` makes
 * Ganeti fail ("Sync queries are not allowed"); Corral reads one snapshot and ignores it.
 */
export function objectGet(s: RapiServices, kind: Kind, param: string): MethodSpec {
  return {
    // Read by no handler, but Ganeti clients send it: declared so the document shows it.
    query: [LOCK],
    doc: { response: { kind: "object", object: kind } },
    handle: (ctx) => {
      const snap = s.store.snapshot();
      const obj = findOne(kind, snap, ctx.params[param]);
      if (!obj) throw notFound();
      return oneDict(kind, snap, s.live, obj);
    },
  };
}

// Tags of the cluster and of every object kind: one implementation, five routes (§2.9).

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import { OpTagsDel, OpTagsSet, type TagKind } from "../../model/opcodes/tags.ts";
import { resolveObject } from "../../query/resolve.ts";
import { HttpError } from "../http/errors.ts";
import { route, type RequestContext, type Route } from "../http/routes.ts";
import { DRY_RUN, queryParam } from "../http/query.ts";
import { opcodeResource } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
import { clusterStamp, objectStamp } from "./stamps.ts";
import { pyRepr } from "../../model/pyrepr.ts";

const OBJECT_TAG_PATHS: [string, Exclude<TagKind, "cluster">, string, string][] = [
  ["/2/instances/[instance_name]/tags", "instance", "instance_name", "instances_name_tags"],
  ["/2/nodes/[node_name]/tags", "node", "node_name", "nodes_name_tags"],
  ["/2/groups/[group_name]/tags", "nodegroup", "group_name", "groups_name_tags"],
  ["/2/networks/[network_name]/tags", "network", "network_name", "networks_name_tags"],
];

const NOT_FOUND_NAME: Record<Exclude<TagKind, "cluster">, string> = {
  instance: "Instance name",
  node: "Node name",
  nodegroup: "Group name",
  network: "Network name",
};

const TAG_QUERY = [queryParam.list("tag", "A tag (repeat for several)"), DRY_RUN];

/** Whose version a tag write's If-Match names: the tagged object's (stamps.ts kinds). */
const STAMP_KINDS = { instance: "instance", node: "node", nodegroup: "group", network: "network" } as const;

export function tagRoutes(s: RapiServices): Route[] {
  const routeFor = (pattern: string, kind: TagKind, param: string | null, rapiName: string): Route => {
    const nameOf = (ctx: RequestContext) => (param ? ctx.params[param] : null);
    const stamp = kind === "cluster" || param === null ? clusterStamp(s) : objectStamp(s, STAMP_KINDS[kind], param);
    const staticParams = (ctx: RequestContext) => ({
      kind,
      name: nameOf(ctx),
      tags: ctx.query.list("tag"),
      dry_run: ctx.query.bool("dry-run"),
    });
    return route(pattern, {
      GET: {
        doc: { response: { kind: "schema", schema: { type: "array", items: { type: "string" } } } },
        handle: (ctx) => {
          const snap = s.store.snapshot();
          if (kind === "cluster") return [...snap.cluster.tags].sort();
          try {
            return [...resolveObject(snap, kind, nameOf(ctx) ?? "").tags].sort();
          } catch (err) {
            if (!(err instanceof OpPrereqError)) throw err;
            // Ganeti lets this lookup error through as a 500 with its repr as the message.
            const msg = `${NOT_FOUND_NAME[kind]} ${nameOf(ctx)} not found`;
            throw new HttpError(500, `(${pyRepr(msg)}, ${pyRepr(ECODE.noEnt)})`);
          }
        },
      },
      PUT: opcodeResource(s, OpTagsSet, { rapiName, stamp, query: TAG_QUERY, static: staticParams, ignoreBody: true }),
      DELETE: opcodeResource(s, OpTagsDel, { rapiName, stamp, query: TAG_QUERY, static: staticParams, ignoreBody: true }),
    });
  };
  return [
    routeFor("/2/tags", "cluster", null, "tags"),
    ...OBJECT_TAG_PATHS.map(([p, kind, param, name]) => routeFor(p, kind, param, name)),
  ];
}

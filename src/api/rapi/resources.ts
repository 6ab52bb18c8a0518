// The Ganeti RAPI v2 resource table: every URI pattern Corral answers, in one list.
// Access rules live in the entries (routes.ts defaults: GET public, writes need "write").

import { OpClusterRedistConf, OpClusterSetParams } from "../../model/opcodes/cluster.ts";
import { RawJson, route, type Route } from "../http/routes.ts";
import { encodeJson } from "../http/json.ts";
import { jobRoutes } from "./jobs.ts";
import { opcodeResource } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
import { tagRoutes } from "./tags.ts";
import { clusterInfoRoute } from "./info.ts";
import { clusterStamp } from "./stamps.ts";
import { filterRoutes } from "./filters.ts";
import { groupRoutes } from "./groups.ts";
import { instanceRoutes } from "./instances.ts";
import { networkRoutes } from "./networks.ts";
import { nodeRoutes } from "./nodes.ts";
import { queryRoutes } from "./query.ts";

/** Ganeti's RAPI version (GET /version); ganeti-watcher restarts a daemon that says otherwise. */
export const RAPI_VERSION = 2;

export const FEATURES = ["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1", "node-evac-res1"];

const NULL_BODY = new RawJson(encodeJson(null));

export function rapiRoutes(s: RapiServices): Route[] {
  return [
    route("/", { GET: { scope: "public", doc: { response: { kind: "schema", schema: { type: "null" } } }, handle: () => NULL_BODY } }),
    route("/2", { GET: { scope: "public", doc: { response: { kind: "schema", schema: { type: "null" } } }, handle: () => NULL_BODY } }),
    route("/version", { GET: { scope: "public", doc: { response: { kind: "schema", schema: { const: RAPI_VERSION } } }, handle: () => RAPI_VERSION } }),
    route("/2/features", { GET: { scope: "public", doc: { response: { kind: "schema", schema: { type: "array", items: { type: "string" } } } }, handle: () => FEATURES } }),
    clusterInfoRoute(s),
    route("/2/redistribute-config", {
      PUT: opcodeResource(s, OpClusterRedistConf, { rapiName: "redist_config" }),
    }),
    route("/2/modify", {
      PUT: opcodeResource(s, OpClusterSetParams, { rapiName: "cluster_modify", stamp: clusterStamp(s), forbidden: ["compression_tools"] }),
    }),
    ...filterRoutes(s),
    ...groupRoutes(s),
    ...instanceRoutes(s),
    ...networkRoutes(s),
    ...nodeRoutes(s),
    ...queryRoutes(s),
    ...tagRoutes(s),
    ...jobRoutes(s),
  ];
}

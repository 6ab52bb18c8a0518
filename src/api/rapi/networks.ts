// /2/networks resources (RESOURCES.md §2.5): the network views, and network jobs.

import {
  OpNetworkAdd, OpNetworkConnect, OpNetworkDisconnect, OpNetworkRemove, OpNetworkRename, OpNetworkSetParams,
} from "../../model/opcodes/network.ts";
import { route, type RequestContext, type Route } from "../http/routes.ts";
import { DRY_RUN } from "../http/query.ts";
import { collectionGet, objectGet } from "./listing.ts";
import { opcodeResource } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
import { objectStamp } from "./stamps.ts";

const dryRun = (ctx: RequestContext) => ({ dry_run: ctx.query.bool("dry-run") });
const networkName = (ctx: RequestContext) => ({ network_name: ctx.params.network_name });
const networkAndDryRun = (ctx: RequestContext) => ({ ...networkName(ctx), ...dryRun(ctx) });

export function networkRoutes(s: RapiServices): Route[] {
  const network = objectStamp(s, "network", "network_name");
  return [
    route("/2/networks", {
      GET: collectionGet(s, "network", "name", "/2/networks"),
      POST: opcodeResource(s, OpNetworkAdd, { rapiName: "networks", renames: { name: "network_name" }, query: [DRY_RUN], static: dryRun }),
    }),
    route("/2/networks/[network_name]", {
      GET: { ...objectGet(s, "network", "network_name"), stamp: network },
      // Unlike the group DELETE, this one reads its body (e.g. `force`).
      DELETE: opcodeResource(s, OpNetworkRemove, { rapiName: "networks_name", stamp: network, query: [DRY_RUN], static: networkAndDryRun }),
    }),
    route("/2/networks/[network_name]/connect", {
      PUT: opcodeResource(s, OpNetworkConnect, { rapiName: "networks_name_connect", stamp: network, query: [DRY_RUN], static: networkAndDryRun }),
    }),
    route("/2/networks/[network_name]/disconnect", {
      PUT: opcodeResource(s, OpNetworkDisconnect, { rapiName: "networks_name_disconnect", stamp: network, query: [DRY_RUN], static: networkAndDryRun }),
    }),
    route("/2/networks/[network_name]/modify", {
      // ?dry-run is not read here; a body "dry_run" works.
      PUT: opcodeResource(s, OpNetworkSetParams, { rapiName: "networks_name_modify", stamp: network, static: networkName }),
    }),
    route("/2/networks/[network_name]/rename", {
      PUT: opcodeResource(s, OpNetworkRename, { rapiName: "networks_name_rename", stamp: network, query: [DRY_RUN], static: networkAndDryRun }),
    }),
  ];
}

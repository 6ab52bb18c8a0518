// /2/groups resources (RESOURCES.md §2.4): the group views, and node group jobs.

import { OpGroupAdd, OpGroupAssignNodes, OpGroupRemove, OpGroupRename, OpGroupSetParams } from "../../model/opcodes/group.ts";
import { route, type RequestContext, type Route } from "../http/routes.ts";
import { DRY_RUN, FORCE } from "../http/query.ts";
import { collectionGet, objectGet } from "./listing.ts";
import { opcodeResource } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
import { objectStamp } from "./stamps.ts";

const dryRun = (ctx: RequestContext) => ({ dry_run: ctx.query.bool("dry-run") });
const groupName = (ctx: RequestContext) => ({ group_name: ctx.params.group_name });

export function groupRoutes(s: RapiServices): Route[] {
  const group = objectStamp(s, "group", "group_name");
  return [
    route("/2/groups", {
      GET: collectionGet(s, "group", "name", "/2/groups"),
      POST: opcodeResource(s, OpGroupAdd, { rapiName: "groups", renames: { name: "group_name" }, query: [DRY_RUN], static: dryRun }),
    }),
    route("/2/groups/[group_name]", {
      GET: { ...objectGet(s, "group", "group_name"), stamp: group },
      DELETE: opcodeResource(s, OpGroupRemove, {
        rapiName: "groups_name",
        stamp: group,
        query: [DRY_RUN],
        ignoreBody: true,
        static: (ctx) => ({ ...groupName(ctx), ...dryRun(ctx) }),
      }),
    }),
    route("/2/groups/[group_name]/modify", {
      // The renames let a client send back the custom_* values a group GET shows.
      PUT: opcodeResource(s, OpGroupSetParams, {
        rapiName: "groups_name_modify",
        stamp: group,
        renames: { custom_ndparams: "ndparams", custom_ipolicy: "ipolicy", custom_diskparams: "diskparams" },
        static: groupName,
      }),
    }),
    route("/2/groups/[group_name]/rename", {
      PUT: opcodeResource(s, OpGroupRename, {
        rapiName: "groups_name_rename",
        stamp: group,
        query: [DRY_RUN],
        static: (ctx) => ({ ...groupName(ctx), ...dryRun(ctx) }),
      }),
    }),
    route("/2/groups/[group_name]/assign-nodes", {
      PUT: opcodeResource(s, OpGroupAssignNodes, {
        rapiName: "groups_name_assign_nodes",
        stamp: group,
        query: [DRY_RUN, FORCE],
        static: (ctx) => ({ ...groupName(ctx), ...dryRun(ctx), force: ctx.query.bool("force") }),
      }),
    }),
  ];
}

// /2/nodes resources (RESOURCES.md §2.8): node listings from the query layer's node fields
// and the live cache; role, modify, powercycle, evacuate, migrate and storage as jobs.
// (Node tags live with the other tag resources in tags.ts.)

import { OpNodeEvacuate, OpNodeMigrate, OpNodeModifyStorage, OpNodePowercycle, OpNodeQueryStorage, OpNodeSetParams, OpRepairNodeStorage } from "../../model/opcodes/node.ts";
import { pyTypeName } from "../../model/pyrepr.ts";
import { nodeRole, ROLE_NAMES } from "../../query/node.ts";
import { bulkJson, findOne, oneDict } from "../../query/rapi.ts";
import { badRequest, notFound } from "../http/errors.ts";
import { JOB_ID } from "../http/apidoc.ts";
import { BULK, DRY_RUN, FORCE, queryParam, REASON } from "../http/query.ts";
import { RawJson, route, type RequestContext, type Route } from "../http/routes.ts";
import { fillOpcode, opcodeResource, reasonTrail, staticNames, submitJob } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
import { objectStamp } from "./stamps.ts";
import { isDict } from "../../model/dict.ts";

const nodeName = (ctx: RequestContext) => ({ node_name: ctx.params.node_name });

/** PUT /2/nodes/X/role: the opcode flags for each role name a client may set. */
const ROLE_FLAGS: Record<string, { master_candidate: boolean | null; offline: boolean | null; drained: boolean | null }> = {
  regular: { master_candidate: false, offline: false, drained: false },
  "master-candidate": { master_candidate: true, offline: null, drained: null },
  drained: { master_candidate: null, offline: null, drained: true },
  offline: { master_candidate: null, offline: true, drained: null },
};

/** A query parameter that must be there (the storage resources' `name` and `output_fields`). */
function required(ctx: RequestContext, name: string): string {
  const value = ctx.query.string(name);
  if (!value) throw badRequest(`Missing the required '${name}' parameter`);
  return value;
}

const STORAGE_TYPE = queryParam.string("storage_type", "Storage type (lvm-vg, file, …)");
const STORAGE_NAME = queryParam.string("name", "Name of the storage unit (required)");

/** The storage unit the modify and repair resources name in their query. */
function storageUnit(ctx: RequestContext) {
  const name = required(ctx, "name");
  return { ...nodeName(ctx), storage_type: ctx.query.string("storage_type") ?? null, name };
}


export function nodeRoutes(s: RapiServices): Route[] {
  const node = objectStamp(s, "node", "node_name");
  /** The node a GET names, or 404. Ganeti answers 500 for an unknown node's role; 404 says it better. */
  const lookup = (ctx: RequestContext) => {
    const snap = s.store.snapshot();
    const node = findOne("node", snap, ctx.params.node_name);
    if (!node) throw notFound();
    return { snap, node };
  };

  return [
    route("/2/nodes", {
      GET: {
        query: [BULK],
        doc: { response: { kind: "collection", object: "node", idKey: "id" } },
        handle: (ctx) => {
          const snap = s.store.snapshot();
          if (ctx.query.bool("bulk")) return new RawJson(bulkJson("node", snap, s.live) + "\n");
          const names = [...snap.nodes.values()].map((n) => n.name).sort();
          return names.map((name) => ({ id: name, uri: `/2/nodes/${name}` }));
        },
      },
    }),
    route("/2/nodes/[node_name]", {
      // `?lock=1` makes Ganeti fail ("Sync queries are not allowed"); Corral reads one
      // consistent snapshot either way and ignores it.
      GET: {
        stamp: node,
        doc: { response: { kind: "object", object: "node" } },
        handle: (ctx) => {
          const found = lookup(ctx);
          return oneDict("node", found.snap, s.live, found.node);
        },
      },
    }),
    route("/2/nodes/[node_name]/role", {
      GET: {
        doc: { response: { kind: "schema", schema: { enum: ["master", "master-candidate", "regular", "drained", "offline"] } } },
        handle: (ctx) => {
          const { snap, node } = lookup(ctx);
          return ROLE_NAMES[nodeRole(node, snap.cluster.master_node)];
        },
      },
      PUT: {
        stamp: node,
        query: [FORCE, queryParam.bool("auto-promote", "Promote other nodes to master candidates as needed"), REASON],
        doc: { requestBody: { enum: ["regular", "master-candidate", "drained", "offline"] }, response: JOB_ID },
        handle: async (ctx) => {
          if (typeof ctx.body !== "string") {
            throw badRequest(`Body contents: Type is '${pyTypeName(ctx.body)}', but 'str' is expected`);
          }
          const flags = Object.hasOwn(ROLE_FLAGS, ctx.body) ? ROLE_FLAGS[ctx.body] : undefined;
          if (!flags) throw badRequest(`Can't set '${ctx.body}' role`);
          return submitJob(s, [fillOpcode(OpNodeSetParams, {}, {
            ...nodeName(ctx),
            ...flags,
            force: ctx.query.bool("force"),
            auto_promote: ctx.query.bool("auto-promote"),
            reason: reasonTrail(ctx, "nodes_name_role"),
          })], ctx);
        },
      },
    }),
    route("/2/nodes/[node_name]/modify", {
      POST: opcodeResource(s, OpNodeSetParams, { rapiName: "nodes_name_modify", stamp: node, static: nodeName }),
    }),
    route("/2/nodes/[node_name]/powercycle", {
      POST: opcodeResource(s, OpNodePowercycle, {
        rapiName: "nodes_name_powercycle",
        stamp: node,
        query: [FORCE],
        static: (ctx) => ({ ...nodeName(ctx), force: ctx.query.bool("force") }),
      }),
    }),
    route("/2/nodes/[node_name]/evacuate", {
      POST: opcodeResource(s, OpNodeEvacuate, {
        rapiName: "nodes_name_evacuate",
        stamp: node,
        query: [DRY_RUN],
        static: (ctx) => ({ ...nodeName(ctx), dry_run: ctx.query.bool("dry-run") }),
      }),
    }),
    route("/2/nodes/[node_name]/migrate", {
      POST: {
        stamp: node,
        query: [
          queryParam.bool("live", "Live migration (the legacy query form)"),
          queryParam.string("mode", "Migration mode (the legacy query form)"),
          REASON,
        ],
        doc: { opcode: { def: OpNodeMigrate, fixed: staticNames(nodeName) }, response: JOB_ID },
        handle: async (ctx) => {
          // Before the node-migrate-reqv1 feature the parameters came in the query; any query
          // parameter at all (even dry-run or reason) still selects that form, and the body
          // is then ignored, as in Ganeti.
          let body: unknown = ctx.body;
          if (ctx.query.size > 0) {
            if (ctx.query.has("live") && ctx.query.has("mode")) throw badRequest("Only one of 'live' and 'mode' should be passed");
            const mode = ctx.query.has("live") ? (ctx.query.int("live", 1) ? "live" : "non-live") : (ctx.query.string("mode") ?? null);
            body = { mode, ...(isDict(ctx.body) && ctx.body.depends ? { depends: ctx.body.depends } : {}) };
          }
          return submitJob(s, [fillOpcode(OpNodeMigrate, body, { ...nodeName(ctx), reason: reasonTrail(ctx, "nodes_name_migrate") })], ctx);
        },
      },
    }),
    route("/2/nodes/[node_name]/storage", {
      // A GET that submits a job whose LU takes node locks: write access, as in Ganeti.
      GET: opcodeResource(s, OpNodeQueryStorage, {
        rapiName: "nodes_name_storage",
        access: ["write"],
        query: [STORAGE_TYPE, queryParam.string("output_fields", "Comma-separated fields (required)")],
        ignoreBody: true,
        static: (ctx) => ({
          nodes: [ctx.params.node_name],
          storage_type: ctx.query.string("storage_type") ?? null,
          output_fields: required(ctx, "output_fields").split(","),
        }),
      }),
    }),
    route("/2/nodes/[node_name]/storage/modify", {
      PUT: opcodeResource(s, OpNodeModifyStorage, {
        rapiName: "nodes_name_storage_modify",
        stamp: node,
        query: [STORAGE_TYPE, STORAGE_NAME, queryParam.bool("allocatable", "Whether the unit may take new disks")],
        ignoreBody: true,
        static: (ctx) => {
          const changes: Record<string, unknown> = {};
          if (ctx.query.has("allocatable")) changes.allocatable = ctx.query.bool("allocatable", true);
          return { ...storageUnit(ctx), changes };
        },
      }),
    }),
    route("/2/nodes/[node_name]/storage/repair", {
      PUT: opcodeResource(s, OpRepairNodeStorage, { rapiName: "nodes_name_storage_repair", stamp: node, query: [STORAGE_TYPE, STORAGE_NAME], ignoreBody: true, static: storageUnit }),
    }),
  ];
}

// /2/nodes resources (RESOURCES.md §2.8): node listings from the query layer's node fields
// and the live cache; role, modify, powercycle, evacuate, migrate and storage as jobs.
// (Node tags live with the other tag resources in tags.ts.)

import { OpNodeEvacuate, OpNodeMigrate, OpNodeModifyStorage, OpNodePowercycle, OpNodeQueryStorage, OpNodeSetParams, OpRepairNodeStorage } from "../../model/opcodes/node.ts";
import type { Opcode } from "../../model/opcode.ts";
import { pyTypeName } from "../../model/pyrepr.ts";
import { nodeRole, ROLE_NAMES } from "../../query/node.ts";
import { bulkJson, findOne, oneDict } from "../../query/rapi.ts";
import { badRequest, notFound } from "../http/errors.ts";
import { RawJson, route, type RequestContext, type Route } from "../http/routes.ts";
import { fillOpcode, opcodeResource, reasonTrail } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
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

/** The storage unit the modify and repair resources name in their query. */
function storageUnit(ctx: RequestContext) {
  const name = required(ctx, "name");
  return { ...nodeName(ctx), storage_type: ctx.query.string("storage_type") ?? null, name };
}


export function nodeRoutes(s: RapiServices): Route[] {
  const submit = async (op: Opcode): Promise<number> => (await s.queue.submitJobs([[op]]))[0];
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
        handle: (ctx) => {
          const { snap, node } = lookup(ctx);
          return oneDict("node", snap, s.live, node);
        },
      },
    }),
    route("/2/nodes/[node_name]/role", {
      GET: {
        handle: (ctx) => {
          const { snap, node } = lookup(ctx);
          return ROLE_NAMES[nodeRole(node, snap.cluster.master_node)];
        },
      },
      PUT: {
        handle: async (ctx) => {
          if (typeof ctx.body !== "string") {
            throw badRequest(`Body contents: Type is '${pyTypeName(ctx.body)}', but 'str' is expected`);
          }
          const flags = Object.hasOwn(ROLE_FLAGS, ctx.body) ? ROLE_FLAGS[ctx.body] : undefined;
          if (!flags) throw badRequest(`Can't set '${ctx.body}' role`);
          return submit(fillOpcode(OpNodeSetParams, {}, {
            ...nodeName(ctx),
            ...flags,
            force: ctx.query.bool("force"),
            auto_promote: ctx.query.bool("auto-promote"),
            reason: reasonTrail(ctx, "nodes_name_role"),
          }));
        },
      },
    }),
    route("/2/nodes/[node_name]/modify", {
      POST: opcodeResource(s, OpNodeSetParams, { rapiName: "nodes_name_modify", static: nodeName }),
    }),
    route("/2/nodes/[node_name]/powercycle", {
      POST: opcodeResource(s, OpNodePowercycle, {
        rapiName: "nodes_name_powercycle",
        static: (ctx) => ({ ...nodeName(ctx), force: ctx.query.bool("force") }),
      }),
    }),
    route("/2/nodes/[node_name]/evacuate", {
      POST: opcodeResource(s, OpNodeEvacuate, {
        rapiName: "nodes_name_evacuate",
        static: (ctx) => ({ ...nodeName(ctx), dry_run: ctx.query.bool("dry-run") }),
      }),
    }),
    route("/2/nodes/[node_name]/migrate", {
      POST: {
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
          return submit(fillOpcode(OpNodeMigrate, body, { ...nodeName(ctx), reason: reasonTrail(ctx, "nodes_name_migrate") }));
        },
      },
    }),
    route("/2/nodes/[node_name]/storage", {
      // A GET that submits a job whose LU takes node locks: write access, as in Ganeti.
      GET: opcodeResource(s, OpNodeQueryStorage, {
        rapiName: "nodes_name_storage",
        access: ["write"],
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
        ignoreBody: true,
        static: (ctx) => {
          const changes: Record<string, unknown> = {};
          if (ctx.query.has("allocatable")) changes.allocatable = ctx.query.bool("allocatable", true);
          return { ...storageUnit(ctx), changes };
        },
      }),
    }),
    route("/2/nodes/[node_name]/storage/repair", {
      PUT: opcodeResource(s, OpRepairNodeStorage, { rapiName: "nodes_name_storage_repair", ignoreBody: true, static: storageUnit }),
    }),
  ];
}

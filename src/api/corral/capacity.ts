// Capacity and verification over the API (issue 16). GET /corral/1/capacity answers what
// `hspace -m` computes for the cluster as it is now: how many more instances of one spec fit
// (the policy's standard spec unless the query gives one), what refused the next one, and the
// resources left — for the whole cluster and for each node group on its own. GET
// /corral/1/verify answers hcheck's checks per group (N+1 failures, nodes that could not be
// lost, instances on offline nodes, conflicting exclusion tags) with nodes and instances over
// their policy and the balancer's score. Both read the same RAPI dicts htools read, and run on
// the balancer's worker thread (balance/offloop.ts), not the master's event loop.

import type { InstanceSpec } from "../../balance/capacity.ts";
import type { ComputationRunner } from "../../balance/offloop.ts";
import { DISK_TEMPLATES } from "../../model/constants.ts";
import { badRequest } from "../http/errors.ts";
import { queryParam, type QueryArgs, type QueryParam } from "../http/query.ts";
import { route, type Route } from "../http/routes.ts";
import { WHOLE_CLUSTER } from "../http/scope.ts";
import type { RapiServices } from "../rapi/services.ts";
import { computed } from "./computations.ts";

const GROUP = queryParam.string("group", "Only this node group in the per-group results (the cluster total is always there)");

const CAPACITY_QUERY: readonly QueryParam[] = [
  GROUP,
  queryParam.int("memory", "Instance memory, MiB (default: the cluster policy's standard spec)", { minimum: 1 }),
  queryParam.int("disk", "Instance disk size, MiB (default: the standard spec)", { minimum: 0 }),
  queryParam.int("vcpus", "Instance vCPUs (default: the standard spec)", { minimum: 0 }),
  queryParam.int("spindles", "Spindles of the instance's disk, for exclusive storage (default: the standard spec's spindle use)", { minimum: 0 }),
  queryParam.int("spindle_use", "The instance's spindle use (default: the standard spec's)", { minimum: 0 }),
  queryParam.string("disk_template", "Disk template (default: the first one the cluster policy allows)"),
  queryParam.int("limit", "Stop after this many instances (hspace -l)", { minimum: 0 }),
  queryParam.bool("no_capacity_checks", "Skip the global N+1 check of each placement (hspace --no-capacity-checks)"),
];

const SPEC_INTS = [["memory", "memory"], ["disk", "disk"], ["vcpus", "vcpus"], ["spindles", "spindles"], ["spindle_use", "spindle_use"]] as const;

/** The spec parts the query gives; a 400 names the parameter that is wrong. */
function specQuery(q: QueryArgs): Partial<InstanceSpec> {
  const spec: { -readonly [K in keyof InstanceSpec]?: InstanceSpec[K] } = {};
  for (const [param, key] of SPEC_INTS) if (q.has(param)) spec[key] = q.int(param);
  const template = q.string("disk_template");
  if (template !== undefined) spec.disk_template = template;
  return spec;
}

const KNOWN_TEMPLATES: ReadonlySet<string> = new Set(DISK_TEMPLATES);

/** The routes; the computations run on `runner`'s worker thread. */
export function corralCapacityRoutes(s: RapiServices, runner: ComputationRunner): Route[] {
  return [
    route("/corral/1/capacity", {
      GET: {
        access: ["read", "write"],
        scope: WHOLE_CLUSTER,
        query: CAPACITY_QUERY,
        doc: {
          summary: "How many more instances of a spec fit (hspace's fixed-size allocation), per node group and for the cluster",
          response: {
            kind: "schema",
            schema: { type: "object", description: "cluster and groups[]: group, spec, count, stopped_by, failure_reason, failures (per htools failure mode), before/after (instances, memory_free, memory_available, disk_free, vcpus_available, score)" },
          },
        },
        handle: (ctx) => {
          const spec = specQuery(ctx.query);
          if (spec.disk_template !== undefined && !KNOWN_TEMPLATES.has(spec.disk_template)) {
            throw badRequest(`Invalid value for the 'disk_template' parameter: '${spec.disk_template}' (expected one of ${DISK_TEMPLATES.join(", ")})`);
          }
          const limit = ctx.query.has("limit") ? ctx.query.int("limit") : undefined;
          const noCapacityChecks = ctx.query.bool("no_capacity_checks");
          return computed(s, runner, { name: "capacity", group: ctx.query.string("group"), spec, limit, noCapacityChecks }, ctx.signal);
        },
      },
    }),
    route("/corral/1/verify", {
      GET: {
        access: ["read", "write"],
        scope: WHOLE_CLUSTER,
        query: [GROUP],
        doc: {
          summary: "The cluster's health as hcheck reports it (N+1 failures, unevacuable nodes, offline nodes), policy violations and scores, per node group",
          response: {
            kind: "schema",
            schema: { type: "object", description: "groups[]: group, score, n1_failures, conflicting_tags, offline_primaries, offline_nodes, evacuation_failures, n1_failed_nodes, unevacuable_nodes, nodes_over_policy, instances_violating_policy, balance; cluster: the counts summed, needs_rebalance" },
          },
        },
        handle: (ctx) => computed(s, runner, { name: "verify", group: ctx.query.string("group") }, ctx.signal),
      },
    }),
  ];
}

// Cluster balancing over the API (issue 16): GET /corral/1/balance answers hbal's plan for a
// node group — the score, the moves in order, the jobsets that may run in parallel — and POST
// submits it: one job per move (its migrations, failovers and secondary changes in order;
// with storage-moves, live migrations that take file disks along),
// each job of a jobset depending on every job of the jobset before. The model is built from
// the same RAPI dicts hbal reads, so the scores are the ones hbal computes for this cluster;
// each job's logical units check their prerequisites again when they run.

import type { ComputationRunner } from "../../balance/offloop.ts";
import type { MoveStep, Plan, PlanOptions } from "../../balance/plan.ts";
import { buildOpcode, type JOB_DEP_STATUSES, type Opcode } from "../../model/opcode.ts";
import { OpInstanceFailover, OpInstanceMigrate, OpInstanceReplaceDisks } from "../../model/opcodes/instance.ts";
import { badRequest } from "../http/errors.ts";
import { DRY_RUN, queryParam, REASON, type QueryArgs, type QueryParam } from "../http/query.ts";
import { route, type Route } from "../http/routes.ts";
import { WHOLE_CLUSTER } from "../http/scope.ts";
import { reasonTrail } from "../rapi/opcodeResource.ts";
import type { RapiServices } from "../rapi/services.ts";
import { computed } from "./computations.ts";

const MOVE_KINDS = ["migrate", "failover", "replace-secondary"] as const;

const PLAN_QUERY: readonly QueryParam[] = [
  queryParam.string("group", "Node group to balance (needed when the cluster has several)"),
  queryParam.int("max-moves", "At most this many moves (default: no limit)", { minimum: 0 }),
  queryParam.list("moves", `Move kinds allowed, comma-separated or repeated: ${MOVE_KINDS.join(", ")} (default: all)`),
  queryParam.list("instance", "Only these instances move (repeatable)"),
  queryParam.list("exclude", "These instances never move (repeatable)"),
  queryParam.list("pin-tag", "Instances with this tag never move (repeatable)"),
  queryParam.list("exclusion-tag", "Instance tag prefix whose instances are kept on different nodes (hbal --exclusion-tags)"),
  queryParam.number("min-gain", "Smallest score gain of a move once the score is under min-gain-limit (default 0.01)", { minimum: 0 }),
  queryParam.number("min-gain-limit", "Score under which min-gain applies (default 0.1)", { minimum: 0 }),
  queryParam.bool("restricted-migration", "No replace-primary moves of DRBD instances (hbal --restricted-migration)"),
  queryParam.bool("storage-moves", "Running kvm instances on file disks may migrate with their disks (migrate_storage; not hbal's rule, needs migrate among the moves)"),
];

/** Plan options from the query string; a 400 names the parameter that is wrong. */
export function planOptions(q: QueryArgs): PlanOptions {
  const kinds = q.list("moves").flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
  for (const k of kinds) {
    if (!(MOVE_KINDS as readonly string[]).includes(k)) throw badRequest(`Invalid value for the 'moves' parameter: '${k}' (expected ${MOVE_KINDS.join(", ")})`);
  }
  const allowed = (k: (typeof MOVE_KINDS)[number]) => kinds.length === 0 || kinds.includes(k);
  return {
    group: q.string("group"),
    maxMoves: q.has("max-moves") ? q.int("max-moves") : -1,
    instanceMoves: allowed("migrate") || allowed("failover"),
    diskMoves: allowed("replace-secondary"),
    // A running instance migrates unless only failovers are allowed; a stopped one fails over.
    failoverRunning: !allowed("migrate"),
    restrictedMigration: q.bool("restricted-migration"),
    storageMoves: q.bool("storage-moves"),
    minGain: q.number("min-gain"),
    minGainLimit: q.number("min-gain-limit"),
    instances: q.list("instance"),
    excludeInstances: q.list("exclude"),
    pinTags: q.list("pin-tag"),
    exclusionTags: q.list("exclusion-tag"),
  };
}

/** The plan for the cluster as it is now, computed on the worker thread (off the event loop). */
export function currentPlan(s: RapiServices, runner: ComputationRunner, opts: PlanOptions, signal: AbortSignal): Promise<Plan> {
  return computed(s, runner, { name: "plan", options: opts }, signal);
}

/** The opcodes of one move's steps, in order, each with the reason trail given. */
function moveOpcodes(instance: string, steps: readonly MoveStep[], reason: readonly unknown[]): Opcode[] {
  return steps.map((step) => {
    if (step.op === "replace-secondary") {
      return buildOpcode(OpInstanceReplaceDisks, { instance_name: instance, mode: "replace_new_secondary", remote_node: step.target, reason });
    }
    const target = step.target === null ? {} : { target_node: step.target };
    const storage = step.migrate_storage === true ? { migrate_storage: true } : {};
    if (step.op === "migrate") return buildOpcode(OpInstanceMigrate, { instance_name: instance, ...target, ...storage, reason });
    return buildOpcode(OpInstanceFailover, { instance_name: instance, ...target, reason });
  });
}

/**
 * The jobs of a plan in submission order (jobset by jobset) with the move each carries out;
 * a job of a later jobset depends on every job of the jobset before (relative ids).
 */
export function planJobs(plan: Plan, reason: readonly unknown[]): { move: number; ops: Opcode[] }[] {
  const jobs: { move: number; ops: Opcode[] }[] = [];
  let previous: number[] = [];
  for (const set of plan.jobsets) {
    const current: number[] = [];
    for (const m of set) {
      const index = jobs.length;
      const depends = previous.map((p): readonly [number, (typeof JOB_DEP_STATUSES)[number][]] => [p - index, ["success"]]);
      const ops = moveOpcodes(plan.moves[m].instance, plan.moves[m].steps, reason);
      if (depends.length > 0) ops[0] = { ...ops[0], depends };
      jobs.push({ move: m, ops });
      current.push(index);
    }
    previous = current;
  }
  return jobs;
}

const PLAN_SCHEMA = {
  type: "object",
  description: "hbal's plan: initial_score, optimal_score, moves (instance, kind, from, to, score, steps), final_score, jobsets (lists of move indexes)",
};

export function corralBalanceRoutes(s: RapiServices, runner: ComputationRunner): Route[] {
  return [
    route("/corral/1/balance", {
      GET: {
        access: ["read", "write"],
        scope: WHOLE_CLUSTER,
        query: PLAN_QUERY,
        doc: { summary: "The balancing plan of a node group (hbal's moves and score)", response: { kind: "schema", schema: PLAN_SCHEMA } },
        handle: (ctx) => currentPlan(s, runner, planOptions(ctx.query), ctx.signal),
      },
      POST: {
        access: ["write"],
        scope: WHOLE_CLUSTER,
        body: "none",
        query: [...PLAN_QUERY, DRY_RUN, REASON],
        doc: {
          summary: "Submits the balancing plan as jobs (jobset after jobset); dry-run answers the jobs without submitting",
          response: { kind: "schema", schema: { ...PLAN_SCHEMA, description: `${PLAN_SCHEMA.description}; job_ids: one per move (null in a dry run), jobs: the opcodes of each` } },
        },
        handle: async (ctx) => {
          const opts = planOptions(ctx.query);
          const plan = await currentPlan(s, runner, opts, ctx.signal);
          const jobs = planJobs(plan, reasonTrail(ctx, "corral_balance"));
          const jobIds: (number | null)[] = plan.moves.map(() => null);
          if (!ctx.query.bool("dry-run") && jobs.length > 0) {
            const ids = await s.queue.submitJobs(jobs.map((j) => j.ops));
            jobs.forEach((j, k) => (jobIds[j.move] = ids[k]));
          }
          return { ...plan, job_ids: jobIds, jobs: jobs.map((j) => ({ move: j.move, ops: j.ops })) };
        },
      },
    }),
  ];
}

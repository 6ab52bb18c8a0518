// Logical units that hand their work to further jobs (node evacuation and migration), as
// Ganeti's ResultWithJobs: each new opcode gets the parent's priority, a comment naming the
// parent opcode unless it has one, and the parent's reason trail after its own; the LU's
// result lists the new jobs as `{"jobs": [[true, id], ...]}`.

import { buildOpcode, type Opcode, type OpcodeDef } from "../model/opcode.ts";
import type { ParamSpec, ParamValues } from "../model/params.ts";
import type { LuContext } from "./lu.ts";

export interface JobListResult {
  jobs: [boolean, number | string][];
}

/** A validated opcode for a child job (the input is the LU's own, so it is well-formed). */
export function childOpcode<S extends ParamSpec>(def: OpcodeDef<S>, params: Partial<ParamValues<S>>): Opcode {
  return buildOpcode(def, params as Record<string, unknown>);
}

export async function submitChildJobs(ctx: LuContext<ParamSpec>, jobs: Opcode[][]): Promise<JobListResult> {
  if (jobs.length === 0) return { jobs: [] };
  const parent = ctx.op;
  const prepared = jobs.map((ops) =>
    ops.map((op) => ({
      ...op,
      priority: parent.priority,
      comment: op.comment || `Submitted by ${parent.OP_ID}`,
      reason: [...(op.reason ?? []), ...(parent.reason ?? [])],
    })),
  );
  const ids = await ctx.master.submitJobs(prepared);
  return { jobs: ids.map((id) => [true, id]) };
}

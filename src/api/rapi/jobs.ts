// /2/jobs resources: list, get, cancel, wait for change.

import { J_FIELDS, J_FIELDS_BULK, jobFields } from "../../query/job.ts";
import { toDict } from "../../query/fields.ts";
import { waitForJobChange } from "../../jobs/wait.ts";
import { DEFAULT_BODY } from "../http/body.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import { BULK } from "../http/query.ts";
import { route, type Route } from "../http/routes.ts";
import type { RapiServices } from "./services.ts";

const WAIT_TIMEOUT_MS = 10_000;
const bulkGetters = jobFields.getters(J_FIELDS_BULK);
const fullGetters = jobFields.getters(J_FIELDS);
const NULL_JOB = Object.fromEntries(J_FIELDS.map((f) => [f, null]));

export function jobRoutes(s: RapiServices): Route[] {
  return [
    route("/2/jobs", {
      GET: {
        query: [BULK],
        doc: { response: { kind: "collection", object: "job", idKey: "id" } },
        handle: (ctx) => {
          const jobs = [...s.queue.all()].sort((a, b) => a.id - b.id);
          if (ctx.query.bool("bulk")) return jobs.map((j) => toDict(J_FIELDS_BULK, bulkGetters, j));
          return jobs.map((j) => ({ id: j.id, uri: `/2/jobs/${j.id}` }));
        },
      },
    }),
    route("/2/jobs/[job_id]", {
      GET: {
        doc: { response: { kind: "object", object: "job" } },
        handle: (ctx) => {
          const id = Number(ctx.params.job_id);
          const job = s.queue.get(id);
          // Ganeti answers an unknown job with every field null (and the id echoed).
          return job ? toDict(J_FIELDS, fullGetters, job) : { ...NULL_JOB, id };
        },
      },
      DELETE: { handle: (ctx) => s.queue.cancel(Number(ctx.params.job_id)) },
    }),
    route("/2/jobs/[job_id]/wait", {
      GET: {
        access: ["write"],
        body: DEFAULT_BODY,
        handle: async (ctx) => {
          const body = ctx.body;
          if (typeof body !== "object" || body === null || Array.isArray(body)) {
            throw badRequest("Body contents: the wait request needs a dict with 'fields'");
          }
          const { fields, previous_job_info: prevInfo = null, previous_log_serial: prevSerial = null } =
            body as Record<string, unknown>;
          if (fields === undefined) throw badRequest("Required parameter 'fields' is missing");
          if (!Array.isArray(fields) || !fields.every((f) => typeof f === "string")) {
            throw badRequest("The 'fields' parameter should be a list");
          }
          if (prevInfo !== null && !Array.isArray(prevInfo)) {
            throw badRequest("The 'previous_job_info' parameter should be a list");
          }
          if (prevSerial !== null && !Number.isInteger(prevSerial)) {
            throw badRequest("The 'previous_log_serial' parameter should be a number");
          }
          const id = Number(ctx.params.job_id);
          const change = await waitForJobChange(s.queue, id, fields, prevInfo, prevSerial as number | null, WAIT_TIMEOUT_MS, ctx);
          if (!change) throw new HttpError(404, `Job ${id} not found`);
          return change;
        },
      },
    }),
  ];
}

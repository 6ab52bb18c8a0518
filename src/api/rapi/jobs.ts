// /2/jobs resources: list, get, cancel, wait for change.

import { J_FIELDS, J_FIELDS_BULK, jobFields } from "../../query/job.ts";
import { toDict } from "../../query/fields.ts";
import { waitForJobChange } from "../../jobs/wait.ts";
import { DEFAULT_BODY } from "../http/body.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import { BULK } from "../http/query.ts";
import { route, type Route } from "../http/routes.ts";
import type { JsonSchema } from "../../model/params.ts";
import type { RapiServices } from "./services.ts";

const WAIT_TIMEOUT_MS = 10_000;
const bulkGetters = jobFields.getters(J_FIELDS_BULK);
const fullGetters = jobFields.getters(J_FIELDS);
const NULL_JOB = Object.fromEntries(J_FIELDS.map((f) => [f, null]));

/** LUXI CancelJob's answer: whether the job is (being) canceled, and why or why not. */
const CANCEL_ANSWER: JsonSchema = {
  type: "array",
  prefixItems: [{ type: "boolean", description: "Whether the job is canceled or will be" }, { type: "string", description: "What happened" }],
  items: false,
  minItems: 2,
};

/** The wait's body: the job fields to watch, and what the client saw last. */
const WAIT_REQUEST: JsonSchema = {
  type: "object",
  required: ["fields"],
  properties: {
    fields: { type: "array", items: { type: "string" }, description: "Job fields (as GET /2/jobs/N has them) to answer, and to watch for a change" },
    previous_job_info: { type: ["array", "null"], description: "Their values in the previous answer" },
    previous_log_serial: { type: ["integer", "null"], description: "The serial of the last log entry the client has" },
  },
};

/** A job log entry: [serial, [seconds, microseconds], type, message]. */
const LOG_ENTRY: JsonSchema = {
  type: "array",
  prefixItems: [{ type: "integer" }, { type: "array", items: { type: "number" }, minItems: 2, maxItems: 2 }, { type: "string" }, {}],
  items: false,
  minItems: 4,
};

/** The change, as soon as there is one (or the job ends); Ganeti's null: none within its timeout. */
const WAIT_ANSWER: JsonSchema = {
  anyOf: [
    {
      type: "object",
      required: ["job_info", "log_entries"],
      properties: {
        job_info: { type: "array", description: "The values of the fields asked for, in their order" },
        log_entries: { type: "array", items: LOG_ENTRY, description: "Log entries after previous_log_serial" },
      },
    },
    { type: "null", description: "Ganeti: nothing changed within its wait (Corral answers the current values instead)" },
  ],
};

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
      DELETE: { doc: { response: { kind: "schema", schema: CANCEL_ANSWER } }, handle: (ctx) => s.queue.cancel(Number(ctx.params.job_id)) },
    }),
    route("/2/jobs/[job_id]/wait", {
      GET: {
        access: ["write"],
        body: DEFAULT_BODY,
        doc: { requestBody: WAIT_REQUEST, response: { kind: "schema", schema: WAIT_ANSWER } },
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

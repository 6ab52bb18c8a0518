// Job fields (Ganeti's Query/Job.hs): J_FIELDS for single GETs, J_FIELDS_BULK for lists.

import { calcJobStatus, FINALIZED, type Job } from "../model/job.ts";
import { serializeOpcode, summarizeOpcode } from "../model/opcode.ts";
import { opcodeDef } from "../model/opcodes/index.ts";
import { field, FieldTable, fromSource, UNAVAIL, type FieldDef, type FieldGetter, type FieldKind, type FilterMode } from "./fields.ts";

/** Default opcode priority (OP_PRIO_DEFAULT), what a job with no pending opcode reports. */
const OP_PRIO_DEFAULT = 0;

const missing = new WeakSet<Job>();

/**
 * A row for a job id that was asked for but does not exist: Ganeti still lists it, with its
 * id and every other field unavailable.
 */
export function missingJob(id: number): Job {
  const job: Job = { id, ops: [], received_ts: null, start_ts: null, end_ts: null, log_serial: 0, archived: false };
  missing.add(job);
  return job;
}

function jobField(name: string, title: string, kind: FieldKind, doc: string, get: FieldGetter<Job>, mode?: FilterMode): FieldDef<Job> {
  return field(name, title, kind, doc, (j) => (missing.has(j) ? UNAVAIL : get(j)), mode);
}

/** Ganeti's calcJobPriority: the most urgent priority among unfinished opcodes. */
export function jobPriority(job: Job): number {
  let prio: number | undefined;
  for (const op of job.ops) {
    if (!FINALIZED.has(op.status) && (prio === undefined || op.priority < prio)) prio = op.priority;
  }
  return prio ?? OP_PRIO_DEFAULT;
}

const orUnavail = (v: unknown): unknown => v ?? UNAVAIL;
const TS = " (tuple containing seconds and microseconds)";

export const jobFields = new FieldTable<Job>(fromSource("job", [
  field("id", "ID", "number", "Job ID", (j) => j.id),
  jobField("status", "Status", "text", "Job status", (j) => calcJobStatus(j)),
  jobField("priority", "Priority", "number", "Current job priority (19 to -20)", jobPriority),
  jobField("archived", "Archived", "bool", "Whether job is archived", (j) => j.archived),
  jobField("ops", "OpCodes", "other", "List of all opcodes", (j) => j.ops.map((o) => serializeOpcode(o.input))),
  jobField("opresult", "OpCode_result", "other", "List of opcodes results", (j) => j.ops.map((o) => o.result)),
  jobField("opstatus", "OpCode_status", "other", "List of opcodes status", (j) => j.ops.map((o) => o.status)),
  jobField("oplog", "OpCode_log", "other", "List of opcode output logs", (j) => j.ops.map((o) => o.log)),
  jobField("opstart", "OpCode_start", "other", "List of opcode start timestamps (before acquiring locks)",
    (j) => j.ops.map((o) => o.start_timestamp ?? null)),
  jobField("opexec", "OpCode_exec", "other", "List of opcode execution start timestamps (after acquiring locks)",
    (j) => j.ops.map((o) => o.exec_timestamp ?? null)),
  jobField("opend", "OpCode_end", "other", "List of opcode execution end timestamps",
    (j) => j.ops.map((o) => o.end_timestamp ?? null)),
  jobField("oppriority", "OpCode_prio", "other", "List of opcode priorities", (j) => j.ops.map((o) => o.priority)),
  jobField("summary", "Summary", "other", "List of per-opcode summaries",
    (j) => j.ops.map((o) => summarizeOpcode(opcodeDef(o.input.OP_ID), o.input))),
  jobField("received_ts", "Received", "other", "Timestamp of when job was received" + TS, (j) => orUnavail(j.received_ts), "timestamp"),
  jobField("start_ts", "Start", "other", "Timestamp of job start" + TS, (j) => orUnavail(j.start_ts), "timestamp"),
  jobField("end_ts", "End", "other", "Timestamp of job end" + TS, (j) => orUnavail(j.end_ts), "timestamp"),
]));

export const J_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"] as const;
export const J_FIELDS = [...J_FIELDS_BULK, "oplog", "opresult"] as const;

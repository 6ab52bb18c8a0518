// Job fields (Ganeti's Query/Job.hs): J_FIELDS for single GETs, J_FIELDS_BULK for lists.

import { calcJobStatus, type Job } from "../model/job.ts";
import { serializeOpcode, summarizeOpcode } from "../model/opcode.ts";
import { opcodeDef } from "../model/opcodes/index.ts";
import { field, FieldTable } from "./fields.ts";

const tsOrNull = (v: unknown) => v ?? null;

export const jobFields = new FieldTable<Job>([
  field("id", "ID", "number", "Job ID", (j) => j.id),
  field("status", "Status", "text", "Job status", (j) => calcJobStatus(j)),
  field("priority", "Priority", "number", "Current job priority", (j) =>
    j.ops.find((o) => o.status !== "success")?.priority ?? j.ops[j.ops.length - 1]?.priority ?? 0),
  field("archived", "Archived", "bool", "Whether job is archived", (j) => j.archived),
  field("ops", "OpCodes", "other", "List of all opcodes", (j) => j.ops.map((o) => serializeOpcode(o.input))),
  field("opresult", "OpCode_result", "other", "List of opcode results", (j) => j.ops.map((o) => o.result)),
  field("opstatus", "OpCode_status", "other", "List of opcode status", (j) => j.ops.map((o) => o.status)),
  field("oplog", "OpCode_log", "other", "List of opcode output logs", (j) => j.ops.map((o) => o.log)),
  field("opstart", "OpCode_start", "other", "List of opcode start timestamps (before acquiring locks)", (j) =>
    j.ops.map((o) => tsOrNull(o.start_timestamp))),
  field("opexec", "OpCode_exec", "other", "List of opcode execution start timestamps (after acquiring locks)", (j) =>
    j.ops.map((o) => tsOrNull(o.exec_timestamp))),
  field("opend", "OpCode_end", "other", "List of opcode execution end timestamps", (j) =>
    j.ops.map((o) => tsOrNull(o.end_timestamp))),
  field("oppriority", "OpCode_prio", "other", "List of opcode priorities", (j) => j.ops.map((o) => o.priority)),
  field("summary", "Summary", "other", "List of per-opcode summaries", (j) =>
    j.ops.map((o) => summarizeOpcode(opcodeDef(o.input.OP_ID), o.input))),
  field("received_ts", "Received", "other", "Timestamp of when job was received", (j) => tsOrNull(j.received_ts)),
  field("start_ts", "Start", "other", "Timestamp of job start", (j) => tsOrNull(j.start_ts)),
  field("end_ts", "End", "other", "Timestamp of job end", (j) => tsOrNull(j.end_ts)),
]);

export const J_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"] as const;
export const J_FIELDS = [...J_FIELDS_BULK, "oplog", "opresult"] as const;

// The job state machine, in one place: how a job and its opcodes move from queued to an end
// (Ganeti's statuses: queued → waiting → running → success | error | canceled), and what a
// master restart does to a job it finds half done. The queue and the executor call these; no
// other code sets a status.

import { calcJobStatus, FINALIZED, timestampNow, type Job, type JobPrecondition, type JobStatus, type QueuedOpcode, type Timestamp } from "../model/job.ts";
import type { Opcode } from "../model/opcode.ts";

export const LOST_JOB_MESSAGE = "Job was running when the master stopped; its outcome is unknown";

/** A new job of `ops`, every opcode queued. */
export function newJob(id: number, ops: Opcode[], received: Timestamp, precondition?: JobPrecondition): Job {
  return {
    ...(precondition ? { precondition } : {}),
    id,
    ops: ops.map((input) => ({
      input,
      status: "queued" as JobStatus,
      result: null,
      log: [],
      priority: input.priority ?? 0,
      start_timestamp: null,
      exec_timestamp: null,
      end_timestamp: null,
    })),
    received_ts: received,
    start_ts: null,
    end_ts: null,
    log_serial: 0,
    archived: false,
  };
}

/** The executor took the job. */
export function jobStarted(job: Job): void {
  job.start_ts = timestampNow();
}

/** The executor is done with the job (its last opcode ended, or one failed). */
export function jobEnded(job: Job): void {
  if (!job.end_ts) job.end_ts = timestampNow();
}

/** The opcode waits for its dependencies and locks. */
export function opWaiting(op: QueuedOpcode): void {
  op.start_timestamp = timestampNow();
  op.status = "waiting";
}

/** The opcode holds its locks and runs. */
export function opRunning(op: QueuedOpcode): void {
  op.status = "running";
  op.exec_timestamp = timestampNow();
}

export function opSucceeded(op: QueuedOpcode, result: unknown): void {
  op.result = result ?? null;
  op.status = "success";
  op.end_timestamp = timestampNow();
}

/** Marks every unfinished opcode canceled (result null, as Ganeti shows it). */
export function cancelUnfinished(job: Job): void {
  const now = timestampNow();
  for (const op of job.ops) {
    if (FINALIZED.has(op.status)) continue;
    op.status = "canceled";
    op.end_timestamp = now;
  }
  job.end_ts = now;
}

/** Marks every unfinished opcode failed with `error` (later ones as Ganeti does). */
export function failUnfinished(job: Job, error: [string, unknown[]]): void {
  const now = timestampNow();
  let first = true;
  for (const op of job.ops) {
    if (op.status === "success") continue;
    op.status = "error";
    op.result = first ? error : ["OpExecError", ["Preceding opcode failed"]];
    op.end_timestamp = now;
    first = false;
  }
  job.end_ts = now;
}

/**
 * A job found on disk after a (re)start: one that was running (or had an opcode done) failed,
 * its outcome unknown; one of which nothing ran is queued again (a canceling one is canceled).
 * Says whether it is to run again and whether its state changed.
 */
export function recoverJob(job: Job): { run: boolean; changed: boolean } {
  const status = calcJobStatus(job);
  if (FINALIZED.has(status)) return { run: false, changed: false };
  if (status === "running" || job.ops.some((o) => o.status === "running" || o.status === "success")) {
    failUnfinished(job, ["OpExecError", [LOST_JOB_MESSAGE]]);
    return { run: false, changed: true };
  }
  for (const op of job.ops) op.status = op.status === "canceling" ? "canceled" : "queued";
  if (calcJobStatus(job) === "canceled") {
    job.end_ts = timestampNow();
    return { run: false, changed: true };
  }
  return { run: true, changed: false };
}

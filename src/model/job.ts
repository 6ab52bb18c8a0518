// Jobs as Ganeti defines them: a list of opcodes, each with its own status, result and log;
// the job's status is derived from its opcodes' (Ganeti's calcJobStatus).

import type { Opcode } from "./opcode.ts";

export const JOB_STATUSES = ["queued", "waiting", "canceling", "running", "canceled", "success", "error"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINALIZED: ReadonlySet<JobStatus> = new Set(["canceled", "success", "error"]);
export const PENDING: ReadonlySet<JobStatus> = new Set(["queued", "waiting", "canceling"]);

/** `[seconds, microseconds]`, Ganeti's timestamp pair. */
export type Timestamp = [number, number];
export type LogType = "message" | "message-list" | "remote-import" | "jqueue-test" | "delay-test";
export type LogEntry = [serial: number, ts: Timestamp, type: LogType, message: unknown];

export interface QueuedOpcode {
  input: Opcode;
  status: JobStatus;
  result: unknown;
  log: LogEntry[];
  priority: number;
  start_timestamp: Timestamp | null;
  exec_timestamp: Timestamp | null;
  end_timestamp: Timestamp | null;
}

/**
 * What a job expects to find unchanged when it starts (a write sent with If-Match): the
 * object's serial_no as the client last saw it. Kept with the job, never in its opcodes, so
 * Ganeti clients reading the job see nothing new.
 */
export interface JobPrecondition {
  readonly kind: "cluster" | "node" | "nodegroup" | "instance" | "network";
  readonly uuid: string;
  readonly serial_no: number;
}

export interface Job {
  id: number;
  ops: QueuedOpcode[];
  received_ts: Timestamp | null;
  start_ts: Timestamp | null;
  end_ts: Timestamp | null;
  /** Highest log serial used so far. */
  log_serial: number;
  archived: boolean;
  /** Checked under the first opcode's locks, right before its prerequisites. */
  precondition?: JobPrecondition;
  /** The id of the API token it was submitted with: each opcode is checked against its grants. */
  token?: string;
}

export function timestampNow(): Timestamp {
  const us = Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000);
  return [Math.floor(us / 1e6), us % 1e6];
}

export function calcJobStatus(job: Job): JobStatus {
  let status: JobStatus = "queued";
  let allSuccess = true;
  for (const op of job.ops) {
    if (op.status !== "success") allSuccess = false;
    if (op.status === "error" || op.status === "canceling" || op.status === "canceled") return op.status;
    if (op.status === "waiting" || op.status === "running") status = op.status;
  }
  return allSuccess && job.ops.length > 0 ? "success" : status;
}

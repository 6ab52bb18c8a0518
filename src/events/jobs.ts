// Job events for the event stream: `submitted` once, `status` when a job's status actually
// changed, `log` with only the log lines since the last one sent. Values come from the job
// field registry (the status is Ganeti's calcJobStatus, as its field's), so they equal what
// GET /2/jobs/N answers.

import { calcJobStatus, FINALIZED, type Job, type JobStatus, type LogEntry } from "../model/job.ts";
import type { JobFollower } from "../jobs/queue.ts";
import { toDict } from "../query/fields.ts";
import { jobFields } from "../query/job.ts";
import type { EventBus } from "./bus.ts";

const TIMES = ["received_ts", "start_ts", "end_ts"];
const TIME_GETTERS = jobFields.getters(TIMES);
const summaryOf = jobFields.getters(["summary"])[0];

/** What was last sent about a job; kept as long as the job object is (archived jobs leave memory). */
interface Sent {
  status: JobStatus;
  logSerial: number;
  /** A job's opcodes never change: summarized once. */
  readonly summary: unknown;
}

type JobChange = "submitted" | "status" | "log";

/** A follower for JobQueue.follow that publishes the queue's changes on `bus`. */
export function jobEvents(bus: Pick<EventBus, "publish">): JobFollower {
  const sent = new WeakMap<Job, Sent>();
  const publish = (job: Job, last: Sent, change: JobChange, log?: LogEntry[]) => {
    const payload: Record<string, unknown> = { id: job.id, change, status: last.status, summary: last.summary, ...toDict(TIMES, TIME_GETTERS, job) };
    if (log) payload.log = log;
    bus.publish("job", String(job.id), payload);
  };
  return {
    submitted(job) {
      const last = { status: calcJobStatus(job), logSerial: job.log_serial, summary: summaryOf(job) };
      sent.set(job, last);
      publish(job, last, "submitted");
    },
    changed(job) {
      let last = sent.get(job);
      // A job recovered at start-up was never submitted here: everything about it is new.
      if (!last) sent.set(job, (last = { status: "queued", logSerial: 0, summary: summaryOf(job) }));
      const status = calcJobStatus(job);
      const log = job.log_serial > last.logSerial ? logAfter(job, last.logSerial) : undefined;
      last.logSerial = job.log_serial;
      const statusChanged = status !== last.status;
      last.status = status;
      // The lines a job wrote before it ended come before the end.
      const ended = FINALIZED.has(status);
      if (statusChanged && !ended) publish(job, last, "status");
      if (log) publish(job, last, "log", log);
      if (statusChanged && ended) publish(job, last, "status");
    },
  };
}

/** The job's log lines with a serial above `serial`, in serial order (opcode by opcode). */
function logAfter(job: Job, serial: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (const op of job.ops) {
    if (op.log.length === 0 || op.log[op.log.length - 1][0] <= serial) continue;
    for (const entry of op.log) if (entry[0] > serial) out.push(entry);
  }
  return out;
}

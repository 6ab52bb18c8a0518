// What the PVC handlers use of the master, and how they run Corral jobs: submit (durable),
// then wait for the whole job (config changes, storage commands: PVC answers when they are
// done) or only for its first opcode (state changes and migrations: PVC answers once the
// intent is recorded and lets the cluster carry it out).

import type { RequestAudit } from "../http/audit.ts";
import type { LeaderForwarder } from "../http/forward.ts";
import type { JobQueue } from "../../jobs/queue.ts";
import { calcJobStatus, FINALIZED, type Job } from "../../model/job.ts";
import type { Opcode } from "../../model/opcode.ts";
import type { LiveView } from "../../query/live.ts";
import type { NodeClients } from "../../storage/service.ts";
import type { ConfigStore } from "../../store/store.ts";
import { pvcFailure } from "./errors.ts";

export interface PvcServices {
  readonly store: ConfigStore;
  readonly queue: JobQueue;
  readonly live: LiveView;
  readonly clients: NodeClients;
  readonly log: (line: string) => void;
  /** The audit trail: the API's writes are recorded as RAPI's are. */
  readonly audit?: RequestAudit;
  /** Where several masters serve the API: the leader, for a standby's writes (../http/forward.ts). */
  readonly forward?: LeaderForwarder;
}

/** How long a handler waits for a config change to finish before saying it is still running. */
export const JOB_WAIT_MS = 60_000;
/** Storage commands may take long (PVC's manual: 30 s or more for OSDs). */
export const STORAGE_WAIT_MS = 10 * 60_000;

export interface JobOutcome {
  id: number;
  job: Job;
  /** Whether what was waited for finished successfully. */
  ok: boolean;
  /** The result of the last opcode waited for. */
  result: unknown;
  /** The failure's message (Ganeti's error args[0]). */
  error?: string;
}

function errorOf(job: Job): string | undefined {
  const failed = job.ops.find((o) => o.status === "error");
  if (failed) {
    const r = failed.result;
    if (Array.isArray(r) && Array.isArray(r[1]) && r[1].length > 0) return String(r[1][0]);
    return String(r);
  }
  if (calcJobStatus(job) === "canceled") return "the job was canceled";
  return undefined;
}

/** The error message of a finished job, or undefined (used by the views for failed intents). */
export const jobError = errorOf;

/**
 * Submits one job and waits until opcode `until` (default: the last) has finished, or the
 * job has. A job that outlives `timeoutMs` is reported as still running (not a failure).
 */
/** Waits until `done()` holds for job `id` (checked on each of its changes), at most `timeoutMs`. */
export async function awaitJob(s: PvcServices, id: number, done: (job: Job) => boolean, timeoutMs: number): Promise<void> {
  // Read again at every change: what readers are shown of a job is replaced (not updated) once
  // its end is durable, so a view taken once may never show the end.
  const finished = () => {
    const job = s.queue.get(id);
    return !job || done(job);
  };
  if (finished()) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(finish, timeoutMs);
    const off = s.queue.onChange(id, () => {
      if (finished()) finish();
    });
    function finish() {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
}

export const jobFinished = (job: Job): boolean => FINALIZED.has(calcJobStatus(job));

/**
 * Submits one job and waits until opcode `until` (default: the last) has finished, or the
 * job has. A job that outlives `timeoutMs` is reported as still running (not a failure).
 */
export async function runJob(s: PvcServices, ops: Opcode[], o: { until?: number; timeoutMs?: number } = {}): Promise<JobOutcome> {
  const [id] = await s.queue.submitJobs([ops]);
  const until = o.until ?? ops.length - 1;
  await awaitJob(s, id, (j) => jobFinished(j) || FINALIZED.has(j.ops[until].status), o.timeoutMs ?? JOB_WAIT_MS);
  const job = s.queue.get(id)!;
  const op = job.ops[until];
  // Only what was waited for counts: a later opcode's failure shows in the job (and in PVC's
  // failed state), not in this answer, so the answer does not depend on timing.
  const ok = op.status === "success";
  return { id, job, ok, result: op.result, error: ok ? undefined : errorOf(job) };
}

/** PVC's failure text for a job error: "ERROR: <message>". */
export function failureText(out: JobOutcome): string {
  if (out.error !== undefined) return /^ERROR:/.test(out.error) ? out.error : `ERROR: ${out.error}`;
  return `ERROR: Job ${out.id} is still running; follow it at /2/jobs/${out.id}.`;
}

/** Runs a job and answers its string result as the message, or throws PVC's failure. */
export async function commandJob(s: PvcServices, ops: Opcode[], fallback: string, timeoutMs?: number): Promise<string> {
  const out = await runJob(s, ops, { timeoutMs });
  if (!out.ok) throw pvcFailure(failureText(out));
  return typeof out.result === "string" ? out.result : fallback;
}

// /2/jobs/N/wait: answers as soon as the requested job fields or its log differ from
// what the client last saw, or the job is finalized; otherwise after the timeout with
// the unchanged values, as Ganeti's luxid does.

import { isDeepStrictEqual } from "node:util";
import { calcJobStatus, FINALIZED, type Job, type LogEntry } from "../model/job.ts";
import { jobFields } from "../query/job.ts";
import { plainValues } from "../query/fields.ts";
import type { JobQueue } from "./queue.ts";

export interface JobChange {
  job_info: unknown[];
  log_entries: LogEntry[];
}

function current(job: Job, fields: string[], prevSerial: number | null): JobChange {
  const log_entries = job.ops.flatMap((o) => o.log).filter(([serial]) => prevSerial === null || serial > prevSerial);
  return { job_info: plainValues(jobFields.getters(fields), job), log_entries };
}

export async function waitForJobChange(
  queue: JobQueue,
  id: number,
  fields: string[],
  prevInfo: unknown[] | null,
  prevSerial: number | null,
  timeoutMs: number,
  /** Read only when the answer is not there yet (a request's signal is made on first use). */
  request: { readonly signal: AbortSignal },
): Promise<JobChange | undefined> {
  if (!queue.get(id)) return undefined;
  // Read again each time: a job's end is shown once durable, by another object (JobQueue.get).
  const job = () => queue.get(id)!;
  const changed = (c: JobChange) =>
    FINALIZED.has(calcJobStatus(job())) || c.log_entries.length > 0 || !isDeepStrictEqual(c.job_info, prevInfo);
  const now = current(job(), fields, prevSerial);
  if (changed(now)) return now;
  const signal = request.signal;
  return await new Promise<JobChange>((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      off();
      signal.removeEventListener("abort", finish);
      resolve(current(job(), fields, prevSerial));
    };
    const timer = setTimeout(finish, timeoutMs);
    const off = queue.onChange(id, () => {
      if (changed(current(job(), fields, prevSerial))) finish();
    });
    signal.addEventListener("abort", finish, { once: true });
  });
}

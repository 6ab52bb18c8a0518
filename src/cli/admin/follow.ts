// Following a job as gnt-* does: its log lines as they come (a long poll on /2/jobs/N/wait),
// a progress bar in place of the migrations' and disk mirrors' progress lines on a terminal,
// and the outcome: the result, or the error in Ganeti's words and a non-zero exit. `--submit`
// only prints the job id; Ctrl-C detaches (the job goes on) and says how to follow it again.

import { MultiBar, type SingleBar } from "cli-progress";
import { jobError, type JobLogEntry, type RapiClient } from "../../client/rapi.ts";
import { interactive, type TextOut } from "./output.ts";
import { parseProgressLine } from "../../model/progress.ts";

/** A job (or some of several) failed or was canceled; the command exits 1 with the message on stderr. */
export class JobFailure extends Error {}

/** Ganeti's FormatError wording for the error classes a job can end with. */
export function describeJobError(job: Record<string, unknown>): string {
  if (job.status === "canceled") return `Job ${String(job.id)} was canceled`;
  const e = jobError(job);
  if (!e) return `Job ${String(job.id)} ended with status ${String(job.status)}`;
  switch (e.cls) {
    case "OpPrereqError":
      return `Failure: prerequisites not met for this operation:\nerror type: ${e.ecode ?? "unknown"}, error details:\n${e.message}`;
    case "OpExecError":
      return `Failure: command execution error:\n${e.message}`;
    case "OpResultError":
      return `Failure: the operation's result is wrong:\n${e.message}`;
    case "HypervisorError":
      return `Failure: hypervisor error:\n${e.message}`;
    default:
      return `Failure: ${e.cls}: ${e.message}${e.ecode !== undefined ? ` (${e.ecode})` : ""}`;
  }
}

const timestamp = (sec: number) => new Date(sec * 1000).toISOString().replace("T", " ").slice(0, 19);

/**
 * Prints log entries; progress lines drive a bar on a terminal and print as lines elsewhere.
 * Other lines that come while a bar shows go above it and the bar stays below them (cli-progress's
 * MultiBar log), so the screen holds one bar however the two kinds interleave.
 */
export class LogPrinter {
  private bars: MultiBar | null = null;
  private bar: SingleBar | null = null;
  private barTopic = "";
  private readonly tty: boolean;
  private readonly out: TextOut;

  constructor(out: TextOut = process.stdout) {
    this.out = out;
    this.tty = out === process.stdout && interactive();
  }

  print(entry: JobLogEntry): void {
    const [, [sec], , message] = entry;
    const text = typeof message === "string" ? message : JSON.stringify(message);
    const p = parseProgressLine(text);
    if (p && this.tty) {
      if (!this.bars || !this.bar || this.barTopic !== p.topic) {
        this.done();
        this.barTopic = p.topic;
        // forceRedraw: flushing logged lines clears the bar's row, and the bar must be drawn again
        // even when its value did not change.
        this.bars = new MultiBar({ format: `  ${p.topic} [{bar}] {percentage}% {detail}`, hideCursor: true, clearOnComplete: false, stream: process.stdout, forceRedraw: true });
        this.bar = this.bars.create(100, 0, { detail: "" });
      }
      this.bar.update(p.percent, { detail: p.detail });
      return;
    }
    const line = `${timestamp(sec)} ${text}\n`;
    if (this.bars) {
      this.bars.log(line);
      // Drawn now, not at the next redraw: a line logged just before the bar ends is kept, in order.
      this.bars.update();
      return;
    }
    this.out.write(line);
  }

  /** Ends a progress bar in its last state (a line of its own). */
  done(): void {
    if (!this.bars) return;
    this.bars.stop();
    this.bars = null;
    this.bar = null;
  }
}

export interface FollowOptions {
  /** Print the job id and return (gnt-* --submit). */
  submit: boolean;
  /** Printed once following has begun (Ctrl-C detaches from then on). */
  header?: string;
  out?: TextOut;
}

/**
 * Follows the job a write request returned until it ends; resolves with the job when it
 * succeeded (null with --submit) and rejects with a JobFailure when it did not.
 */
export async function followJob(client: RapiClient, submitted: unknown, opts: FollowOptions): Promise<Record<string, unknown> | null> {
  if (typeof submitted !== "number") throw new Error(`expected a job id from the master, got ${JSON.stringify(submitted)}`);
  const out = opts.out ?? process.stdout;
  if (opts.submit) {
    out.write(`JobID: ${submitted}\n`);
    return null;
  }
  const printer = new LogPrinter(out);
  const detach = () => {
    printer.done();
    process.stderr.write(`\nDetached from job ${submitted}; it goes on. Follow it with: corral job watch ${submitted}\n`);
    process.exit(130);
  };
  process.once("SIGINT", detach);
  if (opts.header) out.write(opts.header);
  try {
    const job = await client.waitForJob(submitted, (e) => printer.print(e));
    printer.done();
    if (job.status !== "success") throw new JobFailure(describeJobError(job));
    return job;
  } finally {
    process.off("SIGINT", detach);
  }
}

/**
 * Follows several jobs one after the other, each under a "Job N:" line (or `headers`' own), to
 * their ends; a job that could not be submitted comes as [false, why]. Throws a JobFailure
 * counting those that failed once all are done.
 */
export async function followJobs(client: RapiClient, jobs: readonly (readonly [boolean, number | string])[], out: TextOut = process.stdout, headers?: (id: number) => string): Promise<void> {
  let failed = 0;
  for (const [ok, id] of jobs) {
    if (!ok || typeof id !== "number") {
      process.stderr.write(`A job could not be submitted: ${String(id)}\n`);
      failed++;
      continue;
    }
    out.write(headers ? headers(id) : `Job ${id}:\n`);
    try {
      await followJob(client, id, { submit: false, out });
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      failed++;
    }
  }
  if (failed) throw new JobFailure(`${failed} of ${jobs.length} jobs failed`);
}

/** The job's one opcode result (most writes return null or a small value). */
export const firstResult = (job: Record<string, unknown> | null): unknown => (job && Array.isArray(job.opresult) ? job.opresult[0] : undefined);

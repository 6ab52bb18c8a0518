// Runs queued jobs, several at once: for each opcode, wait for dependencies and locks,
// check prerequisites, execute, record the result; a failure fails the rest of the job.

import { ECODE, encodeError, GanetiError, OpExecError, OpPrereqError } from "../model/errors.ts";
import { calcJobStatus, FINALIZED, timestampNow, type Job, type QueuedOpcode } from "../model/job.ts";
import type { LogicalUnit, LuContext, MasterServices } from "../ops/lu.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { outsideRequests, tokenRefusal, type AuthorityLookup } from "./authority.ts";
import type { LockManager } from "./locks.ts";
import { JobServices, LeadershipLost } from "./jobservices.ts";
import { checkPrecondition } from "./precondition.ts";
import { resultTooLarge } from "./record.ts";
import { cancelUnfinished, failUnfinished, jobEnded, jobStarted, opRunning, opSucceeded, opWaiting } from "./state.ts";

/** What the executor needs of the queue that feeds it. */
export interface ExecutorHost {
  /** The config's head: what jobs read (locks are worked out from it). */
  snapshot(): ConfigSnapshot;
  /** A job by id as it is in memory (dependencies). */
  liveJob(id: number): Job | undefined;
  /**
   * The job is about to take its final state: readers keep seeing it as it is now until
   * that state is durable (persist).
   */
  settle(job: Job): void;
  onChange(id: number, listener: () => void): () => void;
  /** Writes the job's state, then tells its waiters. */
  persist(job: Job): Promise<void>;
  /** Tells waiters now; resolves once the state is on disk. */
  touch(job: Job): Promise<void>;
}

export interface ExecutorOptions {
  host: ExecutorHost;
  /** What logical units get as `ctx.master`. */
  services: MasterServices;
  logicalUnits: ReadonlyMap<string, LogicalUnit>;
  locks: LockManager;
  maxRunning: () => number;
  /**
   * Whether a queued job may start now, given the jobs running (job filter rules: a paused
   * or rate-limited job stays queued, keeps its place, and is looked at again next time).
   */
  mayStart?: (job: Job, running: ReadonlySet<Job>) => boolean;
  /** API tokens' grants now, for jobs submitted with one. */
  authorities?: AuthorityLookup;
}

class JobCanceled extends Error {}

export class Executor {
  private readonly opts: ExecutorOptions;
  private readonly waiting: Job[] = [];
  private readonly cancels = new Map<number, AbortController>();
  private readonly active = new Set<Promise<void>>();
  private readonly running = new Set<Job>();
  private stopped = false;

  constructor(opts: ExecutorOptions) {
    this.opts = opts;
  }

  enqueue(job: Job): void {
    const prio = job.ops[0]?.priority ?? 0;
    // Lower priority values run first; equal priorities in submission order.
    let i = this.waiting.length;
    while (i > 0 && (this.waiting[i - 1].ops[0]?.priority ?? 0) > prio) i--;
    this.waiting.splice(i, 0, job);
  }

  /** Removes a job that has not started; false if it already has. */
  dequeue(job: Job): boolean {
    const i = this.waiting.indexOf(job);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  requestCancel(job: Job): void {
    this.cancels.get(job.id)?.abort(new JobCanceled());
  }

  schedule(): void {
    let i = 0;
    while (!this.stopped && i < this.waiting.length && this.active.size < Math.max(1, this.opts.maxRunning())) {
      const job = this.waiting[i];
      if (this.opts.mayStart && !this.opts.mayStart(job, this.running)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.running.add(job);
      // Started from whichever request's submission scheduled it: not in that request's scope.
      const run = outsideRequests(() => this.run(job)).finally(() => {
        this.active.delete(run);
        this.running.delete(job);
        this.schedule();
      });
      this.active.add(run);
    }
  }

  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active]);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Starts jobs again after stop() (a master that leads again). */
  resume(): void {
    this.stopped = false;
  }

  /** Stops every running job at its next step with `reason`. */
  abortAll(reason: Error): void {
    for (const abort of this.cancels.values()) abort.abort(reason);
  }

  private async run(job: Job): Promise<void> {
    const abort = new AbortController();
    this.cancels.set(job.id, abort);
    jobStarted(job);
    try {
      for (const op of job.ops) {
        if (op.status !== "queued") continue;
        const ok = await this.runOpcode(job, op, abort.signal);
        if (!ok) break;
      }
      jobEnded(job);
    } finally {
      this.cancels.delete(job.id);
      this.opts.locks.releaseAll(job.id);
    }
    // Refused only when leadership is gone (a failed write revokes it): the next leader fails the job on disk.
    await this.opts.host.persist(job).catch(() => undefined);
  }

  /** Runs one opcode; false when the job must stop (failed or canceled). */
  private async runOpcode(job: Job, op: QueuedOpcode, signal: AbortSignal): Promise<boolean> {
    const last = op === job.ops.at(-1);
    const { host, locks } = this.opts;
    opWaiting(op);
    try {
      const lu = this.opts.logicalUnits.get(op.input.OP_ID);
      if (!lu) throw new GanetiError("OpCodeUnknown", [`Unknown opcode ${op.input.OP_ID}`]);
      await this.waitForDependencies(job, op, signal);
      const request = lu.locks(op.input, host.snapshot());
      await locks.acquire(job.id, request, signal);
      signal.throwIfAborted();
      opRunning(op);
      const ctx = this.context(job, op, signal, host.touch(job));
      // Synchronously with checkPrereq: no other job's commit can land in between.
      if (job.precondition && op === job.ops[0]) checkPrecondition(host.snapshot(), job.precondition);
      // A token's job, under the locks it holds: tags, the token or its owner may have changed since submission.
      const refusal = job.token === undefined ? undefined : tokenRefusal(this.opts.authorities, job.token, op.input, request, host.snapshot());
      if (refusal !== undefined) throw new OpPrereqError(refusal, ECODE.environ);
      const prepared = lu.checkPrereq(ctx);
      let result: unknown;
      if (op.input.dry_run) {
        ctx.feedback(" - INFO: dry-run mode requested, not actually executing the operation");
        result = lu.dryRunResult?.(ctx, prepared);
      } else {
        result = await lu.exec(ctx, prepared);
      }
      // Its success can no longer be recorded: it ends as a crash would leave it.
      if (signal.aborted && signal.reason instanceof LeadershipLost) throw signal.reason;
      const unstorable = resultTooLarge(result);
      if (unstorable !== undefined) throw new OpExecError(unstorable, ECODE.fault);
      if (last) host.settle(job);
      opSucceeded(op, result);
      return true;
    } catch (err) {
      host.settle(job);
      const why: unknown = signal.aborted ? signal.reason : err;
      if (why instanceof JobCanceled) cancelUnfinished(job);
      else failUnfinished(job, encodeError(why));
      return false;
    } finally {
      locks.releaseAll(job.id);
    }
  }

  /**
   * `running`: resolves once the opcode's "running" state is on disk. Config changes need
   * not wait for it (they go into the same ordered log after it), node RPCs do: a job found
   * running after a crash is failed, never run again, so nothing may reach a node before
   * that state (and any config change the job made before the call) is durable.
   */
  private context(job: Job, op: QueuedOpcode, signal: AbortSignal, running: Promise<void>): LuContext<never> {
    const { host } = this.opts;
    return {
      op: op.input as never,
      jobId: job.id,
      master: new JobServices(this.opts.services, running, job.token, signal),
      snapshot: () => host.snapshot(),
      feedback: (message: string) => {
        op.log.push([++job.log_serial, timestampNow(), "message", message]);
        void host.touch(job);
      },
      signal,
    };
  }

  /** Waits until every job this opcode depends on has finished with an accepted status. */
  private async waitForDependencies(job: Job, op: QueuedOpcode, signal: AbortSignal): Promise<void> {
    for (const [depId, statuses] of op.input.depends ?? []) {
      const dep = depId > 0 ? this.opts.host.liveJob(depId) : undefined;
      if (!dep || dep.id === job.id) {
        throw new OpPrereqError(`Job dependency on job ${depId} can't be satisfied: no such job`, ECODE.inval);
      }
      while (!FINALIZED.has(calcJobStatus(dep))) {
        await new Promise<void>((resolve, reject) => {
          const off = this.opts.host.onChange(dep.id, () => {
            off();
            resolve();
          });
          signal.addEventListener("abort", () => {
            off();
            reject(signal.reason);
          }, { once: true });
        });
      }
      const final = calcJobStatus(dep);
      if (statuses.length > 0 && !statuses.includes(final as (typeof statuses)[number])) {
        throw new OpPrereqError(`Job dependency ${dep.id} has status '${final}', not one of ${statuses.join(", ")}`, ECODE.state);
      }
    }
  }
}

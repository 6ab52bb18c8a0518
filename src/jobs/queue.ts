// The job queue: accepts jobs (durable before their id is returned), keeps every job's
// state, schedules queued jobs on the executor, cancels, and tells waiters of changes.

import { EventEmitter } from "node:events";
import { calcJobStatus, FINALIZED, timestampNow, type Job, type JobPrecondition } from "../model/job.ts";
import type { Opcode } from "../model/opcode.ts";
import type { ConfigSnapshot, ConfigStore } from "../store/store.ts";
import type { LogicalUnit, MasterServices } from "../ops/lu.ts";
import { AuthorityError, currentAuthority, tokenRefusal, type AuthorityLookup, type JobAuthority } from "./authority.ts";
import { Executor, type ExecutorHost } from "./executor.ts";
import { LeadershipLost } from "./jobservices.ts";
import { applyingRule, mayStart } from "./filters.ts";
import type { LockManager } from "./locks.ts";
import type { JobStore } from "./jobstore.ts";
import { cancelUnfinished, newJob, recoverJob } from "./state.ts";

/** Decides, at submission, what happens to a new job (job filter rules hook in here). */
export type AdmissionPolicy = (job: Job) => "accept" | "reject";

export interface JobQueueOptions {
  store: ConfigStore;
  /** Node access and runtime state for logical units (the queue adds job submission). */
  services: Pick<MasterServices, "node" | "live">;
  /** The master's locks: jobs take them, /2/query's lock view reads them. */
  locks: LockManager;
  jobs: JobStore;
  logicalUnits: ReadonlyMap<string, LogicalUnit>;
  /** Jobs run at once; defaults to the cluster's max_running_jobs. */
  maxRunning?: () => number;
  /** API tokens' grants as they bind now, for jobs submitted with one (none: no token is valid). */
  authorities?: AuthorityLookup;
}

/** How a submission is made: `authority` null is the master's own (a job's children of an untokened job). */
export interface SubmitOptions {
  precondition?: JobPrecondition;
  /** The token the jobs act for; default: the request's being handled (authority.ts), if any. */
  authority?: JobAuthority | null;
}

/** Told of every job: whole-queue readers such as the event stream. */
export interface JobFollower {
  /** A job was accepted: before it can start, so before its first change. */
  submitted(job: Job): void;
  /** A job's state was written or touched (when its waiters are woken). */
  changed(job: Job): void;
}

export class JobQueue implements ExecutorHost {
  readonly store: ConfigStore;
  private readonly jobStore: JobStore;
  private readonly jobs = new Map<number, Job>();
  /**
   * Jobs whose end is on its way to the disk, as readers keep seeing them until it is durable:
   * a client that sees a job end then finds its config changes (readers see those only once
   * durable too, and they are written before or with the job's end).
   */
  private readonly settling = new Map<number, Job>();
  private readonly events = new EventEmitter();
  private readonly followers: JobFollower[] = [];
  private readonly executor: Executor;
  private readonly authorities: AuthorityLookup;
  private readonly logicalUnits: ReadonlyMap<string, LogicalUnit>;
  /** By default, the config's job filter rules: a job a REJECT rule applies to is canceled. */
  admission: AdmissionPolicy = (job) =>
    applyingRule(this.store.snapshot().filters.values(), job)?.action === "REJECT" ? "reject" : "accept";

  constructor(opts: JobQueueOptions) {
    this.store = opts.store;
    this.jobStore = opts.jobs;
    this.events.setMaxListeners(0);
    this.authorities = opts.authorities ?? (() => undefined);
    this.logicalUnits = opts.logicalUnits;
    this.executor = new Executor({
      host: this,
      // What logical units get as `ctx.master`: the master's services and job submission.
      services: { store: this.store, submitJobs: (jobs, options) => this.submitJobs(jobs, options), node: (n) => opts.services.node(n), live: opts.services.live },
      logicalUnits: opts.logicalUnits,
      locks: opts.locks,
      maxRunning: opts.maxRunning ?? (() => this.store.snapshot().cluster.max_running_jobs),
      mayStart: (job, running) => mayStart(this.store.snapshot().filters, job, running),
      authorities: this.authorities,
    });
    // New filter rules apply to queued jobs too, and more running slots may free some.
    let seen: Pick<ConfigSnapshot, "filters" | "cluster"> | undefined;
    this.store.onCommit((snap) => {
      const filtersChanged = snap.filters !== seen?.filters;
      const clusterChanged = snap.cluster !== seen?.cluster;
      seen = snap;
      if (filtersChanged || clusterChanged) queueMicrotask(() => this.reconsider(filtersChanged));
    });
  }

  /** The highest job id handed out so far (a new filter rule's watermark). */
  highestJobId(): number {
    return this.jobStore.highestId();
  }

  /** Cancels queued jobs a REJECT rule now applies to, then starts what may start. */
  private reconsider(filtersChanged: boolean): void {
    if (filtersChanged) {
      for (const job of this.jobs.values()) {
        if (calcJobStatus(job) !== "queued" || this.admission(job) !== "reject" || !this.executor.dequeue(job)) continue;
        cancelUnfinished(job);
        // Refused only once leadership is gone: the next leader cancels it again.
        void this.persist(job).catch(() => undefined);
      }
    }
    this.executor.schedule();
  }

  /**
   * Loads the queue when this master becomes leader (a start, or a standby taking over):
   * queued jobs run again; interrupted ones fail.
   */
  async recover(): Promise<void> {
    // A standby's copy (showStored) gives way to the store as it is now.
    this.jobs.clear();
    this.settling.clear();
    this.executor.resume();
    const interrupted: Promise<void>[] = [];
    for (const job of this.jobStore.loadAll()) {
      this.jobs.set(job.id, job);
      const { run, changed } = recoverJob(job);
      if (changed) interrupted.push(this.persist(job));
      if (run) this.executor.enqueue(job);
    }
    await Promise.all(interrupted);
    this.executor.schedule();
  }

  /**
   * Submits jobs; resolves with their ids once all of them are on disk. A precondition
   * (If-Match) goes with a submission of one job. Made with a token, the whole submission
   * is refused (AuthorityError) before any job exists unless its grants cover every object
   * each opcode locks now.
   */
  async submitJobs(jobOps: Opcode[][], options: SubmitOptions = {}): Promise<number[]> {
    if (options.precondition && jobOps.length !== 1) throw new Error("A precondition goes with exactly one job");
    const authority = options.authority === undefined ? currentAuthority() : (options.authority ?? undefined);
    if (authority) this.checkAuthority(authority.token, jobOps.flat());
    const received = timestampNow();
    const receivedNs = Date.now() * 1e6;
    const allocated = this.jobStore.allocateIds(jobOps.length);
    const ids = Array.isArray(allocated) ? allocated : await allocated;
    const jobs = jobOps.map((ops, jobIndex) => {
      const id = ids[jobIndex];
      return newJob(id, ops.map((input, index) => ({
        ...input,
        depends: resolveRelativeDeps(input.depends, ids, jobIndex),
        reason: [
          ...(input.reason ?? []),
          [`gnt:opcode:${input.OP_ID.replace(/^OP_/, "").toLowerCase()}`, `job=${id};index=${index}`, receivedNs],
        ],
      })), received, options.precondition);
    });
    if (authority) for (const job of jobs) job.token = authority.token;
    for (const job of jobs) {
      // A rejected job is kept, canceled, as Ganeti's REJECT filter action does.
      if (this.admission(job) === "reject") cancelUnfinished(job);
    }
    const durable = Promise.all(jobs.map((job, i) => this.jobStore.write(job, i === 0)));
    for (const job of jobs) {
      this.jobs.set(job.id, job);
      for (const f of this.followers) f.submitted(job);
      if (!FINALIZED.has(calcJobStatus(job))) this.executor.enqueue(job);
    }
    // The jobs may start before their submission is on disk: whatever they write lands in
    // the same transaction or a later one, they wait for their "running" state to be
    // durable before any node RPC (Executor), and their ids go out only once durable. A
    // failed write revokes leadership, which fails the jobs it started.
    this.executor.schedule();
    await durable;
    return jobs.map((j) => j.id);
  }

  /** Throws AuthorityError naming the first object of `ops` the token does not cover. */
  private checkAuthority(token: string, ops: readonly Opcode[]): void {
    const snap = this.store.snapshot();
    for (const op of ops) {
      const lu = this.logicalUnits.get(op.OP_ID);
      if (!lu) throw new AuthorityError(`Unknown opcode ${op.OP_ID}`);
      const refusal = tokenRefusal(this.authorities, token, op, lu.locks(op, snap), snap);
      if (refusal !== undefined) throw new AuthorityError(refusal);
    }
  }

  /** A job by id as readers see it (its end only once durable); archived jobs are read back from disk. */
  get(id: number): Job | undefined {
    return this.settling.get(id) ?? this.jobs.get(id) ?? (id > 0 && id <= this.jobStore.highestId() ? this.jobStore.loadOne(id) : undefined);
  }

  /**
   * Archives finalized jobs that ended more than `maxAgeSeconds` ago (Ganeti's watcher does
   * this after six hours): they leave /2/jobs and memory but stay readable by id.
   */
  archiveOld(maxAgeSeconds: number, nowMs = Date.now()): number {
    const cutoff = nowMs / 1000 - maxAgeSeconds;
    const old = [...this.jobs.values()].filter(
      (j) => FINALIZED.has(calcJobStatus(j)) && j.end_ts !== null && j.end_ts[0] < cutoff,
    );
    // Refused only while not leading; the next leader archives them.
    this.jobStore.archive(old.map((j) => j.id)).catch(() => undefined);
    for (const j of old) this.jobs.delete(j.id);
    return old.length;
  }

  /** Every job in the queue, as readers see them (get). */
  all(): Iterable<Job> {
    if (this.settling.size === 0) return this.jobs.values();
    return [...this.jobs.values()].map((job) => this.settling.get(job.id) ?? job);
  }

  /** A job as the executor sees it: its state in memory, ahead of the disk. */
  liveJob(id: number): Job | undefined {
    return this.jobs.get(id) ?? this.get(id);
  }

  settle(job: Job): void {
    // Ending assigns fields of the job and its opcodes (state.ts) and may log: those are
    // copied; the rest (inputs, earlier results, timestamps) is never changed in place.
    if (!this.settling.has(job.id)) this.settling.set(job.id, { ...job, ops: job.ops.map((op) => ({ ...op, log: op.log.slice() })) });
  }

  /**
   * A standby's copy of the queue: every active job as the store holds it, shown to readers;
   * none runs here until this master leads (recover).
   */
  showStored(): void {
    this.jobs.clear();
    this.settling.clear();
    for (const job of this.jobStore.loadAll()) this.jobs.set(job.id, job);
  }

  /** A standby is told of a job the leader wrote (undefined: archived there): readers, waiters and followers see it. */
  showFromLeader(id: number, job: Job | undefined): void {
    if (job === undefined) {
      this.jobs.delete(id);
      return;
    }
    const known = this.jobs.has(id);
    this.jobs.set(id, job);
    if (!known) for (const f of this.followers) f.submitted(job);
    this.events.emit(`job:${id}`);
    for (const f of this.followers) f.changed(job);
  }

  /** Ganeti's CancelJob answer: [success, message]. */
  async cancel(id: number): Promise<[boolean, string]> {
    const job = this.jobs.get(id);
    if (!job || FINALIZED.has(calcJobStatus(job))) return [false, `Job ${id} not found in queue`];
    const status = calcJobStatus(job);
    if (status === "queued" && this.executor.dequeue(job)) {
      cancelUnfinished(job);
      await this.persist(job);
      return [true, `Dequeued job ${id}`];
    }
    if (status === "queued" || status === "waiting") {
      this.executor.requestCancel(job);
      return [true, `Job ${id} will be canceled`];
    }
    return [false, "Job no longer waiting, can't cancel (informed it anyway)"];
  }

  /** Writes the job's state and then tells its waiters. */
  async persist(job: Job): Promise<void> {
    await this.jobStore.write(job);
    // Kept (showing the job unfinished, as the disk has it) if the write failed.
    this.settling.delete(job.id);
    this.events.emit(`job:${job.id}`);
    for (const f of this.followers) f.changed(job);
  }

  /**
   * Tells waiters without waiting for the disk (log lines, intermediate states); the
   * promise says when the state is durable (never rejects: a failed write revokes leadership,
   * which ends the job).
   */
  touch(job: Job): Promise<void> {
    const durable = this.jobStore.write(job).catch(() => undefined);
    this.events.emit(`job:${job.id}`);
    for (const f of this.followers) f.changed(job);
    return durable;
  }

  onChange(id: number, listener: () => void): () => void {
    this.events.on(`job:${id}`, listener);
    return () => this.events.off(`job:${id}`, listener);
  }

  /** Follows every job, not one id (the event stream). */
  follow(follower: JobFollower): void {
    this.followers.push(follower);
  }

  /** What jobs read: the config's head, their own (and other jobs') pending transactions included. */
  snapshot(): ConfigSnapshot {
    return this.store.head();
  }

  /** Waits for all in-flight jobs (tests and orderly shutdown). */
  idle(): Promise<void> {
    return this.executor.idle();
  }

  stop(): void {
    this.executor.stop();
  }

  /**
   * Leadership is gone (Leadership.onRevoke): no job starts from now on, and the running
   * ones end in error at their next step, as after a crash (their writes are refused; the
   * next leader finds them running and fails them on disk).
   */
  revoke(reason: string): void {
    this.executor.stop();
    this.executor.abortAll(new LeadershipLost(reason));
  }
}

/** Negative job ids in `depends` point back into the same submission (-1: the job before). */
function resolveRelativeDeps(depends: Opcode["depends"], ids: number[], index: number): Opcode["depends"] {
  if (!depends) return depends;
  return depends.map(([id, statuses]) => {
    const target = index + id;
    return [id < 0 && target >= 0 ? ids[target] : id, statuses];
  });
}

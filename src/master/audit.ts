// The audit trail: every write that reaches a route (refusals included) and every web console
// login and console session, as a record in the store's `audit` table and a JSON log line.
// Records go through the durable log with the config and job writes (group commit: no
// transaction of their own), jobs are credited to the request whose handler submitted them
// (an async-local scope), and a job's final status is written into its record when it ends.
// Bodies are never kept: a job is its opcode id and target.
// A record is rendered to JSON once, when its batch goes to the disk: that text is its row
// (a batch's rows go to the writer thread as one string) and its log line (written then, a
// batch at a time), so neither costs the request that made it more than a push onto a list.

import { AsyncLocalStorage } from "node:async_hooks";
import type { DatabaseSync } from "node:sqlite";
import { pathObject, type AuditEvent, type AuditFilter, type AuditJob, type AuditNote, type AuditReader, type AuditRecord, type RequestAudit } from "../api/http/audit.ts";
import type { JobFollower } from "../jobs/queue.ts";
import { calcJobStatus, FINALIZED, type Job } from "../model/job.ts";
import type { Opcode } from "../model/opcode.ts";
import type { AuditRow, AuditWrite, DurableLog } from "../store/durable.ts";
import type { BatchLine, Log } from "./log.ts";

export interface AuditBounds {
  /** Records older than this are pruned. */
  maxAgeSeconds: number;
  /** At most this many records are kept (the newest). */
  maxRecords: number;
}

/** Ninety days, and at most 100,000 records (~30 MB): enough to answer "who did this". */
export const AUDIT_BOUNDS: AuditBounds = { maxAgeSeconds: 90 * 86400, maxRecords: 100_000 };
/** Pruning also runs after this many new records, so that a burst never outgrows the bound for long. */
const PRUNE_EVERY = 1000;
/**
 * A record waits this long for its jobs to end, so that it is written once, with their
 * statuses; a job still running then updates it when it ends. (Written at once and updated
 * per job, the trail cost the tag-job burst a second statement per job.)
 */
const HOLD_MS = 500;

/** A record waiting for its jobs (or HOLD_MS) before it is written. */
interface Held {
  record: AuditRecord;
  since: number;
  running: number;
}

/** A job whose record is (or will be) written while it still runs. */
interface OpenJob {
  job: AuditJob;
  /** Set once its request is answered. */
  recordId?: number;
  /** Its record while that waits to be written. */
  held?: Held;
  index: number;
}

export class AuditTrail implements RequestAudit, AuditReader {
  private readonly db: DatabaseSync;
  private readonly durable: DurableLog;
  private readonly log: Log;
  private readonly bounds: AuditBounds;
  private readonly scope = new AsyncLocalStorage<AuditNote>();
  private readonly open = new Map<number, OpenJob>();
  private lastId: number;
  private sincePrune = 0;
  private readonly pruner: NodeJS.Timeout;
  private readonly held = new Set<Held>();
  private readonly releaser: NodeJS.Timeout;
  /** Records to write with the next batch, and their log line's message when it is not the usual one. */
  private pending: { record: AuditRecord; message?: string }[] = [];

  constructor(db: DatabaseSync, durable: DurableLog, log: Log, bounds: AuditBounds = AUDIT_BOUNDS) {
    this.db = db;
    this.durable = durable;
    this.log = log;
    this.bounds = bounds;
    this.lastId = Number((db.prepare("SELECT max(id) AS id FROM audit").get() as { id: number | null }).id ?? 0);
    // Jobs that had not ended when the master stopped: their end still goes into their record.
    for (const row of db.prepare(`SELECT id, jobs FROM audit WHERE jobs LIKE '%"status":null%'`).iterate()) {
      const { id, jobs } = row as { id: number; jobs: string };
      (JSON.parse(jobs) as AuditJob[]).forEach((job, index) => {
        if (job.status === null) this.open.set(job.id, { job, recordId: id, index });
      });
    }
    this.prune();
    this.pruner = setInterval(() => this.prune(), 3600_000);
    this.pruner.unref();
    this.releaser = setInterval(() => this.release(Date.now() - HOLD_MS), HOLD_MS / 2);
    this.releaser.unref();
  }

  within<T>(note: AuditNote, fn: () => T): T {
    return this.scope.run(note, fn);
  }

  answered(note: AuditNote, status: number): void {
    note.answered = true;
    // A read is recorded only when it submitted a job (Ganeti's job-submitting GETs).
    if ((note.method === "GET" || note.method === "HEAD") && note.jobs.length === 0) return;
    const named = pathObject(note.params) ?? note.jobs.map((j) => targetOf(j)).find((t) => t !== undefined);
    const record: AuditRecord = {
      id: ++this.lastId,
      time: Date.now() / 1000,
      user: note.user,
      source: note.source,
      method: note.method,
      route: note.route,
      kind: named?.kind ?? null,
      object: named?.name ?? null,
      action: null,
      status,
      jobs: note.jobs,
    };
    const running = note.jobs.filter((j) => j.status === null).length;
    if (running === 0) return this.store(record);
    const held: Held = { record, since: Date.now(), running };
    this.held.add(held);
    for (const job of note.jobs) {
      const open = this.open.get(job.id);
      if (open) {
        open.recordId = record.id;
        open.held = held;
      }
    }
  }

  event(event: AuditEvent, message?: string): void {
    this.store({ ...event, id: ++this.lastId, time: Date.now() / 1000, jobs: [] }, message);
  }

  /** Told of every job: a job submitted inside a request's scope is that request's. */
  jobFollower(): JobFollower {
    return {
      submitted: (job: Job) => {
        const note = this.scope.getStore();
        // A job the handler's leftovers submit after the answer is not the request's to report.
        if (!note || note.answered) return;
        const input = job.ops[0]?.input;
        const target = input && opcodeTarget(input);
        const entry: AuditJob = { id: job.id, opcode: input?.OP_ID ?? "", target: target ? `${target.kind}${target.name ? ` ${target.name}` : ""}` : null, status: null };
        const status = calcJobStatus(job);
        if (FINALIZED.has(status)) entry.status = status;
        else this.open.set(job.id, { job: entry, index: note.jobs.length });
        note.jobs.push(entry);
      },
      changed: (job: Job) => this.jobChanged(job),
    };
  }

  /** After the queue's recovery: jobs that ended while their record's update was not yet on disk. */
  settle(jobOf: (id: number) => Job | undefined): void {
    for (const id of [...this.open.keys()]) {
      const job = jobOf(id);
      if (job) this.jobChanged(job);
    }
  }

  async query(filter: AuditFilter): Promise<AuditRecord[]> {
    // Every record so far, including those waiting for their jobs, is on disk (and so
    // readable here) once the log is flushed.
    this.release(Infinity);
    await this.durable.flush();
    const rows = this.db
      .prepare(
        `SELECT * FROM audit WHERE (:since IS NULL OR time >= :since) AND (:until IS NULL OR time <= :until)
         AND (:user IS NULL OR user = :user) AND (:object IS NULL OR object = :object) AND (:kind IS NULL OR kind = :kind)
         ORDER BY id DESC LIMIT :limit`,
      )
      .all({ since: filter.since ?? null, until: filter.until ?? null, user: filter.user ?? null, object: filter.object ?? null, kind: filter.kind ?? null, limit: filter.limit });
    return rows.map((row) => {
      const r = row as unknown as AuditRow;
      return { ...r, jobs: JSON.parse(r.jobs) as AuditJob[] };
    });
  }

  /** Queues every held record (the master flushes the durable log after). */
  close(): void {
    clearInterval(this.pruner);
    clearInterval(this.releaser);
    this.release(Infinity);
  }

  private jobChanged(job: Job): void {
    const open = this.open.get(job.id);
    if (!open) return;
    const status = calcJobStatus(job);
    if (!FINALIZED.has(status)) return;
    this.open.delete(job.id);
    open.job.status = status;
    // Not answered yet, or its record still held: the status goes in with the record. No log
    // line of its own: one per job cost as much as the record's (the job's end is in /2/jobs).
    if (open.recordId === undefined) return;
    if (open.held && this.held.has(open.held)) {
      if (--open.held.running === 0) {
        this.held.delete(open.held);
        this.store(open.held.record);
      }
      return;
    }
    this.durable.appendLater([{ t: "auditJob", id: open.recordId, index: open.index, status }]);
  }

  /** Queues the record for the next group commit (a failed write stops the master: DurableLog.onFailure). */
  private store(record: AuditRecord, message?: string): void {
    if (this.pending.push({ record, message }) === 1) this.durable.appendLater([{ t: "lazy", key: "audit", render: () => this.render() }]);
    if (++this.sincePrune >= PRUNE_EVERY) this.prune("count");
  }

  /** The pending records as one write, their log lines written meanwhile. */
  private render(): AuditWrite {
    const pending = this.pending;
    this.pending = [];
    const lines = pending.map(({ record, message }): BatchLine => [message ?? recordText(record), JSON.stringify(record)]);
    try {
      if (this.log.batch) this.log.batch("audit", lines);
      else pending.forEach(({ record }, i) => this.log(lines[i][0], { audit: record }));
    } catch {
      // A log that cannot be written (stderr gone) must not fail the batch's config and job writes.
    }
    return { t: "audit", rows: `[${lines.map(([, json]) => json).join(",")}]` };
  }

  /** Writes the held records that came before `cutoff` (ms); their running jobs will update them. */
  private release(cutoff: number): void {
    for (const held of this.held) {
      if (held.since > cutoff) continue;
      this.held.delete(held);
      this.store(held.record);
    }
  }

  /**
   * Drops records beyond the bounds: both hourly and at start; every PRUNE_EVERY records the
   * count only (a key range: the age bound scans every row, ~15 ms at 100,000 of them, which
   * every 1,000 records came to 15 µs of the writer thread a record).
   */
  prune(bounds: "all" | "count" = "all"): void {
    this.sincePrune = 0;
    const before = bounds === "all" ? Date.now() / 1000 - this.bounds.maxAgeSeconds : null;
    this.durable.appendLater([{ t: "auditPrune", before, uptoId: this.lastId - this.bounds.maxRecords }]);
  }
}

/** The object an opcode acts on, by the parameter that names it. */
const TARGET_PARAMS: [string, string][] = [
  ["instance_name", "instance"],
  ["node_name", "node"],
  ["group_name", "group"],
  ["network_name", "network"],
];

function opcodeTarget(input: Opcode): { kind: string; name: string | null } | undefined {
  const params: Readonly<Record<string, unknown>> = input;
  for (const [param, kind] of TARGET_PARAMS) {
    const name = params[param];
    if (typeof name === "string") return { kind, name };
  }
  // Tag opcodes name their object by kind and name; cluster opcodes act on the cluster.
  if (input.OP_ID.startsWith("OP_TAGS_") && typeof params.kind === "string") {
    return { kind: params.kind === "nodegroup" ? "group" : params.kind, name: typeof params.name === "string" ? params.name : null };
  }
  if (input.OP_ID.startsWith("OP_CLUSTER_")) return { kind: "cluster", name: null };
  return undefined;
}

function targetOf(job: AuditJob): { kind: string; name: string | null } | undefined {
  if (job.target === null) return undefined;
  const space = job.target.indexOf(" ");
  return space < 0 ? { kind: job.target, name: null } : { kind: job.target.slice(0, space), name: job.target.slice(space + 1) };
}

function recordText(record: AuditRecord): string {
  const jobs = record.jobs.length === 0 ? "" : ` (${record.jobs.map((j) => `job ${j.id} ${j.opcode}${j.status === null ? "" : ` ${j.status}`}`).join(", ")})`;
  // "->", not an arrow: one non-ASCII character makes the whole batch's text two bytes a character.
  return `audit: ${record.user ?? "(no user)"} ${record.action ?? record.method} ${record.route} -> ${record.status}${jobs}`;
}

// SQLite's job store: each job state goes into the master's durable log (group commit, in
// order with config changes); the promise of a write resolves once it is on disk. Job ids
// count on from the highest one in the database.

import type { DatabaseSync } from "node:sqlite";
import { ECODE } from "../model/errors.ts";
import { FINALIZED, type Job } from "../model/job.ts";
import { DurableLog, InlineSink } from "../store/durable.ts";
import type { JobStore } from "./jobstore.ts";

/** The meta row with the highest job id handed out before the store was migrated here: new ids start above it. */
export const JOB_ID_MARK_KEY = "job_id_mark";

export class SqliteJobStore implements JobStore {
  private readonly db: DatabaseSync;
  private readonly log: DurableLog;
  private lastId: number;

  /** Without a log, writes go through one of its own on this connection. */
  constructor(db: DatabaseSync, log?: DurableLog) {
    this.db = db;
    this.log = log ?? new DurableLog(new InlineSink(db));
    this.lastId = this.storedHighestId();
  }

  /** Synchronous (a submission waits no turn for its ids) unless refused. */
  allocateIds(count: number): number[] | Promise<number[]> {
    try {
      this.log.checkWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(++this.lastId);
    return ids;
  }

  highestId(): number {
    return this.lastId;
  }

  /** Transactions committed so far (for benchmarks and tests of batching). */
  get commits(): number {
    return this.log.commits;
  }

  /**
   * Queues the job's state for writing; resolves once it is durable. The state is rendered
   * when the batch goes to disk: the job as it is then (never older than now), written once
   * however many times it changed meanwhile.
   */
  write(job: Job): Promise<void> {
    return this.log.append([{ t: "lazy", key: `job:${job.id}`, render: () => ({ t: "job", id: job.id, data: jobRow(job) }) }]);
  }

  /** Marks jobs archived: they leave the active queue but stay readable by id. */
  archive(ids: readonly number[]): Promise<void> {
    return this.log.append(ids.map((id) => ({ t: "archive" as const, id })));
  }

  /** Any job by id, archived ones included. */
  loadOne(id: number): Job | undefined {
    const row = this.db.prepare("SELECT data FROM jobs WHERE id = ?").get(id) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as Job) : undefined;
  }

  loadAll(): Job[] {
    this.lastId = Math.max(this.lastId, this.storedHighestId());
    const rows = this.db.prepare("SELECT data FROM jobs WHERE archived = 0 ORDER BY id").all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  private storedHighestId(): number {
    const row = this.db.prepare("SELECT MAX(id) AS id FROM jobs").get() as { id: number | null };
    // A store migrated from etcd may have handed out ids above its last stored job (corral store migrate).
    const mark = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(JOB_ID_MARK_KEY) as { value: string } | undefined;
    return Math.max(row.id ?? 0, Number(mark?.value ?? 0));
  }
}

/**
 * The stored form of a job. Input that passed validation always serializes (bodies are
 * depth-limited JSON); should one still fail, that job alone fails instead of the batch it
 * is in, and with it the master: its opcodes keep only their OP_ID (other parameters at
 * their defaults) and its unfinished opcodes end in error saying why.
 */
export function jobRow(job: Job): string {
  try {
    return JSON.stringify(job);
  } catch (err) {
    const why = `The job could not be stored: ${err instanceof Error ? err.message : String(err)}`;
    for (const op of job.ops) {
      op.input = { OP_ID: op.input.OP_ID, dry_run: false, debug_level: 0, priority: op.priority, depends: null, comment: null, reason: [] };
      if (!FINALIZED.has(op.status)) {
        op.status = "error";
        op.result = ["OpExecError", [why, ECODE.fault]];
        op.log = [];
      }
    }
    return JSON.stringify(job);
  }
}

// SQLite's job store: each job state goes into the master's durable log (group commit, in
// order with config changes); the promise of a write resolves once it is on disk. Job ids
// count on from the highest one in the database.

import type { DatabaseSync } from "node:sqlite";
import type { Job } from "../model/job.ts";
import { DurableLog } from "../store/durable.ts";
import { InlineSink } from "../store/sqlite-sink.ts";
import type { JobStore } from "./jobstore.ts";
import { jobRow } from "./record.ts";

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

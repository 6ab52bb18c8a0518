// Job persistence: each job state goes into the master's durable log (group commit, in
// order with config changes); the promise of a write resolves once it is on disk.

import type { DatabaseSync } from "node:sqlite";
import type { Job } from "../model/job.ts";
import { DurableLog, InlineSink } from "../store/durable.ts";

export class JobWriter {
  private readonly db: DatabaseSync;
  private readonly log: DurableLog;

  /** Without a log, writes go through one of its own on this connection. */
  constructor(db: DatabaseSync, log?: DurableLog) {
    this.db = db;
    this.log = log ?? new DurableLog(new InlineSink(db));
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
    return this.log.append([{ t: "lazy", key: `job:${job.id}`, render: () => ({ t: "job", id: job.id, data: JSON.stringify(job) }) }]);
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
    const rows = this.db.prepare("SELECT data FROM jobs WHERE archived = 0 ORDER BY id").all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  highestId(): number {
    const row = this.db.prepare("SELECT MAX(id) AS id FROM jobs").get() as { id: number | null };
    return row.id ?? 0;
  }
}

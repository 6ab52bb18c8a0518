// Group commit for the job queue: every job write requested during one turn of the event
// loop goes into a single SQLite transaction (one fsync), and each caller's promise
// resolves only after that transaction is on disk.

import type { DatabaseSync } from "node:sqlite";
import type { Job } from "../model/job.ts";
import { inTransaction } from "../store/sqlite.ts";

export class JobWriter {
  private readonly db: DatabaseSync;
  private pending = new Map<number, string>();
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  /** Transactions committed so far (for benchmarks and tests of batching). */
  commits = 0;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Queues the job's current state for writing; resolves once it is durable. */
  write(job: Job): Promise<void> {
    this.pending.set(job.id, JSON.stringify(job));
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  private flush(): void {
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    this.scheduled = false;
    try {
      const upsert = this.db.prepare("INSERT OR REPLACE INTO jobs (id, data, archived) VALUES (?, ?, 0)");
      inTransaction(this.db, () => {
        for (const [id, data] of batch) upsert.run(id, data);
      });
      this.commits++;
      for (const w of waiters) w.resolve();
    } catch (err) {
      for (const w of waiters) w.reject(err);
    }
  }

  /** Marks jobs archived: they leave the active queue but stay readable by id. */
  archive(ids: readonly number[]): void {
    if (ids.length === 0) return;
    const mark = this.db.prepare("UPDATE jobs SET archived = 1, data = json_set(data, '$.archived', json('true')) WHERE id = ?");
    inTransaction(this.db, () => {
      for (const id of ids) mark.run(id);
    });
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

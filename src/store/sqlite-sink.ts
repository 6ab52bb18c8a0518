// SQLite's side of the durable log (durable.ts): the statements a batch of writes runs, in one
// transaction fenced by the leader epoch row, on the calling thread (InlineSink) or in a worker
// thread with its own connection (WorkerSink, durable-worker.ts).

import { Worker } from "node:worker_threads";
import type { DatabaseSync } from "node:sqlite";
import type { AuditRecord } from "../model/audit.ts";
import type { CommitSink, WriteOp } from "./durable.ts";
import { EPOCH_KEY, NotLeaderError } from "./leadership.ts";

function prepareWrites(db: DatabaseSync) {
  return {
    upsert: db.prepare("INSERT OR REPLACE INTO objects (kind, uuid, data) VALUES (?, ?, ?)"),
    del: db.prepare("DELETE FROM objects WHERE kind = ? AND uuid = ?"),
    meta: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
    job: db.prepare("INSERT OR REPLACE INTO jobs (id, data, archived) VALUES (?, ?, 0)"),
    archive: db.prepare("UPDATE jobs SET archived = 1, data = json_set(data, '$.archived', json('true')) WHERE id = ?"),
    // Positional: named parameters cost twice as much a row, and json_each() over the batch more still.
    audit: db.prepare("INSERT OR REPLACE INTO audit (id, time, user, source, method, route, kind, object, action, status, jobs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
    auditJob: db.prepare("UPDATE audit SET jobs = json_set(jobs, ?, ?) WHERE id = ?"),
    auditPrune: db.prepare("DELETE FROM audit WHERE time < ? OR id <= ?"),
    auditPruneCount: db.prepare("DELETE FROM audit WHERE id <= ?"),
    tokenPut: db.prepare("INSERT OR REPLACE INTO tokens (id, data) VALUES (?, ?)"),
    tokenDel: db.prepare("DELETE FROM tokens WHERE id = ?"),
    epoch: db.prepare("SELECT value FROM meta WHERE key = ?"),
  };
}

/** Prepared once per connection: preparing costs more than a small batch's inserts. */
const statements = new WeakMap<DatabaseSync, ReturnType<typeof prepareWrites>>();

/**
 * Writes a batch in one transaction: all of it or none. With an epoch (the writer's fence),
 * the batch is refused unless that is still the database's leader epoch: a master another
 * one fenced out writes nothing more.
 */
export function applyOps(db: DatabaseSync, ops: readonly WriteOp[], epoch?: number): void {
  let st = statements.get(db);
  if (!st) statements.set(db, (st = prepareWrites(db)));
  const { upsert, del, meta, job, archive, audit, auditJob, auditPrune, auditPruneCount, tokenPut, tokenDel } = st;
  db.exec("BEGIN IMMEDIATE");
  try {
    if (epoch !== undefined) {
      const current = Number((st.epoch.get(EPOCH_KEY) as { value: string } | undefined)?.value ?? 0);
      if (current !== epoch) throw new NotLeaderError(`fenced out: the database's leader epoch is ${current}, this master's ${epoch}`);
    }
    for (const op of ops) {
      switch (op.t) {
        case "object":
          if (op.data === null) del.run(op.kind, op.uuid);
          else upsert.run(op.kind, op.uuid, op.data);
          break;
        case "meta":
          meta.run(op.key, op.value);
          break;
        case "job":
          job.run(op.id, op.data);
          break;
        case "archive":
          archive.run(op.id);
          break;
        case "audit":
          for (const r of JSON.parse(op.rows) as AuditRecord[]) {
            audit.run(r.id, r.time, r.user, r.source, r.method, r.route, r.kind, r.object, r.action, r.status, JSON.stringify(r.jobs));
          }
          break;
        case "auditJob":
          auditJob.run(`$[${Math.trunc(op.index)}].status`, op.status, op.id);
          break;
        case "auditPrune":
          if (op.before === null) auditPruneCount.run(op.uptoId);
          else auditPrune.run(op.before, op.uptoId);
          break;
        case "token":
          if (op.data === null) tokenDel.run(op.id);
          else tokenPut.run(op.id, op.data);
          break;
        case "kv":
          throw new Error(`a key-value write (${op.key}) reached the SQLite database`);
      }
    }
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}


/** Commits on the calling thread (tools, tests, small deployments). */
export class InlineSink implements CommitSink {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }
  async commit(ops: WriteOp[], epoch?: number): Promise<void> {
    applyOps(this.db, ops, epoch);
  }
  async close(): Promise<void> {}
}

/**
 * Commits in a worker thread with its own connection to the database file. Batches are
 * posted as they come (DurableLog sends one at a time); the thread commits everything that
 * arrived while it was busy as one transaction.
 */
export class WorkerSink implements CommitSink {
  private readonly worker: Worker;
  private next = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(dbPath: string) {
    this.worker = new Worker(new URL("./durable-worker.ts", import.meta.url), { workerData: { dbPath } });
    this.worker.on("message", (m: { ids: number[]; error?: string; fenced?: boolean }) => {
      for (const id of m.ids) {
        const p = this.pending.get(id);
        this.pending.delete(id);
        if (m.error === undefined) p?.resolve();
        else p?.reject(m.fenced ? Object.assign(new NotLeaderError(""), { message: m.error }) : new Error(m.error));
      }
    });
    this.worker.on("error", (err) => this.failAll(err));
    this.worker.on("exit", () => this.failAll(new Error("the database writer thread stopped")));
  }

  commit(ops: WriteOp[], epoch?: number): Promise<void> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ops, epoch });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

// The SQLite backend put together for the master: one database file holding the config, the
// job queue and the API tokens (and the audit trail), all written through one group-committed
// log by a thread of its own and fenced by a local lease. An etcd backend offers the same parts.

import type { DatabaseSync } from "node:sqlite";
import type { JobStore } from "../jobs/jobstore.ts";
import { SqliteJobStore } from "../jobs/writer.ts";
import { DurableLog, WorkerSink } from "./durable.ts";
import { LocalLease, type Leadership } from "./leadership.ts";
import { openDatabase, SqliteConfigStore } from "./sqlite.ts";
import type { InitializableStore } from "./store.ts";
import { SqliteTokenStore, type TokenStore } from "./tokens.ts";

export interface StoreBackend {
  readonly config: InitializableStore;
  readonly jobs: JobStore;
  readonly tokens: TokenStore;
  /** Whose fence every write carries; established by the master once it is put together. */
  readonly leadership: Leadership;
  /** The ordered log every write goes through (metrics watch its commits; the audit trail writes into it). */
  readonly log: DurableLog;
  /** The connection the audit trail reads its table through (SQLite only, for now). */
  readonly db: DatabaseSync;
  close(): Promise<void>;
}

export function openSqliteBackend(path: string): StoreBackend {
  const db = openDatabase(path);
  const leadership = new LocalLease(db);
  // Every batch carries the lease's fence; written by a thread of its own, so that the event
  // loop keeps serving while the disk syncs.
  const log = new DurableLog(new WorkerSink(path), leadership);
  const config = new SqliteConfigStore(db, log);
  return {
    db,
    log,
    leadership,
    config,
    jobs: new SqliteJobStore(db, log),
    tokens: new SqliteTokenStore(db, log),
    async close() {
      await log.close();
      await config.close();
    },
  };
}

// The store backends put together for the master. SQLite (the embedded default): one database
// file holding the config, the job queue, the API tokens and the audit trail, all written
// through one group-committed log by a thread of its own and fenced by a local lease. etcd
// (`--store etcd://…`): the config, jobs, tokens and the masters' records in etcd, fenced by
// the leader key, with standby masters following the leader's commits; the audit trail stays
// in each master's own SQLite file (it records what reached that master).

import type { DatabaseSync } from "node:sqlite";
import type { Job } from "../model/job.ts";
import type { JobStore } from "../jobs/jobstore.ts";
import { SqliteJobStore } from "../jobs/writer.ts";
import { DurableLog } from "./durable.ts";
import { WorkerSink } from "./sqlite-sink.ts";
import { openEtcdStores } from "./etcd/backend.ts";
import type { EtcdClient, EtcdOptions } from "./etcd/client.ts";
import { leaderValue, type LeaderInfo } from "./etcd/leader.ts";
import { EtcdRecord } from "./etcd/records.ts";
import type { SharedFiles } from "./etcd/shared.ts";
import { EtcdNoSpaceError } from "./etcd/sink.ts";
import type { Compactor } from "./etcd/compactor.ts";
import { LocalLease, type Leadership } from "./leadership.ts";
import { MetaRecord } from "./meta.ts";
import { openDatabase, SqliteConfigStore } from "./sqlite.ts";
import type { InitializableStore } from "./store.ts";
import type { LoginFailures } from "./login-failures.ts";
import { MemorySessionRecords, type SessionRecords } from "./sessions.ts";
import { SqliteTokenStore, type TokenStore } from "./tokens.ts";

/** A record of the master's own beside the config (autobalance's last round). */
export interface KeptRecord<T> {
  get(): T | undefined;
  /** Shown by get() at once; resolves once durable. */
  put(value: T): Promise<void>;
}

/** What a standby-capable backend (etcd) adds: several masters, one of which leads. */
export interface Replica {
  /** The leading master as the store says (this one included); undefined while nobody leads. */
  leader(): LeaderInfo | undefined;
  /** What this master's leader key will say from its next campaign on. */
  advertise(info: LeaderInfo): void;
  /** Follows the leader's commits into this master's copy while it stands by (the config follows by itself). */
  follow(jobs: { shown(id: number, job: Job | undefined): void; reloaded(): void }): Promise<void>;
  /** The store's state for operators: GET /corral/1/store. */
  status(): Promise<StoreStatus>;
  /** The certificates, users file and pvc-api.yaml every master shares (src/master/shared.ts). */
  readonly shared: SharedFiles;
}

export interface StoreStatus {
  endpoints: readonly string[];
  /** etcd's revision now (undefined: etcd did not answer). */
  revision?: number;
  /** Active etcd alarms ("NOSPACE", "CORRUPT"). */
  alarms: string[];
  /** What is wrong, and what to do about it, when something is. */
  problem?: string;
  /** The leader's compaction of etcd's history (etcd/compactor.ts): every interval_s (0: off); the last this master made, its last failure. */
  compaction?: { interval_s: number; revision?: number; at?: string; error?: string };
}

/** Alarms etcd raised (NOSPACE), as /2/info shows them while they last (`corral_store_problem`). */
export interface StoreProblem {
  alarms: string[];
  /** What is wrong and the remedy. */
  message: string;
}

export interface StoreBackend {
  readonly kind: "sqlite" | "etcd";
  readonly config: InitializableStore;
  readonly jobs: JobStore;
  readonly tokens: TokenStore;
  /** Web console sessions: this master's memory (SQLite), or etcd for every master. */
  readonly sessions: SessionRecords;
  /** Failed web console logins counted across masters (etcd); SQLite: the console's own count. */
  readonly loginFailures?: LoginFailures;
  /** Whose fence every write carries; established by the master once it is put together. */
  readonly leadership: Leadership;
  /** The ordered log every write goes through (metrics watch its commits). */
  readonly log: DurableLog;
  /** Where the audit trail keeps its records: this master's SQLite database and its log. */
  readonly audit: { readonly db: DatabaseSync; readonly log: DurableLog };
  /** Standby masters: etcd only. */
  readonly replica?: Replica;
  meta<T>(key: string): KeptRecord<T>;
  close(): Promise<void>;
}

export type EtcdChoice = { kind: "etcd"; ttlSeconds?: number; compactIntervalMs?: number } & EtcdOptions;
export type StoreChoice = { kind: "sqlite" } | EtcdChoice;

export interface BackendPlace {
  /** The SQLite database (sqlite mode). */
  database: string;
  /** The audit trail's own database (etcd mode). */
  auditDatabase: string;
  /** The cluster's name: etcd's key prefix. */
  cluster: string;
  /** This master's name. */
  master: string;
  /** Store trouble that ends nothing but an operator should see (a failed compaction, a standby's broken watch): for the log. */
  onStoreTrouble?: (err: Error) => void;
}

export function openBackend(choice: StoreChoice, place: BackendPlace): Promise<StoreBackend> {
  return choice.kind === "etcd" ? openEtcdBackend(choice, place) : Promise.resolve(openSqliteBackend(place.database));
}

export function openSqliteBackend(path: string): StoreBackend {
  const db = openDatabase(path);
  const leadership = new LocalLease(db);
  // Every batch carries the lease's fence; written by a thread of its own, so that the event
  // loop keeps serving while the disk syncs.
  const log = new DurableLog(new WorkerSink(path), leadership);
  const config = new SqliteConfigStore(db, log);
  log.onFailure((err) => leadership.revoke(`cannot write the config or job queue to ${path}: ${err instanceof Error ? err.message : String(err)}`));
  return {
    kind: "sqlite",
    audit: { db, log },
    log,
    leadership,
    config,
    jobs: new SqliteJobStore(db, log),
    tokens: new SqliteTokenStore(db, log),
    sessions: new MemorySessionRecords(),
    meta: <T>(key: string) => new MetaRecord<T>(db, log, key),
    async close() {
      await log.close();
      await config.close();
    },
  };
}

export async function openEtcdBackend(o: Omit<EtcdChoice, "kind">, place: BackendPlace): Promise<StoreBackend> {
  const stores = await openEtcdStores({
    ...o,
    cluster: place.cluster,
    name: place.master,
    onCompactionError: (err) => place.onStoreTrouble?.(new Error(`compaction failed (tried again in one interval): ${err.message}`)),
    onFollowError: (err) => place.onStoreTrouble?.(new Error(`this standby's copy stopped following (${err.message}); reading it again`)),
  });
  // The audit trail's own database: always writable here (a standby records what reached it too).
  const auditDb = openDatabase(place.auditDatabase);
  const auditLease = new LocalLease(auditDb);
  const auditLog = new DurableLog(new WorkerSink(place.auditDatabase), auditLease);
  try {
    await stores.leader.start();
    // Writes on a standby are refused with the leader's address (forwarding them is the HTTP layer's).
    stores.leadership.standbyReason = () => {
      const leader = stores.leader.leader();
      return leader ? `a standby; the leader is ${leader.name} at ${leader.url || "an unknown address"}` : "a standby; no master leads right now";
    };
    await auditLease.establish();
  } catch (err) {
    await stores.close();
    throw err;
  }
  return {
    kind: "etcd",
    config: stores.config,
    jobs: stores.jobs,
    tokens: stores.tokens,
    sessions: stores.sessions,
    loginFailures: stores.loginFailures,
    leadership: stores.leadership,
    log: stores.log,
    audit: { db: auditDb, log: auditLog },
    meta: <T>(key: string) => new EtcdRecord<T>(stores.meta, stores.log, key),
    replica: {
      leader: () => stores.leader.leader(),
      advertise: (info) => stores.leadership.advertise(leaderValue(info)),
      follow: (jobs) => stores.follow(jobs),
      status: () => etcdStatus(stores.client, o.endpoints, stores.compactor),
      shared: stores.shared,
    },
    async close() {
      await stores.close();
      await auditLog.close();
      auditDb.close();
    },
  };
}

/** A failed write's message for the log when it does not end leadership (etcd full: the remedy); undefined otherwise. */
export function storeTrouble(err: unknown): string | undefined {
  return err instanceof EtcdNoSpaceError ? err.message : undefined;
}

async function etcdStatus(client: EtcdClient, endpoints: readonly string[], compactor: Compactor): Promise<StoreStatus> {
  const compaction: StoreStatus["compaction"] = {
    interval_s: compactor.interval / 1000,
    ...(compactor.last ? { revision: compactor.last.revision, at: compactor.last.at.toISOString() } : {}),
    ...(compactor.lastError !== undefined ? { error: compactor.lastError } : {}),
  };
  try {
    // The alarm answer carries no header: the revision comes from a read of its own.
    const [res, revision] = await Promise.all([client.etcd.maintenance.alarm({ action: "Get", alarm: "None" }), client.revision()]);
    const alarms = [...new Set(res.alarms.map((a) => String(a.alarm).toUpperCase()))];
    const status: StoreStatus = { endpoints, revision, alarms, compaction };
    if (alarms.includes("NOSPACE")) status.problem = new EtcdNoSpaceError(new Error("alarm raised")).message;
    return status;
  } catch (err) {
    return { endpoints, alarms: [], compaction, problem: `etcd does not answer: ${err instanceof Error ? err.message : String(err)}` };
  }
}

// SQLite (node:sqlite) persistence for the config and the job queue, in one database file
// in WAL mode with synchronous=FULL. A config transaction applies at once to the pending head
// (the next transaction builds on it) and reaches the disk through the durable log's next
// group commit, in order with the job writes; readers see it only once that is durable. A
// failed batch rolls the head back to what is on disk.

import { chmodSync, closeSync, openSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import type { Cluster, ObjectKind } from "../model/objects.ts";
import { applyOps, DurableLog, InlineSink, type LogOp, type WriteOp } from "./durable.ts";
import { DraftTx } from "./memory.ts";
import { snapshotMap, type ConfigCommit, type ConfigSnapshot, type ConfigTx, type InitializableStore, type Staged } from "./store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL, uuid TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, uuid)
);
CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, data TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY, time REAL NOT NULL, user TEXT, source TEXT NOT NULL, method TEXT NOT NULL,
  route TEXT NOT NULL, kind TEXT, object TEXT, action TEXT, status INTEGER NOT NULL, jobs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, data TEXT NOT NULL);
`;

export function openDatabase(path: string): DatabaseSync {
  // The config and the queued jobs may hold secrets (OS parameters): readable by the owner only.
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec(SCHEMA);
  return db;
}

/** Runs `fn` inside one SQLite transaction. */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

export class SqliteConfigStore implements InitializableStore {
  private readonly db: DatabaseSync;
  /** Where committed transactions are written; shared with the job queue in the master. */
  readonly log: DurableLog;
  private readonly ownsLog: boolean;
  /** What is durable: what readers see. */
  private snap: ConfigSnapshot | undefined;
  /** The committed config plus this master's pending transactions: what the next transaction builds on. */
  private pendingHead: ConfigSnapshot | undefined;
  private readonly listeners: ((snap: ConfigSnapshot, commit: ConfigCommit) => void)[] = [];

  constructor(db: DatabaseSync, log?: DurableLog) {
    this.db = db;
    this.ownsLog = log === undefined;
    this.log = log ?? new DurableLog(new InlineSink(db));
    this.snap = this.pendingHead = this.load();
    // The failed batch's transactions and all queued after it are refused: back to the disk's state.
    this.log.onFailure(() => (this.pendingHead = this.snap));
  }

  isInitialized(): boolean {
    return this.snap !== undefined;
  }

  /** Writes the first config of a new cluster, durably before it returns. */
  initialize(cluster: Cluster, fill: (tx: ConfigTx) => void): void {
    if (this.pendingHead) throw new Error("the cluster is already initialized");
    const empty: ConfigSnapshot = {
      serial: 0,
      cluster,
      nodes: new Map(),
      groups: new Map(),
      instances: new Map(),
      networks: new Map(),
      filters: new Map(),
    };
    const tx = new DraftTx(empty);
    fill(tx);
    tx.changes.cluster = tx.current.cluster;
    applyOps(this.db, writesOf(tx, 1));
    this.pendingHead = tx.result(1);
    this.publish(this.pendingHead, commitOf(tx, empty));
  }

  snapshot(): ConfigSnapshot {
    if (!this.snap) throw new Error("the cluster is not initialized");
    return this.snap;
  }

  head(): ConfigSnapshot {
    if (!this.pendingHead) throw new Error("the cluster is not initialized");
    return this.pendingHead;
  }

  stage<T>(fn: (tx: ConfigTx) => T): Staged<T> {
    this.log.checkWritable();
    const previous = this.head();
    const tx = new DraftTx(previous);
    const result = fn(tx);
    if (!tx.touched) {
      // It read the pending head: its answer holds once what it read is durable.
      return { result, durable: this.pendingHead === this.snap ? Promise.resolve() : this.log.append([]) };
    }
    const snap = tx.result(previous.serial + 1);
    const commit = commitOf(tx, previous);
    this.pendingHead = snap;
    // Batches commit in order and their writers hear in order: listeners see commits in order.
    return { result, durable: this.log.append(this.lazyWritesOf(tx)).then(() => this.publish(snap, commit)) };
  }

  async transact<T>(fn: (tx: ConfigTx) => T): Promise<T> {
    const { result, durable } = this.stage(fn);
    await durable;
    return result;
  }

  /** Resolves once every committed transaction is on disk. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  onCommit(listener: (snap: ConfigSnapshot, commit: ConfigCommit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.ownsLog) await this.log.close();
    else await this.log.flush();
    this.db.close();
  }

  /**
   * The rows a transaction changes, rendered from the pending head when the log sends its
   * batch (every transaction in that batch, and none after it, is in the head then): several
   * transactions in one batch write each row once, as the last left it.
   */
  private lazyWritesOf(tx: DraftTx): LogOp[] {
    const ops: LogOp[] = [];
    if (tx.changes.cluster) ops.push({ t: "lazy", key: "meta:cluster", render: () => ({ t: "meta", key: "cluster", value: JSON.stringify(this.head().cluster) }) });
    for (const [kind, objs] of tx.changes.objects) {
      for (const uuid of objs.keys()) {
        ops.push({
          t: "lazy",
          key: `object:${kind}:${uuid}`,
          render: () => {
            const obj = snapshotMap(this.head(), kind).get(uuid);
            return { t: "object", kind, uuid, data: obj === undefined ? null : JSON.stringify(obj) };
          },
        });
      }
    }
    ops.push({ t: "lazy", key: "meta:serial", render: () => ({ t: "meta", key: "serial", value: String(this.head().serial) }) });
    return ops;
  }

  private publish(snap: ConfigSnapshot, commit: ConfigCommit): void {
    this.snap = snap;
    for (const l of this.listeners) l(snap, commit);
  }

  private load(): ConfigSnapshot | undefined {
    const get = this.db.prepare("SELECT value FROM meta WHERE key = ?");
    const cluster = get.get("cluster") as { value: string } | undefined;
    if (!cluster) return undefined;
    const serial = Number((get.get("serial") as { value: string } | undefined)?.value ?? 1);
    const maps: Record<ObjectKind, Map<string, never>> = {
      node: new Map<string, never>(),
      nodegroup: new Map<string, never>(),
      instance: new Map<string, never>(),
      network: new Map<string, never>(),
      filter: new Map<string, never>(),
    };
    for (const row of this.db.prepare("SELECT kind, uuid, data FROM objects").iterate()) {
      const r = row as { kind: ObjectKind; uuid: string; data: string };
      maps[r.kind]?.set(r.uuid, JSON.parse(r.data) as never);
    }
    return {
      serial,
      cluster: JSON.parse(cluster.value) as Cluster,
      nodes: maps.node,
      groups: maps.nodegroup,
      instances: maps.instance,
      networks: maps.network,
      filters: maps.filter,
    };
  }
}

/** What a transaction changed, as commit listeners get it (its own change map, not a copy). */
function commitOf(tx: DraftTx, previous: ConfigSnapshot): ConfigCommit {
  return { previous, clusterChanged: tx.changes.cluster !== undefined, objects: tx.changes.objects };
}

/** The rows a transaction changes, with the new config serial. */
function writesOf(tx: DraftTx, serial: number): WriteOp[] {
  const ops: WriteOp[] = [];
  if (tx.changes.cluster) ops.push({ t: "meta", key: "cluster", value: JSON.stringify(tx.changes.cluster) });
  for (const [kind, objs] of tx.changes.objects) {
    for (const [uuid, obj] of objs) ops.push({ t: "object", kind, uuid, data: obj === null ? null : JSON.stringify(obj) });
  }
  ops.push({ t: "meta", key: "serial", value: String(serial) });
  return ops;
}

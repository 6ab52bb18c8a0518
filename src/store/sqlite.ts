// SQLite (node:sqlite) persistence for the config and the job queue, in one database file
// in WAL mode with synchronous=FULL. A config transaction applies at once to the pending head
// (the next transaction builds on it) and reaches the disk through the durable log's next
// group commit, in order with the job writes; readers see it only once that is durable. A
// failed batch rolls the head back to what is on disk.

import { chmodSync, closeSync, openSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import type { Cluster, ObjectKind } from "../model/objects.ts";
import { DurableLog, type LogOp, type WriteOp } from "./durable.ts";
import { applyOps, InlineSink } from "./sqlite-sink.ts";
import { commitOf, LoggedConfigStore } from "./logged.ts";
import type { DraftTx } from "./memory.ts";
import { snapshotMap, type ConfigSnapshot, type ConfigTx } from "./store.ts";

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

export class SqliteConfigStore extends LoggedConfigStore {
  private readonly db: DatabaseSync;
  private readonly ownsLog: boolean;

  constructor(db: DatabaseSync, log?: DurableLog) {
    super(log ?? new DurableLog(new InlineSink(db)), loadConfig(db));
    this.db = db;
    this.ownsLog = log === undefined;
  }

  /** Writes the first config of a new cluster, durably before it returns. */
  initialize(cluster: Cluster, fill: (tx: ConfigTx) => void): void {
    if (this.pendingHead) throw new Error("the cluster is already initialized");
    const { tx, empty } = LoggedConfigStore.firstConfig(cluster, fill);
    applyOps(this.db, writesOf(tx, 1));
    this.pendingHead = tx.result(1);
    this.publish(this.pendingHead, commitOf(tx, empty));
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
  protected writesOf(tx: DraftTx): LogOp[] {
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
}

function loadConfig(db: DatabaseSync): ConfigSnapshot | undefined {
  const get = db.prepare("SELECT value FROM meta WHERE key = ?");
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
  for (const row of db.prepare("SELECT kind, uuid, data FROM objects").iterate()) {
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

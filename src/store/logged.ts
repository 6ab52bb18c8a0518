// A config store whose transactions go through the durable log (SQLite and etcd alike): a
// transaction applies at once to the pending head, so the next one builds on it, and reaches
// the store through the log's next group commit; readers and listeners see it only once that is
// durable. A failed batch rolls the head back to what is committed. Backends say how a
// transaction is written (writesOf), how the first config is, and how they close.

import type { Cluster } from "../model/objects.ts";
import type { DurableLog, LogOp } from "./durable.ts";
import { DraftTx } from "./memory.ts";
import type { ConfigCommit, ConfigSnapshot, ConfigTx, InitializableStore, Staged } from "./store.ts";

export abstract class LoggedConfigStore implements InitializableStore {
  /** Where committed transactions are written; shared with the job queue in the master. */
  readonly log: DurableLog;
  /** What is durable: what readers see. */
  protected snap: ConfigSnapshot | undefined;
  /** The committed config plus this master's pending transactions: what the next transaction builds on. */
  protected pendingHead: ConfigSnapshot | undefined;
  private readonly listeners: ((snap: ConfigSnapshot, commit: ConfigCommit) => void)[] = [];

  constructor(log: DurableLog, committed: ConfigSnapshot | undefined) {
    this.log = log;
    this.snap = this.pendingHead = committed;
    // The failed batch's transactions and all queued after it are refused: back to the committed state.
    this.log.onFailure(() => (this.pendingHead = this.snap));
  }

  abstract initialize(cluster: Cluster, fill: (tx: ConfigTx) => void): void | Promise<void>;
  abstract close(): Promise<void>;
  /**
   * The writes that make a transaction durable, made before the head moves to include it:
   * throws (and nothing changes) when the backend cannot take it in one piece.
   */
  protected abstract writesOf(tx: DraftTx, serial: number): LogOp[];

  isInitialized(): boolean {
    return this.snap !== undefined;
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
    const writes = this.writesOf(tx, previous.serial + 1);
    const snap = tx.result(previous.serial + 1);
    const commit = commitOf(tx, previous);
    this.pendingHead = snap;
    // Batches commit in order and their writers hear in order: listeners see commits in order.
    return { result, durable: this.log.append(writes).then(() => this.publish(snap, commit)) };
  }

  async transact<T>(fn: (tx: ConfigTx) => T): Promise<T> {
    const { result, durable } = this.stage(fn);
    await durable;
    return result;
  }

  /** Resolves once every committed transaction is durable. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  onCommit(listener: (snap: ConfigSnapshot, commit: ConfigCommit) => void): void {
    this.listeners.push(listener);
  }

  /** Shows a committed config to readers and listeners. */
  protected publish(snap: ConfigSnapshot, commit: ConfigCommit): void {
    this.snap = snap;
    for (const l of this.listeners) l(snap, commit);
  }

  /** A first config built by `fill` on an empty one: its transaction (the cluster counted as changed). */
  protected static firstConfig(cluster: Cluster, fill: (tx: ConfigTx) => void): { tx: DraftTx; empty: ConfigSnapshot } {
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
    return { tx, empty };
  }
}

/** What a transaction changed, as commit listeners get it (its own change map, not a copy). */
export function commitOf(tx: DraftTx, previous: ConfigSnapshot): ConfigCommit {
  return { previous, clusterChanged: tx.changes.cluster !== undefined, objects: tx.changes.objects };
}

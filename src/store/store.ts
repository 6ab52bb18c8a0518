// The config store: the cluster's objects, read as immutable snapshots and changed only in
// atomic, asynchronous transactions that readers see once they are durable. SQLite backs the
// embedded default; an etcd store can implement the same interface.

import type { Cluster, FilterRule, Instance, Network, Node, NodeGroup, ObjectKind } from "../model/objects.ts";

export interface KindTypes {
  node: Node;
  nodegroup: NodeGroup;
  instance: Instance;
  network: Network;
  filter: FilterRule;
}

/** A consistent, immutable view of the whole config. Never mutate what it returns. */
export interface ConfigSnapshot {
  /** Config serial: +1 on every committed transaction. Caches key on it. */
  readonly serial: number;
  readonly cluster: Cluster;
  readonly nodes: ReadonlyMap<string, Node>;
  readonly groups: ReadonlyMap<string, NodeGroup>;
  readonly instances: ReadonlyMap<string, Instance>;
  readonly networks: ReadonlyMap<string, Network>;
  readonly filters: ReadonlyMap<string, FilterRule>;
}

/** A transaction's writable view. Changes become visible to readers only on commit. */
export interface ConfigTx {
  /** The config as this transaction sees it, its own changes included. */
  readonly current: ConfigSnapshot;
  updateCluster(change: (cluster: Cluster) => void): Cluster;
  /** Adds a new object (uuid must be unused). Sets serial_no 1, ctime and mtime. */
  add<K extends ObjectKind>(kind: K, obj: KindTypes[K]): KindTypes[K];
  /** Changes a copy of the object; bumps serial_no and mtime. Throws if missing. */
  update<K extends ObjectKind>(kind: K, uuid: string, change: (obj: KindTypes[K]) => void): KindTypes[K];
  /** Replaces the object exactly as given (no serial bump): for filters and imports. */
  replace<K extends ObjectKind>(kind: K, obj: KindTypes[K]): void;
  remove(kind: ObjectKind, uuid: string): void;
}

/** What one committed transaction changed, for listeners that follow objects (the event stream). */
export interface ConfigCommit {
  /** The config before the transaction (where a removed object's name is). */
  readonly previous: ConfigSnapshot;
  readonly clusterChanged: boolean;
  /** kind → uuid → the object as committed, or null when removed. */
  readonly objects: ReadonlyMap<ObjectKind, ReadonlyMap<string, unknown>>;
}

/** A transaction applied to the head, on its way to the disk. */
export interface Staged<T> {
  readonly result: T;
  /** Resolves once durable (and shown to readers); rejects when its write, or one it was built on, failed. */
  readonly durable: Promise<void>;
}

export interface ConfigStore {
  /** The committed config: durable (replicated), what clients and listeners are shown. */
  snapshot(): ConfigSnapshot;
  /**
   * The newest config: the committed one plus this leader's transactions still on their way
   * to the disk. For jobs (their own earlier writes are in it) and transactions; never for
   * answering clients.
   */
  head(): ConfigSnapshot;
  /**
   * Runs `fn` at once on the head, atomically: the next transaction builds on its changes
   * without waiting for the disk. Resolves with fn's result once the changes are durable;
   * only then do readers, listeners and the event stream see them. Rejects when fn throws
   * (nothing changes), when this master does not lead (NotLeaderError), or when the write
   * fails; a failed write refuses every transaction made on top of it too and rolls the
   * head back to the committed config. A backend may cap a transaction's size (etcd: 128
   * objects a txn).
   */
  transact<T>(fn: (tx: ConfigTx) => T): Promise<T>;
  /**
   * transact's first half, for jobs (which read the head): runs `fn` on the head now and
   * returns its result with the promise of durability, which rejects as transact would.
   * Throws when fn throws or this master does not lead. A job's later writes (its end
   * included) go into the same ordered log after this one, so they are durable only once it
   * is; its node calls wait for it (Executor).
   */
  stage<T>(fn: (tx: ConfigTx) => T): Staged<T>;
  /** Resolves once every committed transaction is on disk. */
  flush(): Promise<void>;
  /** Subscribe to commits (caches, waiters), in commit order, once durable; `commit` says what changed, without diffing snapshots. */
  onCommit(listener: (snap: ConfigSnapshot, commit: ConfigCommit) => void): void;
  close(): Promise<void>;
}

/** A config store that can hold a new cluster's first config (before any master leads). */
export interface InitializableStore extends ConfigStore {
  isInitialized(): boolean;
  /**
   * Writes the first config of a new cluster, durably before it returns (SQLite) or its
   * promise resolves (etcd, where a cluster another master initialized meanwhile refuses it).
   */
  initialize(cluster: Cluster, fill: (tx: ConfigTx) => void): void | Promise<void>;
}

export function snapshotMap<K extends ObjectKind>(snap: ConfigSnapshot, kind: K): ReadonlyMap<string, KindTypes[K]> {
  const maps = {
    node: snap.nodes,
    nodegroup: snap.groups,
    instance: snap.instances,
    network: snap.networks,
    filter: snap.filters,
  } as const;
  return maps[kind] as unknown as ReadonlyMap<string, KindTypes[K]>;
}

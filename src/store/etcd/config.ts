// The config on etcd: one key per object under /corral/<cluster>/config/<kind>/<uuid>, the cluster
// object at config/cluster but for its large, rarely changed parameter groups, each at
// config/cluster-params/<field> and written only when it changed (cluster-parts.ts), and the
// cluster serial at config/serial. A transaction's writes go through the durable log (group commit,
// in order with job writes) to one etcd txn fenced by the leader key's create revision (sink.ts); a
// transaction larger than one txn is refused before it changes anything. The config loads as pages
// pinned to one revision; a standby follows the leader's commits through its feed (feed.ts).

import type { Cluster, ObjectKind } from "../../model/objects.ts";
import type { DurableLog, LogOp } from "../durable.ts";
import { commitOf, LoggedConfigStore } from "../logged.ts";
import type { DraftTx } from "../memory.ts";
import type { ConfigSnapshot, ConfigTx } from "../store.ts";
import type { EtcdClient, EtcdKeys } from "./client.ts";
import { ClusterParts, clusterPartOf, mergeCluster, withBase, withPart, type ClusterPart } from "./cluster-parts.ts";
import type { FedCopy, FeedEvent } from "./feed.ts";
import { TxnMeter } from "./sink.ts";

const KINDS: readonly ObjectKind[] = ["node", "nodegroup", "instance", "network", "filter"];
const MAP_OF = { node: "nodes", nodegroup: "groups", instance: "instances", network: "networks", filter: "filters" } as const;

type Maps = Record<ObjectKind, Map<string, unknown>>;

/**
 * The config as one master holds it: the leader's own commits, or on a standby the leader's,
 * applied as the feed (feed.ts) brings them.
 */
export class EtcdConfigStore extends LoggedConfigStore implements FedCopy {
  private readonly client: EtcdClient;
  private readonly keys: EtcdKeys;
  /** The etcd revision the committed config is at (loaded or followed; a leader's own commits do not move it). */
  revision: number;
  private readonly parts: ClusterParts;

  private constructor(client: EtcdClient, keys: EtcdKeys, log: DurableLog, loaded: Loaded) {
    super(log, loaded.snap);
    this.client = client;
    this.keys = keys;
    this.revision = loaded.revision;
    this.parts = new ClusterParts(keys);
    this.parts.loaded(loaded.held);
    this.log.onFailure(() => this.parts.forget());
  }

  /** Loads the config as it is now (nothing when the cluster is not initialized yet). */
  static async open(client: EtcdClient, keys: EtcdKeys, log: DurableLog): Promise<EtcdConfigStore> {
    return new EtcdConfigStore(client, keys, log, await loadConfig(client, keys));
  }

  /** Writes the first config in one txn that succeeds only while there is none. */
  async initialize(cluster: Cluster, fill: (tx: ConfigTx) => void): Promise<void> {
    if (this.pendingHead) throw new Error("the cluster is already initialized");
    const { tx, empty } = LoggedConfigStore.firstConfig(cluster, fill);
    const success = this.writesOf(tx, 1).map((op) => ({ request_put: { key: Buffer.from(kvOf(op).key), value: Buffer.from(kvOf(op).value ?? "") } }));
    const res = await this.client.etcd.kv.txn({
      compare: [{ key: Buffer.from(this.keys.configCluster), target: "Create", result: "Equal", create_revision: 0 }],
      success,
    });
    if (!res.succeeded) {
      this.parts.forget();
      throw new Error(`the cluster under ${this.keys.root} in etcd is already initialized (by another master)`);
    }
    this.revision = Number(res.header.revision);
    this.pendingHead = tx.result(1);
    this.publish(this.pendingHead, commitOf(tx, empty));
  }

  get prefix(): string {
    return this.keys.config;
  }

  /** The feed's reload: the config as committed now. */
  reload(): Promise<void> {
    return this.catchUp();
  }

  /**
   * A new leader's first step: the config as committed now (a revision past its fence, so
   * every write of an earlier leader is in it, and none can follow). Nothing may be pending.
   */
  async catchUp(): Promise<void> {
    const loaded = await loadConfig(this.client, this.keys);
    if (!loaded.snap) return;
    this.revision = loaded.revision;
    this.parts.loaded(loaded.held);
    const previous = this.snap;
    this.pendingHead = loaded.snap;
    if (!previous) return this.publish(loaded.snap, { previous: loaded.snap, clusterChanged: true, objects: new Map() });
    // What changed since the copy this master had, so that listeners following objects (the
    // event stream) miss nothing a relist brought.
    const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);
    const objects = new Map<ObjectKind, Map<string, unknown>>();
    for (const kind of KINDS) {
      const before = previous[MAP_OF[kind]] as ReadonlyMap<string, unknown>;
      const now = loaded.snap[MAP_OF[kind]] as ReadonlyMap<string, unknown>;
      const changed = new Map<string, unknown>();
      for (const [uuid, obj] of now) if (!same(before.get(uuid), obj)) changed.set(uuid, obj);
      for (const uuid of before.keys()) if (!now.has(uuid)) changed.set(uuid, null);
      if (changed.size > 0) objects.set(kind, changed);
    }
    const clusterChanged = !same(previous.cluster, loaded.snap.cluster);
    if (objects.size === 0 && !clusterChanged && previous.serial === loaded.snap.serial) return;
    this.publish(loaded.snap, { previous, clusterChanged, objects });
  }

  async close(): Promise<void> {
    await this.log.flush();
  }

  /** One etcd txn's writes for a transaction: refused whole (TxnTooLargeError) when over etcd's limits. */
  protected writesOf(tx: DraftTx, serial: number): LogOp[] {
    const ops: LogOp[] = [];
    const meter = new TxnMeter();
    const put = (key: string, value: string | null) => {
      const op = { t: "kv" as const, key, value };
      meter.add(op);
      ops.push(op);
    };
    // The head is still the one the transaction was built on (initialize: none, so every part is written).
    const cluster = tx.changes.cluster ? this.parts.writes(this.pendingHead?.cluster, tx.changes.cluster) : undefined;
    for (const { key, value } of cluster?.writes ?? []) put(key, value);
    for (const [kind, objs] of tx.changes.objects) {
      for (const [uuid, obj] of objs) put(this.keys.configObject(kind, uuid), obj === null ? null : JSON.stringify(obj));
    }
    put(this.keys.configSerial, String(serial));
    meter.check();
    if (cluster) this.parts.hold(cluster.parts);
    return ops;
  }

  /** A standby applies the leader's commits (one watch response's, under the config prefix). */
  apply(events: readonly FeedEvent[]): void {
    const previous = this.snap;
    if (events.length === 0 || !previous) return;
    // A loop, not Math.max(...revisions): a catching-up watch's batch may hold more events than a call takes arguments.
    for (const e of events) this.revision = Math.max(this.revision, Number(e.kv.mod_revision));
    const maps = new Map<ObjectKind, Map<string, unknown>>();
    const changed = new Map<ObjectKind, Map<string, unknown>>();
    let cluster = previous.cluster;
    let serial = previous.serial;
    let clusterChanged = false;
    for (const e of events) {
      const key = parseKey(this.keys, e.kv.key.toString());
      const value = e.type === "Delete" ? null : e.kv.value.toString();
      if (key === "cluster" && value !== null) {
        cluster = withBase(cluster, value);
        clusterChanged = true;
      } else if (key === "serial" && value !== null) serial = Number(value);
      else if (typeof key === "object" && "part" in key) {
        cluster = withPart(cluster, key.part, value);
        clusterChanged = true;
      } else if (typeof key === "object") {
        let map = maps.get(key.kind);
        if (!map) maps.set(key.kind, (map = new Map(previous[MAP_OF[key.kind]] as ReadonlyMap<string, unknown>)));
        if (value === null) map.delete(key.uuid);
        else map.set(key.uuid, JSON.parse(value));
        if (!changed.has(key.kind)) changed.set(key.kind, new Map());
        changed.get(key.kind)?.set(key.uuid, value === null ? null : map.get(key.uuid));
      }
    }
    const snap = snapshotOf(serial, cluster, (kind) => maps.get(kind) ?? previous[MAP_OF[kind]]);
    this.pendingHead = snap;
    this.publish(snap, { previous, clusterChanged, objects: changed });
  }
}

function kvOf(op: LogOp): { key: string; value: string | null } {
  if (op.t !== "kv") throw new Error(`a ${op.t} write cannot go to etcd`);
  return op;
}

/** What a config key holds: the cluster (its base or a part), the serial, an object, or something else (undefined). */
function parseKey(keys: EtcdKeys, key: string): "cluster" | "serial" | { part: ClusterPart } | { kind: ObjectKind; uuid: string } | undefined {
  if (key === keys.configCluster) return "cluster";
  if (key === keys.configSerial) return "serial";
  const part = clusterPartOf(keys, key);
  if (part) return { part };
  const [kind, uuid, ...rest] = key.slice(keys.config.length).split("/");
  if (!KINDS.includes(kind as ObjectKind) || !uuid || rest.length > 0) return undefined;
  return { kind: kind as ObjectKind, uuid };
}

/** A config as read: `held`, the cluster's parts in keys of their own (ClusterParts). */
interface Loaded {
  snap: ConfigSnapshot | undefined;
  revision: number;
  held: readonly ClusterPart[];
}

/** The config at one revision, read in pages pinned to it. */
async function loadConfig(client: EtcdClient, keys: EtcdKeys): Promise<Loaded> {
  const { revision, kvs } = await client.list(keys.config);
  const maps = Object.fromEntries(KINDS.map((k) => [k, new Map<string, unknown>()])) as Maps;
  let base: Record<string, unknown> | undefined;
  const parts = new Map<ClusterPart, unknown>();
  let serial = 1;
  for (const kv of kvs) {
    const key = parseKey(keys, kv.key.toString());
    if (key === "cluster") base = JSON.parse(kv.value.toString()) as Record<string, unknown>;
    else if (key === "serial") serial = Number(kv.value.toString());
    else if (key && "part" in key) parts.set(key.part, JSON.parse(kv.value.toString()));
    else if (key) maps[key.kind].set(key.uuid, JSON.parse(kv.value.toString()));
  }
  if (!base) return { snap: undefined, revision, held: [] };
  const { cluster, held } = mergeCluster(base, parts);
  return { revision, held, snap: snapshotOf(serial, cluster, (kind) => maps[kind]) };
}

function snapshotOf(serial: number, cluster: Cluster, map: (kind: ObjectKind) => ReadonlyMap<string, unknown>): ConfigSnapshot {
  // The maps hold what etcd had under each kind's prefix: the kind's objects, as written by a master.
  const view = (kind: ObjectKind) => map(kind) as ReadonlyMap<string, never>;
  return {
    serial,
    cluster,
    nodes: view("node"),
    groups: view("nodegroup"),
    instances: view("instance"),
    networks: view("network"),
    filters: view("filter"),
  };
}

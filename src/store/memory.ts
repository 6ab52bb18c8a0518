// Copy-on-write transactions over an immutable snapshot. Backends (SQLite, etcd) persist
// the changed objects a transaction reports and then publish the new snapshot.

import type { Cluster, ObjectKind } from "../model/objects.ts";
import type { ConfigSnapshot, ConfigTx, KindTypes } from "./store.ts";

const MAP_OF: Record<ObjectKind, "nodes" | "groups" | "instances" | "networks" | "filters"> = {
  node: "nodes",
  nodegroup: "groups",
  instance: "instances",
  network: "networks",
  filter: "filters",
};

export interface TxChanges {
  cluster?: Cluster;
  /** kind → uuid → new object, or null when removed. */
  objects: Map<ObjectKind, Map<string, unknown | null>>;
}

export const nowSeconds = (): number => Date.now() / 1000;

/**
 * A changed copy of a config object, which stays as it is: `change` gets a copy whose
 * properties are copied at once and whose object-valued properties (parameter dicts, lists)
 * are deep-copied the first time `change` reads them. Those it never reads are shared with
 * the original, as everything in a snapshot is immutable. (A tag change on the cluster no
 * longer copies its hypervisor parameters.)
 */
export function changedCopy<T extends object>(original: T, change: (copy: T) => void): T {
  const copy = { ...original };
  change(
    new Proxy(copy, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (typeof value !== "object" || value === null || value !== Reflect.get(original, key)) return value;
        const own: unknown = structuredClone(value);
        Reflect.set(target, key, own);
        return own;
      },
    }),
  );
  return copy;
}

export class DraftTx implements ConfigTx {
  private readonly base: ConfigSnapshot;
  private cluster: Cluster;
  private readonly maps = new Map<ObjectKind, Map<string, unknown>>();
  readonly changes: TxChanges = { objects: new Map() };

  constructor(base: ConfigSnapshot) {
    this.base = base;
    this.cluster = base.cluster;
  }

  get current(): ConfigSnapshot {
    const view = (kind: ObjectKind) => (this.maps.get(kind) ?? this.base[MAP_OF[kind]]) as ReadonlyMap<string, never>;
    return {
      serial: this.base.serial,
      cluster: this.cluster,
      nodes: view("node"),
      groups: view("nodegroup"),
      instances: view("instance"),
      networks: view("network"),
      filters: view("filter"),
    };
  }

  get touched(): boolean {
    return this.changes.cluster !== undefined || this.changes.objects.size > 0;
  }

  updateCluster(change: (cluster: Cluster) => void): Cluster {
    const copy = changedCopy(this.cluster, change);
    copy.serial_no += 1;
    copy.mtime = nowSeconds();
    this.cluster = copy;
    this.changes.cluster = copy;
    return copy;
  }

  add<K extends ObjectKind>(kind: K, obj: KindTypes[K]): KindTypes[K] {
    const map = this.writable(kind);
    const uuid = (obj as { uuid: string }).uuid;
    if (map.has(uuid)) throw new Error(`${kind} ${uuid} already exists`);
    if ("serial_no" in obj) {
      const now = nowSeconds();
      Object.assign(obj, { serial_no: 1, ctime: now, mtime: now });
    }
    this.set(kind, uuid, obj);
    return obj;
  }

  update<K extends ObjectKind>(kind: K, uuid: string, change: (obj: KindTypes[K]) => void): KindTypes[K] {
    const existing = this.writable(kind).get(uuid);
    if (existing === undefined) throw new Error(`${kind} ${uuid} does not exist`);
    const copy = changedCopy(existing as KindTypes[K], change);
    if ("serial_no" in copy) {
      copy.serial_no += 1;
      copy.mtime = nowSeconds();
    }
    this.set(kind, uuid, copy);
    return copy;
  }

  replace<K extends ObjectKind>(kind: K, obj: KindTypes[K]): void {
    this.set(kind, (obj as { uuid: string }).uuid, obj);
  }

  remove(kind: ObjectKind, uuid: string): void {
    const map = this.writable(kind);
    if (!map.delete(uuid)) throw new Error(`${kind} ${uuid} does not exist`);
    this.record(kind, uuid, null);
  }

  /** The snapshot readers see after commit. */
  result(serial: number): ConfigSnapshot {
    return { ...this.current, serial };
  }

  private set(kind: ObjectKind, uuid: string, obj: unknown): void {
    this.writable(kind).set(uuid, obj);
    this.record(kind, uuid, obj);
  }

  private record(kind: ObjectKind, uuid: string, obj: unknown | null): void {
    let m = this.changes.objects.get(kind);
    if (!m) this.changes.objects.set(kind, (m = new Map()));
    m.set(uuid, obj);
  }

  private writable(kind: ObjectKind): Map<string, unknown> {
    let map = this.maps.get(kind);
    if (!map) {
      // Copied once per transaction and kind, so readers of the old snapshot are unaffected.
      map = new Map(this.base[MAP_OF[kind]] as ReadonlyMap<string, unknown>);
      this.maps.set(kind, map);
    }
    return map;
  }
}

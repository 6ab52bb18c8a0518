// The cluster object in etcd: a base key (config/cluster) with its small fields, and one key per
// large, rarely changed parameter group (config/cluster-params/<field>). Of the 5.5 KB a new
// cluster's object takes, the parts hold 4.3 KB (hvparams alone 2.7 KB); a transaction that
// changes the cluster (a tag job) writes the base, and a part only when its value changed. A
// base written before the parts existed holds every field: its fields win over part keys, and
// a part counts as held in etcd only when the base lacks it, so the first write after an
// upgrade writes every part the base still carried, in the same txn as the base without them.

import type { Cluster } from "../../model/objects.ts";
import type { EtcdKeys } from "./client.ts";

/** The fields kept in keys of their own: the parameter groups, big by default or once set, that a tag job never changes. */
export const CLUSTER_PARTS = [
  "hvparams",
  "diskparams",
  "ipolicy",
  "ndparams",
  "beparams",
  "nicparams",
  "os_hvp",
  "osparams",
  "osparams_private_cluster",
  "enabled_data_collectors",
  "data_collector_interval",
] as const satisfies readonly (keyof Cluster)[];
export type ClusterPart = (typeof CLUSTER_PARTS)[number];

const PART_NAMES: ReadonlySet<string> = new Set(CLUSTER_PARTS);

/** The part a config key holds, or undefined (any other key, an unknown field's included). */
export function clusterPartOf(keys: EtcdKeys, key: string): ClusterPart | undefined {
  if (!key.startsWith(keys.configClusterParts)) return undefined;
  const field = key.slice(keys.configClusterParts.length);
  return PART_NAMES.has(field) ? (field as ClusterPart) : undefined;
}

/**
 * The cluster as its keys hold it: the base's fields, and each part the base lacks from its
 * key. `held`: the parts whose keys hold the cluster's value (a part the base carried is not).
 */
export function mergeCluster(base: Record<string, unknown>, parts: ReadonlyMap<ClusterPart, unknown>): { cluster: Cluster; held: ClusterPart[] } {
  const merged = { ...base };
  const held: ClusterPart[] = [];
  for (const part of CLUSTER_PARTS) {
    if (Object.hasOwn(base, part)) continue;
    held.push(part);
    if (parts.has(part)) merged[part] = parts.get(part);
  }
  // The keys' values, as written from a Cluster by a master or `corral store migrate`.
  return { cluster: merged as unknown as Cluster, held };
}

/** A cluster's JSON (as stored in SQLite) as etcd keys: the base and each part it has. */
export function splitCluster(keys: EtcdKeys, clusterJson: string): { key: string; value: string }[] {
  const cluster = JSON.parse(clusterJson) as Record<string, unknown>;
  const parts = CLUSTER_PARTS.filter((part) => Object.hasOwn(cluster, part)).map((part) => ({ key: keys.configClusterPart(part), value: JSON.stringify(cluster[part]) }));
  return [{ key: keys.configCluster, value: JSON.stringify(baseOf(cluster)) }, ...parts];
}

function baseOf(cluster: object): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(cluster)) if (!PART_NAMES.has(field)) base[field] = value;
  return base;
}

/** Equal values: the same object (a transaction keeps the fields it did not change), else the same JSON. */
const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** Which parts a master's etcd holds as its head has them, and the writes of a changed cluster. */
export class ClusterParts {
  private readonly keys: EtcdKeys;
  /** Parts whose keys hold the head's values (or are absent with the field): the base needs not carry them. */
  private readonly held = new Set<ClusterPart>();

  constructor(keys: EtcdKeys) {
    this.keys = keys;
  }

  /** What a load found (mergeCluster's `held`). */
  loaded(held: readonly ClusterPart[]): void {
    this.held.clear();
    for (const part of held) this.held.add(part);
  }

  /** A batch failed: which of its parts reached etcd is unknown, so the next cluster write writes them all. */
  forget(): void {
    this.held.clear();
  }

  /**
   * The writes that take the cluster from `before` (undefined: nothing in etcd) to `after`: the
   * base, and each part that changed or is not held. `parts`: those written, to `hold` once the
   * writes are certain to be sent (a transaction refused before that wrote nothing).
   */
  writes(before: Cluster | undefined, after: Cluster): { writes: { key: string; value: string | null }[]; parts: ClusterPart[] } {
    const writes: { key: string; value: string | null }[] = [{ key: this.keys.configCluster, value: JSON.stringify(baseOf(after)) }];
    const parts: ClusterPart[] = [];
    for (const part of CLUSTER_PARTS) {
      const value = after[part];
      if (before && this.held.has(part) && same(before[part], value)) continue;
      parts.push(part);
      // A field absent from a first config has no key to remove.
      if (!before && value === undefined) continue;
      // A field gone takes its key with it: a stale key must not come back on load.
      writes.push({ key: this.keys.configClusterPart(part), value: value === undefined ? null : JSON.stringify(value) });
    }
    return { writes, parts };
  }

  hold(parts: readonly ClusterPart[]): void {
    for (const part of parts) this.held.add(part);
  }
}

/** A part's new value as a standby's watch brings it (null: its key was deleted) on a copy of the cluster. */
export function withPart(cluster: Cluster, part: ClusterPart, value: string | null): Cluster {
  const copy: Record<string, unknown> = { ...cluster };
  if (value === null) delete copy[part];
  else copy[part] = JSON.parse(value);
  return copy as unknown as Cluster;
}

/** A base as a standby's watch brings it: the parts it lacks stay as the copy had them. */
export function withBase(cluster: Cluster, baseJson: string): Cluster {
  const base = JSON.parse(baseJson) as Record<string, unknown>;
  const parts = new Map<ClusterPart, unknown>();
  for (const part of CLUSTER_PARTS) if (Object.hasOwn(cluster, part)) parts.set(part, cluster[part]);
  return mergeCluster(base, parts).cluster;
}

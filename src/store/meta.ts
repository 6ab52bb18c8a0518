// A record of the master's own kept in the `meta` table beside the config (the last automatic
// balancing round): read once when the master starts, then from memory, and written through the
// durable log in order with everything else. It is no part of the config: writing it bumps no
// config serial and wakes no config listener.

import type { DatabaseSync } from "node:sqlite";
import type { DurableLog } from "./durable.ts";
import { EPOCH_KEY } from "./leadership.ts";

/** The config's own rows of the meta table (store/sqlite.ts) and the lease's fence: never a record's key. */
const CONFIG_KEYS: ReadonlySet<string> = new Set(["cluster", "serial", EPOCH_KEY]);

export class MetaRecord<T> {
  private readonly log: DurableLog;
  private readonly key: string;
  private value: T | undefined;

  constructor(db: DatabaseSync, log: DurableLog, key: string) {
    if (CONFIG_KEYS.has(key)) throw new Error(`meta key '${key}' belongs to the config`);
    this.log = log;
    this.key = key;
    const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    // Our own database, written by put() below: its JSON is what T serialized to.
    this.value = row === undefined ? undefined : (JSON.parse(row.value) as T);
  }

  /** The value last put, or read at start; undefined when there never was one. */
  get(): T | undefined {
    return this.value;
  }

  /** Shown by get() at once; resolves once it is on disk. */
  async put(value: T): Promise<void> {
    this.value = value;
    await this.log.append([{ t: "meta", key: this.key, value: JSON.stringify(value) }]);
  }
}

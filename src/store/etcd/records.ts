// What the SQLite backend keeps beside the config, on etcd: API tokens under <prefix>tokens/<id>
// and the master's own records (autobalance's last round) under <prefix>meta/<key>. Each kind
// is a copy of its prefix in memory (reads are synchronous), loaded at start, loaded again by a
// new leader, and followed by a standby (feed.ts); writes go through the durable log, fenced like the config.

import type { Watcher } from "etcd3";
import type { TokenRecord } from "../../model/tokens.ts";
import type { DurableLog } from "../durable.ts";
import { NotLeaderError, TAKING_OVER, type Leadership } from "../leadership.ts";
import type { TokenStore } from "../tokens.ts";
import { cancelWatch, type EtcdClient } from "./client.ts";
import type { FedCopy, FeedEvent } from "./feed.ts";

/** The values under one prefix, by the rest of their key, as etcd last had them. */
export class PrefixCopy implements FedCopy {
  readonly prefix: string;
  private readonly client: EtcdClient;
  private readonly values = new Map<string, string>();
  revision = 0;
  private watcher: Watcher | undefined;
  private closed = false;

  constructor(client: EtcdClient, prefix: string) {
    this.client = client;
    this.prefix = prefix;
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  size(): number {
    return this.values.size;
  }

  entries(): Iterable<[string, string]> {
    return this.values.entries();
  }

  /** What this master wrote itself (durable): shown at once, whatever the watch brings later. */
  set(name: string, value: string | null): void {
    if (value === null) this.values.delete(name);
    else this.values.set(name, value);
  }

  /** Reads the prefix again as etcd has it now. */
  async load(): Promise<void> {
    const { revision, kvs } = await this.client.list(this.prefix);
    this.values.clear();
    for (const kv of kvs) this.values.set(kv.key.toString().slice(this.prefix.length), kv.value.toString());
    this.revision = revision;
  }

  reload(): Promise<void> {
    return this.load();
  }

  /** Changes under the prefix, in order. */
  apply(events: readonly FeedEvent[]): void {
    for (const e of events) {
      this.revision = Math.max(this.revision, Number(e.kv.mod_revision));
      this.set(e.kv.key.toString().slice(this.prefix.length), e.type === "Delete" ? null : e.kv.value.toString());
    }
  }

  /**
   * Applies every change from the loaded revision on with a watch of its own (the sessions',
   * on a client of their own); lists again when etcd cancels the watch (compaction).
   */
  async follow(): Promise<void> {
    if (this.watcher || this.closed) return;
    const watcher = await this.client.watch(
      this.prefix,
      this.revision + 1,
      (res) => this.apply(res.events),
      () => {
        if (this.watcher !== watcher) return;
        this.watcher = undefined;
        void watcher.cancel().catch(() => undefined);
        void this.load().then(() => this.follow()).catch(() => undefined);
      },
    );
    this.watcher = watcher;
  }

  async close(): Promise<void> {
    this.closed = true;
    await cancelWatch(this.watcher);
    this.watcher = undefined;
  }
}

export class EtcdTokenStore implements TokenStore {
  private readonly copy: PrefixCopy;
  private readonly log: DurableLog;
  private readonly leadership: Leadership;

  constructor(copy: PrefixCopy, log: DurableLog, leadership: Leadership) {
    this.copy = copy;
    this.log = log;
    this.leadership = leadership;
  }

  get(id: string): TokenRecord | undefined {
    const data = this.copy.get(id);
    // Written by a master's put() below: its JSON is a TokenRecord.
    return data === undefined ? undefined : (JSON.parse(data) as TokenRecord);
  }

  *all(): Iterable<TokenRecord> {
    for (const [, data] of this.copy.entries()) yield JSON.parse(data) as TokenRecord;
  }

  async put(record: TokenRecord): Promise<void> {
    const data = JSON.stringify(record);
    // A new leader reloads the tokens while it takes over: one made meanwhile would be dropped.
    if (this.leadership.epoch !== undefined && !this.leadership.ready) throw new NotLeaderError(TAKING_OVER);
    // Valid only once written, as in SQLite mode.
    await this.log.append([{ t: "kv", key: this.copy.prefix + record.id, value: data }]);
    this.copy.set(record.id, data);
  }

  async remove(id: string): Promise<boolean> {
    if (this.copy.get(id) === undefined) return false;
    // Refused from now on, before the removal is durable.
    this.copy.set(id, null);
    await this.log.append([{ t: "kv", key: this.copy.prefix + id, value: null }]);
    return true;
  }
}

/** A record of the master's own (store/meta.ts's MetaRecord on etcd): the value as the copy has it. */
export class EtcdRecord<T> {
  private readonly copy: PrefixCopy;
  private readonly log: DurableLog;
  private readonly key: string;

  constructor(copy: PrefixCopy, log: DurableLog, key: string) {
    this.copy = copy;
    this.log = log;
    this.key = key;
  }

  get(): T | undefined {
    const value = this.copy.get(this.key);
    // Written by put() below: its JSON is what T serialized to.
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  async put(value: T): Promise<void> {
    const text = JSON.stringify(value);
    this.copy.set(this.key, text);
    await this.log.append([{ t: "kv", key: this.copy.prefix + this.key, value: text }]);
  }
}

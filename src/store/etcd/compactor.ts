// etcd keeps every revision of every key until someone compacts (off by default in 3.4,
// ETCD-FACTS §3.8), and a full history ends in NOSPACE: the whole cluster read-only. So the
// leading master compacts, as kube-apiserver does: every interval it compacts to the revision
// it saw one interval earlier, keeping one interval of history, so a standby's watch that lags
// less than that never finds its revision gone (one that does lists again). Only the leader
// compacts; a standby that takes over starts its own clock.
//
// etcd's compaction covers the whole keyspace, not only this cluster's prefix: on an etcd that
// other programs share, turn this off (interval 0) and let etcd's --auto-compaction-* do it.

import type { Leadership } from "../leadership.ts";
import type { EtcdClient } from "./client.ts";

/** kube-apiserver's default (--etcd-compaction-interval). */
export const DEFAULT_COMPACT_INTERVAL_MS = 5 * 60_000;

export interface CompactionReport {
  /** The revision compacted to. */
  revision: number;
  at: Date;
}

export class Compactor {
  private readonly client: EtcdClient;
  private readonly intervalMs: number;
  private readonly onError: (err: Error) => void;
  private timer: NodeJS.Timeout | undefined;
  /** The revision seen at the last tick: the next tick compacts to it. */
  private seen: number | undefined;
  private running = false;
  /** The last compaction this master made, and the last failure since (GET /corral/1/store). */
  last: CompactionReport | undefined;
  lastError: string | undefined;

  /** The interval, ms; 0: off. */
  get interval(): number {
    return this.intervalMs;
  }

  constructor(client: EtcdClient, leadership: Pick<Leadership, "onEstablish" | "onRevoke">, intervalMs: number, onError: (err: Error) => void) {
    this.client = client;
    this.intervalMs = intervalMs;
    this.onError = onError;
    if (intervalMs <= 0) return;
    leadership.onEstablish(() => this.start());
    leadership.onRevoke(() => this.stop());
  }

  private start(): void {
    this.stop();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.seen = undefined;
  }

  /** Compacts to the revision of the last tick (if any), then remembers today's. */
  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const target = this.seen;
      const now = await this.client.revision();
      if (this.timer === undefined) return;
      if (target !== undefined && target > 0) {
        try {
          await this.client.etcd.kv.compact({ revision: String(target), physical: false });
          this.last = { revision: target, at: new Date() };
          this.lastError = undefined;
        } catch (err) {
          // Someone (etcd's own auto-compaction) compacted past it already: nothing to do.
          if (!/required revision has been compacted/.test((err as Error).message)) throw err;
        }
      }
      this.seen = now;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.onError(err as Error);
    } finally {
      this.running = false;
    }
  }
}

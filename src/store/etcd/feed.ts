// A standby's copy of the cluster, kept hot by one watch on the cluster's whole prefix: every
// committed change reaches each copy (config, jobs, tokens, the masters' records) in etcd's
// order, at one revision stream. The leader holds no watch: it wrote each change itself, and
// etcd sending every write back to it cost the leader (decoding) and etcd (sending) for nothing
// (bench/ha.ts: etcd sent out twice what it took in). So the feed stops when this master
// leads, and a master that lost leadership reads every copy again before it follows on.

import type { IKeyValue, Watcher } from "etcd3";
import { cancelWatch, type EtcdClient } from "./client.ts";

/** One change of a followed key, as etcd's watch reports it. */
export interface FeedEvent {
  readonly type: "Put" | "Delete";
  readonly kv: IKeyValue;
}

/** A part of the cluster's state a standby holds in memory, kept by the feed. */
export interface FedCopy {
  /** The keys this copy holds start with it. */
  readonly prefix: string;
  /** The etcd revision the copy is at: changes at or below it are in it already. */
  readonly revision: number;
  /** Reads the copy again as etcd has it now. */
  reload(): Promise<void>;
  /** After every copy was read again: tells whoever shows this one. */
  reloaded?(): void;
  /** The changes under its prefix past its revision, in etcd's order (one watch response's). */
  apply(events: readonly FeedEvent[]): void;
}

/** How long a failed restart waits before it tries again (etcd unreachable). */
const RETRY_MS = 1000;

export class StandbyFeed {
  private readonly client: EtcdClient;
  private readonly root: string;
  private readonly onError: (err: Error) => void;
  private copies: readonly FedCopy[] = [];
  private watcher: Watcher | undefined;
  /** Bumped by every stop and start: work begun under an older one gives up, a watch's callbacks included. */
  private generation = 0;
  private started = false;
  private retry: NodeJS.Timeout | undefined;
  /** The newest revision the watch brought (any key under the root): every copy is complete up to it. */
  private seen = 0;
  private readonly seenWaiters = new Set<() => void>();

  /** `onError`: following broke (etcd cancelled the watch, or a restart failed) and is being restarted; for the log. */
  constructor(client: EtcdClient, root: string, onError: (err: Error) => void) {
    this.client = client;
    this.root = root;
    this.onError = onError;
  }

  /** Whether a watch is held now (standing by), not while leading. */
  get following(): boolean {
    return this.watcher !== undefined;
  }

  /**
   * Whether every copy holds what etcd had at `revision` (the watch brought it) within `withinMs`.
   * A new leader's copy complete up to its own campaign's revision is the store as of its fence.
   */
  async reached(revision: number, withinMs: number): Promise<boolean> {
    const deadline = performance.now() + withinMs;
    while (this.seen < revision) {
      const left = deadline - performance.now();
      if (left <= 0 || !this.following) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.seenWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.seenWaiters.add(wake);
      });
    }
    return true;
  }

  /** Follows from each copy's revision on (they are loaded); again after every `resume`. */
  async start(copies: readonly FedCopy[]): Promise<void> {
    this.copies = copies;
    this.started = true;
    await this.watchFrom(++this.generation);
  }

  /** This master leads: no more watching (the cancel is not waited for: a takeover must not). */
  stop(): void {
    this.generation++;
    this.seen = 0;
    for (const wake of [...this.seenWaiters]) wake();
    clearTimeout(this.retry);
    const watcher = this.watcher;
    this.watcher = undefined;
    void cancelWatch(watcher);
  }

  /** Reads every copy again and follows on (leadership lost; etcd cancelled the watch), retrying until it does or is stopped. */
  resume(before?: () => Promise<void>): void {
    if (!this.started) return;
    this.stop();
    const generation = this.generation;
    const attempt = async () => {
      await before?.();
      if (generation !== this.generation) return;
      for (const copy of this.copies) await copy.reload();
      if (generation !== this.generation) return;
      for (const copy of this.copies) copy.reloaded?.();
      await this.watchFrom(generation);
    };
    const run = () =>
      void attempt().catch((err: unknown) => {
        if (generation !== this.generation) return;
        this.onError(err instanceof Error ? err : new Error(String(err)));
        this.retry = setTimeout(run, RETRY_MS);
      });
    run();
  }

  close(): void {
    this.started = false;
    this.stop();
  }

  private async watchFrom(generation: number): Promise<void> {
    // Every copy has what is at or below its own revision: the watch starts after the oldest.
    let from = Infinity;
    for (const copy of this.copies) from = Math.min(from, copy.revision);
    const watcher = await this.client.watch(
      this.root,
      (from === Infinity ? 0 : from) + 1,
      (res) => {
        if (generation === this.generation) this.dispatch(res.events as readonly FeedEvent[]);
      },
      (err) => {
        if (generation !== this.generation) return;
        this.onError(err);
        this.resume();
      },
    );
    if (generation !== this.generation) return void cancelWatch(watcher);
    this.watcher = watcher;
  }

  private dispatch(events: readonly FeedEvent[]): void {
    const byCopy = new Map<FedCopy, FeedEvent[]>();
    let newest = this.seen;
    for (const e of events) {
      const revision = Number(e.kv.mod_revision);
      newest = Math.max(newest, revision);
      const key = e.kv.key.toString();
      const copy = this.copies.find((c) => key.startsWith(c.prefix));
      if (!copy || revision <= copy.revision) continue;
      let list = byCopy.get(copy);
      if (!list) byCopy.set(copy, (list = []));
      list.push(e);
    }
    // In the copies' order (the config before the jobs whose changes it holds).
    for (const copy of this.copies) {
      const list = byCopy.get(copy);
      if (list) copy.apply(list);
    }
    if (newest > this.seen) {
      this.seen = newest;
      for (const wake of [...this.seenWaiters]) wake();
    }
  }
}

// Group commit for everything the master writes: config changes and job states go into one
// ordered log of writes; all writes asked for during one turn of the event loop (its I/O
// callbacks and microtasks included) become one SQLite transaction (one fsync), and each
// writer's promise resolves once its transaction is on disk. The transaction runs on a sink:
// inline, or in a worker thread so the event loop keeps serving while the disk syncs (SQLite's
// sinks: sqlite-sink.ts; etcd's: etcd/sink.ts).

import type { AuditRecord } from "../model/audit.ts";
import { Gathering } from "./gather.ts";
import type { Leadership } from "./leadership.ts";

export type WriteOp =
  | { t: "object"; kind: string; uuid: string; data: string | null }
  | { t: "meta"; key: string; value: string }
  | { t: "job"; id: number; data: string }
  | { t: "archive"; id: number }
  /** An API token's record (store/tokens.ts), or its removal (data null). */
  | { t: "token"; id: string; data: string | null }
  /** A key of a key-value store (etcd) and its value, or its removal (null): for the etcd sink only. */
  | { t: "kv"; key: string; value: string | null }
  | AuditWrite;

/** The audit trail's rows (src/master/audit.ts): batched with everything else, never a write of their own. */
export type AuditWrite =
  /** Records as a JSON array (AuditRecord[]): one string to hand to the writer thread, not an object a record. */
  | { t: "audit"; rows: string }
  | { t: "auditJob"; id: number; index: number; status: string }
  /** `before` null: the count bound only (a range of the primary key; the age needs a scan of every row). */
  | { t: "auditPrune"; before: number | null; uptoId: number };

/** A row of the `audit` table: a record with its jobs as JSON. */
export type AuditRow = Omit<AuditRecord, "jobs"> & { jobs: string };

/**
 * A row given as a function that renders it when its batch goes to the sink. `key` names the
 * row ("job:12", "meta:cluster", "object:node:<uuid>"); a row already waiting in the batch
 * is not queued twice. The batch then holds each row's state as it is when the batch is
 * sent: the state every write queued before then leads to, since every change made before
 * then queued its row in this batch or an earlier one.
 */
export interface LazyRow {
  t: "lazy";
  key: string;
  render: () => WriteOp;
}

export type LogOp = WriteOp | LazyRow;

export interface CommitSink {
  /** Writes the batch atomically, refused unless `epoch` (when given) is the store's current fence. */
  commit(ops: WriteOp[], epoch?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * What one batch may hold (etcd: 128 operations and 1.5 MiB a txn). `meter` starts a batch;
 * its `add` counts a write in and says whether the batch still fits; `check` throws, saying
 * why, when the writes counted do not.
 */
export interface BatchLimit {
  meter(): { add(op: WriteOp): boolean; check(): void };
}

/** How long writes queued with appendLater wait for a batch to join. */
const LATER_MS = 200;

/**
 * The ordered log of writes. Everything appended during one turn of the event loop goes to
 * the sink as one batch (lazy rows rendered then); the sink keeps batches in order.
 */
export class DurableLog {
  private readonly sink: CommitSink;
  private queued: LogOp[] = [];
  /** With a batch limit: where each append ends in `queued` and `waiters`, so a batch is cut between appends. */
  private marks: { ops: number; waiters: number }[] = [];
  /** Keys of the lazy rows in `queued`: a later write of theirs is already covered. */
  private queuedKeys = new Set<string>();
  /** `reply`: durable, it answers a client (a submission): see gather.ts. */
  private waiters: { resolve: () => void; reject: (e: unknown) => void; reply: boolean }[] = [];
  private scheduled = false;
  /** A batch is with the sink; the next one waits for it, growing meanwhile. */
  private inFlight = false;
  private last: Promise<void> = Promise.resolve();
  /**
   * Told when a batch cannot be written, before its writers and every writer queued after
   * it hear so (those are refused too: they were made on top of it). The config store rolls
   * its pending state back; the master revokes leadership.
   */
  private readonly failureListeners: ((err: unknown) => void)[] = [];
  /** Told of each batch once it is durable: its writes, and sent → durable in seconds (metrics). */
  onCommitted: ((writes: number, seconds: number) => void) | undefined;
  private laterTimer: NodeJS.Timeout | undefined;
  /** Batches committed so far. */
  commits = 0;

  /** Whose fence each batch carries; without one (tools, tests) batches are not fenced. */
  private readonly leadership: Leadership | undefined;
  private readonly limit: BatchLimit | undefined;
  private readonly gathering: Gathering;
  /** The timer of a batch that waits for the clients the last one answered. */
  private gatherTimer: NodeJS.Timeout | undefined;

  /**
   * With a limit, a batch holds as many whole appends as fit (at least one), and lazy rows are
   * rendered when appended: a batch cut before a later append must not hold that append's state.
   * `gatherMs`: the longest a batch waits for the clients the last one answered (gather.ts).
   */
  constructor(sink: CommitSink, leadership?: Leadership, limit?: BatchLimit, gatherMs = 0) {
    this.sink = sink;
    this.leadership = leadership;
    this.limit = limit;
    this.gathering = new Gathering(gatherMs);
  }

  onFailure(listener: (err: unknown) => void): void {
    this.failureListeners.push(listener);
  }

  /** Throws NotLeaderError when writes are refused now (not leading). */
  checkWritable(): void {
    this.leadership?.fence();
  }

  /**
   * Queues writes; resolves once they (and everything queued before them) are durable.
   * Refused at once (NotLeaderError) while this master does not lead. `reply`: their
   * durability answers a client (a submission), who is likely to write again soon.
   */
  append(ops: LogOp[], reply = false): Promise<void> {
    try {
      this.checkWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.limit) {
      // An append that alone is over the limit is refused alone, before it is queued: sent, it
      // would fail its batch, every write queued after it, and with them the master's term.
      const rendered = ops.map((op) => (op.t === "lazy" ? op.render() : op));
      const meter = this.limit.meter();
      for (const op of rendered) meter.add(op);
      try {
        meter.check();
      } catch (err) {
        return Promise.reject(err);
      }
      this.queued.push(...rendered);
    } else for (const op of ops) {
      if (op.t === "lazy") {
        if (this.queuedKeys.has(op.key)) continue;
        this.queuedKeys.add(op.key);
      }
      this.queued.push(op);
    }
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject, reply }));
    if (this.limit) this.marks.push({ ops: this.queued.length, waiters: this.waiters.length });
    this.schedule();
    return done;
  }

  /**
   * Queues writes nobody waits for (the audit trail's) without a transaction of their own:
   * they go with the next batch something else sends, or after LATER_MS when nothing does.
   * Appending them as writes of their own split the job burst's group commits in two.
   */
  appendLater(ops: LogOp[]): void {
    this.queued.push(...ops);
    this.laterTimer ??= setTimeout(() => {
      this.laterTimer = undefined;
      if (this.queued.length > 0) void this.append([]).catch(() => undefined);
    }, LATER_MS).unref();
  }

  private schedule(): void {
    if (this.inFlight) return;
    if (this.scheduled) {
      // Waiting for clients to come back, and they all are: no need to wait out the timer.
      if (this.gatherTimer !== undefined && this.gathering.waitMs(this.waiters) === 0) {
        clearTimeout(this.gatherTimer);
        this.gatherTimer = undefined;
        setImmediate(() => this.send());
      }
      return;
    }
    this.scheduled = true;
    const wait = this.gathering.waitMs(this.waiters);
    if (wait > 0) {
      this.gatherTimer = setTimeout(() => {
        this.gatherTimer = undefined;
        this.send();
      }, wait);
      return;
    }
    // After this turn's other I/O callbacks and their microtasks: the requests that arrived
    // together, and the jobs they started, share one transaction.
    setImmediate(() => this.send());
  }

  /** Resolves when everything queued so far is durable. */
  async flush(): Promise<void> {
    if (this.queued.length > 0) await this.append([]).catch(() => undefined);
    await this.last.catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.laterTimer);
    await this.sink.close();
  }

  private send(): void {
    this.scheduled = false;
    this.gathering.sent();
    this.inFlight = true;
    const { ops: cut, waiters: cutWaiters } = this.batchEnd();
    const queued = this.queued.splice(0, cut);
    const waiters = this.waiters.splice(0, cutWaiters);
    if (this.limit) this.marks = this.marks.filter((m) => m.ops > cut).map((m) => ({ ops: m.ops - cut, waiters: m.waiters - cutWaiters }));
    this.queuedKeys.clear();
    let ops: WriteOp[];
    let rendered: Promise<void>;
    let epoch: number | undefined;
    try {
      // Fenced: a batch made while leading is still refused once leadership is gone.
      epoch = this.leadership?.fence();
      ops = queued.map((op) => (op.t === "lazy" ? op.render() : op));
      rendered = Promise.resolve();
    } catch (err) {
      ops = [];
      rendered = Promise.reject(err);
    }
    // One batch at a time: everything queued while it is with the sink goes out as the next
    // one when it is done, so a batch counts as durable once it and every batch before it are.
    const sent = performance.now();
    const committed = ops.length > 0 ? this.sink.commit(ops, epoch) : rendered;
    this.last = committed.then(
      () => {
        this.commits++;
        if (ops.length > 0) this.onCommitted?.(ops.length, (performance.now() - sent) / 1000);
        this.gathering.committed(waiters, this.waiters, performance.now() - sent);
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        // What was queued meanwhile was made on top of this batch: refused with it.
        const chained = this.waiters;
        this.queued = [];
        this.marks = [];
        this.queuedKeys.clear();
        this.waiters = [];
        for (const listener of this.failureListeners) listener(err);
        for (const w of [...waiters, ...chained]) w.reject(err);
      },
    );
    void this.last.finally(() => {
      this.inFlight = false;
      if (this.waiters.length > 0) this.schedule();
    });
  }

  /** Where the next batch ends: everything queued, or with a limit the whole appends that fit (one at least). */
  private batchEnd(): { ops: number; waiters: number } {
    const all = { ops: this.queued.length, waiters: this.waiters.length };
    if (!this.limit || this.marks.length === 0) return all;
    const meter = this.limit.meter();
    let end = { ops: 0, waiters: 0 };
    for (const mark of this.marks) {
      for (let i = end.ops; i < mark.ops; i++) {
        // Only lazy rows are left unrendered without a limit; with one they were rendered on append.
        if (!meter.add(this.queued[i] as WriteOp) && end.ops > 0) return end;
      }
      end = mark;
    }
    // Writes queued after the last append (appendLater) go too.
    return all;
  }
}

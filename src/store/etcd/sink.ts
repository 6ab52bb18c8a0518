// The durable log's sink on etcd: a batch of key-value writes becomes one etcd txn that
// succeeds only while the leader key's create revision is the writer's fence, so a master
// another one has replaced writes nothing more. A key written several times in a batch (group
// commit of several transactions) is written once, as the last write left it.

import type { BatchLimit, CommitSink, WriteOp } from "../durable.ts";
import { NotLeaderError, StoreUnavailableError, type Leadership } from "../leadership.ts";
import { MAX_TXN_BYTES, MAX_TXN_OPS, type EtcdClient } from "./client.ts";
import type { IRequestOp } from "etcd3";

/** A change larger than one etcd txn may be: refused whole, before anything is written. */
export class TxnTooLargeError extends Error {
  constructor(keys: number, bytes: number) {
    super(
      `This change writes ${keys} etcd keys (${bytes} bytes) in one transaction; etcd allows at most ${MAX_TXN_OPS} keys and ` +
        `${MAX_TXN_BYTES} bytes (its --max-txn-ops and --max-request-bytes): split it into smaller changes`,
    );
    this.name = "TxnTooLargeError";
  }
}

/** The keys and bytes of a set of writes, counted as an etcd txn would carry them. */
export class TxnMeter {
  private readonly keys = new Set<string>();
  bytes = 0;

  get size(): number {
    return this.keys.size;
  }

  /** Counts a write in; says whether the writes so far still fit one txn. */
  add(op: WriteOp): boolean {
    if (op.t !== "kv") throw new Error(`a ${op.t} write cannot go to etcd`);
    if (!this.keys.has(op.key)) {
      this.keys.add(op.key);
      this.bytes += op.key.length + 16;
    }
    // UTF-8 bytes, as etcd counts them (a string's length undercounts up to 3 times).
    this.bytes += op.value === null ? 0 : Buffer.byteLength(op.value);
    return this.fits();
  }

  fits(): boolean {
    return this.keys.size <= MAX_TXN_OPS && this.bytes <= MAX_TXN_BYTES;
  }

  check(): void {
    if (!this.fits()) throw new TxnTooLargeError(this.keys.size, this.bytes);
  }
}

/** Batches of the durable log, cut to what one etcd txn takes. */
export const ETCD_BATCH_LIMIT: BatchLimit = { meter: () => new TxnMeter() };

/** etcd's quota is exceeded: the whole cluster refuses writes until an operator frees space (ETCD-FACTS §3.6). */
export class EtcdNoSpaceError extends StoreUnavailableError {
  constructor(cause: Error) {
    super(
      `etcd is out of space (NOSPACE alarm: ${cause.message}); every write is refused until an operator compacts and ` +
        "defragments etcd and then disarms the alarm (etcdctl compact, etcdctl defrag, etcdctl alarm disarm)",
    );
    this.name = "EtcdNoSpaceError";
  }
}

/** A write's error, with NOSPACE said plainly. */
export function explained(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  return /database space exceeded|NOSPACE/i.test(e.message) ? new EtcdNoSpaceError(e) : e;
}

export class EtcdSink implements CommitSink {
  private readonly client: EtcdClient;
  private readonly leaderKey: Buffer;
  private readonly leadership: Pick<Leadership, "whenActing"> | undefined;
  /** The revision of the last committed batch. */
  revision = 0;

  /** `leadership`: a fenced batch waits, as orders do, while the leader may not act (liveness.ts). */
  constructor(client: EtcdClient, leaderKey: string, leadership?: Pick<Leadership, "whenActing">) {
    this.client = client;
    this.leaderKey = Buffer.from(leaderKey);
    this.leadership = leadership;
  }

  async commit(ops: WriteOp[], epoch?: number): Promise<void> {
    const meter = new TxnMeter();
    const writes = new Map<string, string | null>();
    for (const op of ops) {
      meter.add(op);
      if (op.t !== "kv") continue;
      writes.delete(op.key);
      writes.set(op.key, op.value);
    }
    meter.check();
    const success: IRequestOp[] = [...writes].map(([key, value]) =>
      value === null ? { request_delete_range: { key: Buffer.from(key) } } : { request_put: { key: Buffer.from(key), value: Buffer.from(value) } },
    );
    if (epoch !== undefined && this.leadership && (await this.leadership.whenActing()) !== epoch) {
      throw new NotLeaderError(`this master may no longer act on fence ${epoch}: its liveness in etcd was not confirmed`);
    }
    const compare = epoch === undefined ? [] : [{ key: this.leaderKey, target: "Create" as const, result: "Equal" as const, create_revision: epoch }];
    const res = await this.client.etcd.kv.txn({ compare, success }).catch((err: unknown) => {
      throw explained(err);
    });
    if (!res.succeeded) throw new NotLeaderError(`fenced out: the leader key no longer has create revision ${epoch}`);
    this.revision = Number(res.header.revision);
  }

  async close(): Promise<void> {}
}

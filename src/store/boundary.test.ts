// The store boundary a replicated store needs (issue 17): transactions visible only once
// durable, chained on the pending head, refused with every successor when their batch fails,
// and fenced by leadership.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { DatabaseSync } from "node:sqlite";
import { SqliteJobStore } from "../jobs/writer.ts";
import { initializeCluster } from "../ops/init.ts";
import { DurableLog, type CommitSink, type WriteOp } from "./durable.ts";
import { InlineSink, WorkerSink } from "./sqlite-sink.ts";
import { LocalLease, NotLeaderError } from "./leadership.ts";
import { openDatabase, SqliteConfigStore } from "./sqlite.ts";
import type { ConfigSnapshot } from "./store.ts";

/** A sink that holds each batch until the test lets it through (or fails it), then writes it inline. */
class GatedSink implements CommitSink {
  private readonly inline: InlineSink;
  readonly held: { ops: WriteOp[]; pass: () => void; fail: (e: Error) => void }[] = [];
  constructor(db: DatabaseSync) {
    this.inline = new InlineSink(db);
  }
  commit(ops: WriteOp[], epoch?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.held.push({
        ops,
        pass: () => void this.inline.commit(ops, epoch).then(resolve, reject),
        fail: reject,
      });
    });
  }
  async close(): Promise<void> {}
}

const turn = () => new Promise((r) => setImmediate(r));

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), "corral-boundary-"));
  const path = join(dir, "config.db");
  const db = openDatabase(path);
  const sink = new GatedSink(db);
  const lease = new LocalLease(db);
  const log = new DurableLog(sink, lease);
  const store = new SqliteConfigStore(db, log);
  initializeCluster(store, {
    clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
    enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
  });
  const commits: string[][] = [];
  store.onCommit((snap) => commits.push([...snap.cluster.tags]));
  /** The config as a new store reading the file sees it. */
  const onDisk = (): ConfigSnapshot => new SqliteConfigStore(openDatabase(path)).snapshot();
  const done = () => rmSync(dir, { recursive: true, force: true });
  return { db, path, sink, lease, log, store, commits, onDisk, done };
}

const tag = (t: string) => (tx: Parameters<Parameters<SqliteConfigStore["transact"]>[0]>[0]) =>
  tx.updateCluster((c) => void (c.tags = [...c.tags, t])).tags;

describe("config transactions over a replicated-store boundary", () => {
  it("are invisible to readers until durable, while the next one builds on them", async () => {
    const t = fresh();
    try {
      await t.lease.establish();
      const first = t.store.transact(tag("a"));
      const second = t.store.transact(tag("b"));
      await turn();
      assert.equal(t.sink.held.length, 1, "one batch for both");
      assert.deepEqual(t.store.snapshot().cluster.tags, [], "readers see the committed config");
      assert.deepEqual(t.store.head().cluster.tags, ["a", "b"], "the head holds both, chained");
      assert.deepEqual(t.commits, [], "no listener told yet");
      assert.deepEqual(t.onDisk().cluster.tags, []);
      t.sink.held[0].pass();
      assert.deepEqual(await second, ["a", "b"]);
      assert.deepEqual(await first, ["a"]);
      assert.deepEqual(t.commits, [["a"], ["a", "b"]], "listeners see each commit, in order, once durable");
      assert.deepEqual(t.store.snapshot().cluster.tags, ["a", "b"]);
      assert.equal(t.store.snapshot(), t.store.head());
      assert.deepEqual(t.onDisk().cluster.tags, ["a", "b"]);
    } finally {
      t.done();
    }
  });

  it("refuse a failed batch's transactions and those chained on them, and roll the head back to the disk", async () => {
    const t = fresh();
    try {
      await t.lease.establish();
      await Promise.all([t.store.transact(tag("kept")), turn().then(() => t.sink.held[0].pass())]);
      const inFlight = t.store.transact(tag("lost1"));
      await turn();
      assert.equal(t.sink.held.length, 2, "the batch is with the sink");
      // Made while that batch is out: queued behind it, built on its changes.
      const chained = t.store.transact(tag("lost2"));
      assert.deepEqual(t.store.head().cluster.tags, ["kept", "lost1", "lost2"]);
      t.sink.held[1].fail(new Error("disk full"));
      await assert.rejects(inFlight, /disk full/);
      await assert.rejects(chained, /disk full/);
      assert.equal(t.sink.held.length, 2, "the chained transaction never reached the sink");
      assert.deepEqual(t.store.snapshot().cluster.tags, ["kept"]);
      assert.equal(t.store.head(), t.store.snapshot(), "the head is back at the committed config");
      assert.deepEqual(t.onDisk().cluster.tags, ["kept"]);
      assert.equal(t.onDisk().serial, t.store.snapshot().serial);
      assert.deepEqual(t.commits, [["kept"]]);
    } finally {
      t.done();
    }
  });

  it("revoke leadership when a batch fails, and refuse every write after revoke", async () => {
    const t = fresh();
    const revoked: string[] = [];
    t.log.onFailure((err) => t.lease.revoke(String(err)));
    t.lease.onRevoke((reason) => revoked.push(reason));
    try {
      await t.lease.establish();
      const jobs = new SqliteJobStore(t.db, t.log);
      const failing = t.store.transact(tag("x"));
      await turn();
      t.sink.held[0].fail(new Error("I/O error"));
      await assert.rejects(failing, /I\/O error/);
      assert.equal(revoked.length, 1);
      assert.match(revoked[0], /I\/O error/);
      assert.equal(t.lease.epoch, undefined);
      const before = t.store.snapshot();
      await assert.rejects(t.store.transact(tag("y")), (err) => err instanceof NotLeaderError && /not the leader \(leadership lost: .*I\/O error/.test(err.message));
      await assert.rejects(async () => await jobs.allocateIds(1), NotLeaderError);
      await assert.rejects(jobs.write({ id: 1 } as never), NotLeaderError);
      assert.equal(t.sink.held.length, 1, "nothing more reached the sink");
      assert.equal(t.store.snapshot(), before);
      assert.equal(t.store.head(), before);
    } finally {
      t.done();
    }
  });

  it("refuse a batch made under leadership but sent after it was revoked", async () => {
    const t = fresh();
    try {
      await t.lease.establish();
      const first = t.store.transact(tag("a"));
      await turn();
      const queued = t.store.transact(tag("b"));
      t.lease.revoke("lease expired");
      t.sink.held[0].pass();
      await first;
      await assert.rejects(queued, NotLeaderError);
      assert.equal(t.sink.held.length, 1, "the queued batch never reached the sink");
      assert.deepEqual(t.onDisk().cluster.tags, ["a"]);
      assert.deepEqual(t.store.snapshot().cluster.tags, ["a"]);
    } finally {
      t.done();
    }
  });

  it("fence out a master when another takes the database's lease: its next batch is refused by the database", async () => {
    const t = fresh();
    try {
      await t.lease.establish();
      const other = new LocalLease(openDatabase(t.path));
      const otherEpoch = await other.establish();
      assert.equal(otherEpoch, (t.lease.epoch ?? 0) + 1);
      // Through the writer thread: the check runs in the database transaction, not in this process's memory.
      const log = new DurableLog(new WorkerSink(t.path), t.lease);
      try {
        await assert.rejects(log.append([{ t: "meta", key: "stale", value: "1" }]), /fenced out: the database's leader epoch is \d+, this master's \d+/);
      } finally {
        await log.close();
      }
      const row = t.db.prepare("SELECT value FROM meta WHERE key = 'stale'").get();
      assert.equal(row, undefined);
    } finally {
      t.done();
    }
  });
});

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DurableLog, type CommitSink, type WriteOp } from "./durable.ts";
import { InlineSink, WorkerSink } from "./sqlite-sink.ts";
import { Gathering } from "./gather.ts";
import { openDatabase } from "./sqlite.ts";

function tempDb() {
  const dir = mkdtempSync(join(tmpdir(), "corral-durable-"));
  return { dir, path: join(dir, "config.db") };
}

describe("DurableLog", () => {
  it("puts every write of one event-loop turn into one transaction, in order", async () => {
    const batches: WriteOp[][] = [];
    const sink: CommitSink = { commit: async (ops) => void batches.push(ops), close: async () => {} };
    const log = new DurableLog(sink);
    await Promise.all([
      log.append([{ t: "meta", key: "a", value: "1" }]),
      log.append([{ t: "meta", key: "b", value: "2" }]),
      log.append([{ t: "meta", key: "a", value: "3" }]),
    ]);
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0].map((o) => (o as { value: string }).value), ["1", "2", "3"]);
  });

  it("renders a job's state when its batch is sent: one row, the latest state", async () => {
    const batches: WriteOp[][] = [];
    const sink: CommitSink = { commit: async (ops) => void batches.push(ops), close: async () => {} };
    const log = new DurableLog(sink);
    const job = { id: 4, status: "queued" };
    const row = { t: "lazy" as const, key: "job:4", render: () => ({ t: "job" as const, id: 4, data: JSON.stringify(job) }) };
    const writes = [log.append([row])];
    job.status = "running";
    writes.push(log.append([{ t: "meta", key: "serial", value: "2" }]));
    writes.push(log.append([row]));
    job.status = "success";
    await Promise.all(writes);
    assert.deepEqual(batches, [[{ t: "job", id: 4, data: '{"id":4,"status":"success"}' }, { t: "meta", key: "serial", value: "2" }]]);
    // A write after the batch went out is a row of the next batch.
    await log.append([row]);
    assert.equal(batches.length, 2);
  });

  it("fails the batch, not the writer, when a state cannot be rendered", async () => {
    let reported: unknown;
    const log = new DurableLog({ commit: async () => {}, close: async () => {} });
    log.onFailure((err) => (reported = err));
    const bad = log.append([{ t: "lazy", key: "job:1", render: () => { throw new Error("cyclic"); } }]);
    await assert.rejects(bad, /cyclic/);
    assert.match(String(reported), /cyclic/);
  });

  it("keeps one batch with the sink; what comes meanwhile goes next, as one batch, and flush waits for all", async () => {
    const started: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sink: CommitSink = {
      commit: async (ops) => {
        started.push(ops.length);
        if (started.length === 1) await gate;
      },
      close: async () => {},
    };
    const log = new DurableLog(sink);
    const first = log.append([{ t: "meta", key: "x", value: "1" }]);
    await new Promise((r) => setImmediate(r));
    const second = log.append([{ t: "meta", key: "y", value: "2" }]);
    await new Promise((r) => setImmediate(r));
    const third = log.append([{ t: "meta", key: "z", value: "3" }]);
    let flushed = false;
    const flushing = log.flush().then(() => (flushed = true));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(started, [1], "nothing else went to the sink while the first batch was there");
    assert.equal(flushed, false);
    release();
    await Promise.all([first, second, third, flushing]);
    assert.deepEqual(started, [1, 2]);
  });

  it("with gatherMs, waits for the clients a batch answered: their next submissions share one commit", async () => {
    // Two clients answered by one batch come back 5 ms apart; the commit takes 20 ms.
    async function commitsFor(gatherMs: number): Promise<number[]> {
      const batches: number[] = [];
      const sink: CommitSink = {
        commit: async (ops) => {
          batches.push(ops.length);
          await new Promise((r) => setTimeout(r, 20));
        },
        close: async () => {},
      };
      const log = new DurableLog(sink, undefined, undefined, gatherMs);
      const put = (key: string) => log.append([{ t: "meta", key, value: "v" }], true);
      await Promise.all([put("a1"), put("b1")]);
      const a2 = put("a2");
      await new Promise((r) => setTimeout(r, 5));
      await Promise.all([a2, put("b2")]);
      return batches;
    }
    assert.deepEqual(await commitsFor(1000), [2, 2], "a2 waited for b2");
    assert.deepEqual(await commitsFor(0), [2, 1, 1], "without gathering, a2 went alone");
  });

  it("gathers only after a batch that answered several clients, and for at most the last commit's time", () => {
    const reply = { reply: true };
    const other = { reply: false };
    const g = new Gathering(1000);
    g.committed([reply, other, other], [], 30);
    assert.equal(g.waitMs([]), 0, "one client answered: the next one goes at once");
    g.committed([reply, reply], [other], 30);
    const wait = g.waitMs([reply]);
    assert.ok(wait > 0 && wait <= 30, `waits for the second client, at most the commit's 30 ms (${wait})`);
    assert.equal(g.waitMs([reply, other, reply]), 0, "both back: no wait");
    g.sent();
    assert.equal(g.waitMs([]), 0, "the batch sent ends the wait");
    const capped = new Gathering(5);
    capped.committed([reply, reply], [], 30);
    assert.ok(capped.waitMs([]) <= 5, "never longer than the cap");
    const off = new Gathering(0);
    off.committed([reply, reply], [], 30);
    assert.equal(off.waitMs([]), 0, "off: never waits");
  });

  it("commits a burst from many writers in few transactions through the writer thread", async () => {
    const { dir, path } = tempDb();
    const log = new DurableLog(new WorkerSink(path));
    try {
      const writes = [];
      for (let i = 0; i < 200; i++) {
        writes.push(log.append([{ t: "job", id: i + 1, data: `{"id":${i + 1}}` }]));
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(writes);
      const reader = openDatabase(path);
      assert.equal((reader.prepare("SELECT COUNT(*) AS n FROM jobs").get() as { n: number }).n, 200);
      reader.close();
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects the writers of a failed batch and reports the failure", async () => {
    let reported: unknown;
    const log = new DurableLog({ commit: async () => { throw new Error("disk full"); }, close: async () => {} });
    log.onFailure((err) => (reported = err));
    await assert.rejects(log.append([{ t: "meta", key: "k", value: "v" }]), /disk full/);
    assert.match(String(reported), /disk full/);
  });

  it("commits through a writer thread, visible to other connections, all or nothing", async () => {
    const { dir, path } = tempDb();
    const reader = openDatabase(path);
    const log = new DurableLog(new WorkerSink(path));
    try {
      await log.append([{ t: "job", id: 7, data: '{"id":7}' }, { t: "meta", key: "serial", value: "9" }]);
      assert.equal((reader.prepare("SELECT data FROM jobs WHERE id = 7").get() as { data: string }).data, '{"id":7}');
      // A batch with a failing statement leaves nothing behind.
      await assert.rejects(log.append([{ t: "meta", key: "serial", value: "10" }, { t: "object", kind: "node", uuid: "u", data: undefined as unknown as string }]));
      assert.equal((reader.prepare("SELECT value FROM meta WHERE key = 'serial'").get() as { value: string }).value, "9");
    } finally {
      await log.close();
      reader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("inline sink writes on the calling thread", async () => {
    const { dir, path } = tempDb();
    const db = openDatabase(path);
    const log = new DurableLog(new InlineSink(db));
    await log.append([{ t: "meta", key: "k", value: "v" }]);
    assert.equal((db.prepare("SELECT value FROM meta WHERE key = 'k'").get() as { value: string }).value, "v");
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

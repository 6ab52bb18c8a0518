import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { DatabaseSync } from "node:sqlite";
import type { Job } from "../model/job.ts";
import { buildOpcode } from "../model/opcode.ts";
import { OpTagsSet } from "../model/opcodes/tags.ts";
import { initializeCluster } from "../ops/init.ts";
import { defineLU, type LogicalUnit, type MasterServices } from "../ops/lu.ts";
import type { LiveView } from "../query/live.ts";
import { tagsSetLU } from "../ops/tags.ts";
import type { NodeRpcClient } from "../rpc/index.ts";
import { DurableLog, type WriteOp } from "../store/durable.ts";
import { InlineSink } from "../store/sqlite-sink.ts";
import { openDatabase, SqliteConfigStore } from "../store/sqlite.ts";
import { LocalLease, NotLeaderError } from "../store/leadership.ts";
import { LockManager } from "./locks.ts";
import { JobQueue } from "./queue.ts";
import { SqliteJobStore } from "./writer.ts";
import { awaitJob, jobFinished, type PvcServices } from "../api/pvc/jobs.ts";

/** A queue over a real database; `onNodeCall` sees each node RPC as it is made. */
function setup(onNodeCall: (call: string) => unknown = () => undefined, beforeCommit: () => unknown = () => undefined) {
  const dir = mkdtempSync(join(tmpdir(), "corral-queue-"));
  const db = openDatabase(join(dir, "config.db"));
  const batches: WriteOp[][] = [];
  const inline = new InlineSink(db);
  const lease = new LocalLease(db);
  const log = new DurableLog({
    commit: async (ops, epoch) => {
      batches.push(ops);
      await beforeCommit();
      await inline.commit(ops, epoch);
    },
    close: async () => {},
  }, lease);
  const store = new SqliteConfigStore(db, log);
  initializeCluster(store, {
    clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
    enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
  });
  const node = new Proxy({ node: "n1" }, {
    get: (target, key) => (key in target ? Reflect.get(target, key) : async () => void (await onNodeCall(String(key)))),
  }) as unknown as NodeRpcClient;
  const rpcLU = defineLU({
    opcode: OpTagsSet,
    locks: () => ({}),
    checkPrereq: () => undefined,
    async exec(ctx) {
      await ctx.master.node({ uuid: "u", name: "n1", agent_endpoint: "local" }).version({});
      return "called";
    },
  });
  // Writes the config, reads it back as the job and as readers see it, then calls a node.
  const seen: { byJob?: string[]; byReaders?: string[] } = {};
  const writeRpcLU = defineLU({
    opcode: OpTagsSet,
    locks: () => ({}),
    checkPrereq: () => undefined,
    async exec(ctx) {
      // Past the batch with the job's running state: the write goes to disk in a batch of its own.
      await new Promise((r) => setTimeout(r, 5));
      await ctx.master.store.transact((tx) => void tx.updateCluster((c) => void (c.tags = ["written"])));
      seen.byJob = [...ctx.snapshot().cluster.tags];
      seen.byReaders = [...store.snapshot().cluster.tags];
      await ctx.master.node({ uuid: "u", name: "n1", agent_endpoint: "local" }).version({});
      return "called";
    },
  });
  const lus = new Map<string, LogicalUnit>([["OP_TAGS_SET", tagsSetLU], ["OP_TEST_RPC", rpcLU], ["OP_TEST_WRITE_RPC", writeRpcLU]]);
  const services: Pick<MasterServices, "node" | "live"> = { node: () => node, live: {} as LiveView };
  const queue = new JobQueue({ store, jobs: new SqliteJobStore(db, log), logicalUnits: lus, services, locks: new LockManager() });
  // As the master wires it: leading loads the queue, losing the lead stops its jobs.
  lease.onEstablish(() => queue.recover());
  lease.onRevoke((reason) => queue.revoke(reason));
  const onDisk = (id: number): Job => JSON.parse((db.prepare("SELECT data FROM jobs WHERE id = ?").get(id) as { data: string }).data) as Job;
  const done = async () => {
    await queue.idle();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { db: db as DatabaseSync, batches, queue, store, lease, onDisk, seen, done };
}

const tagOp = (tag: string) => buildOpcode(OpTagsSet, { kind: "cluster", tags: [tag] });

describe("JobQueue", () => {
  it("returns ids once the jobs are durable; a short job's whole run shares that transaction", async () => {
    const t = setup();
    try {
      await t.lease.establish();
      const [id] = await t.queue.submitJobs([[tagOp("a")]]);
      assert.equal(t.batches.length, 1);
      assert.equal(t.onDisk(id).ops[0].status, "success");
      assert.deepEqual(t.store.snapshot().cluster.tags, ["a"]);
      // The job's row and the config's rows are written once each in that transaction.
      assert.deepEqual(t.batches[0].map((op) => (op.t === "meta" ? `meta:${op.key}` : op.t)).sort(), ["job", "meta:cluster", "meta:serial"]);
    } finally {
      await t.done();
    }
  });

  it("makes a job's running state durable before its first node RPC", async () => {
    let statusAtCall: string | undefined;
    let id = 0;
    const t = setup(() => {
      statusAtCall = t.onDisk(id).ops[0].status;
    });
    try {
      await t.lease.establish();
      const op = { ...tagOp("b"), OP_ID: "OP_TEST_RPC" };
      id = t.queue.highestJobId() + 1;
      assert.deepEqual(await t.queue.submitJobs([[op]]), [id]);
      await t.queue.idle();
      assert.equal(statusAtCall, "running");
      assert.equal(t.onDisk(id).ops[0].status, "success");
      assert.equal(t.onDisk(id).ops[0].result, "called");
    } finally {
      await t.done();
    }
  });

  it("lets a job read its own pending write, and holds its node calls until that write is durable", async () => {
    let tagsOnDiskAtCall: string[] | undefined;
    const t = setup(() => {
      tagsOnDiskAtCall = JSON.parse((t.db.prepare("SELECT value FROM meta WHERE key = 'cluster'").get() as { value: string }).value).tags as string[];
    });
    try {
      await t.lease.establish();
      const [id] = await t.queue.submitJobs([[{ ...tagOp("x"), OP_ID: "OP_TEST_WRITE_RPC" }]]);
      await t.queue.idle();
      assert.equal(t.onDisk(id).ops[0].status, "success");
      assert.deepEqual(t.seen.byJob, ["written"], "the job sees its own write at once");
      assert.deepEqual(t.seen.byReaders, [], "readers do not, until it is durable");
      assert.deepEqual(tagsOnDiskAtCall, ["written"], "the node call came once the write was on disk");
    } finally {
      await t.done();
    }
  });

  it("shows a job's end to readers only once it is durable, with its config change", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = setup(undefined, () => gate);
    try {
      await t.lease.establish();
      const submitted = t.queue.submitJobs([[tagOp("seen")]]);
      // (Polled, not a fixed pause: a loaded machine may take longer to hand the batch over.)
      for (let waited = 0; t.batches.length === 0 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.equal(t.batches.length, 1, "the batch is with the (held) disk");
      const id = t.queue.highestJobId();
      assert.equal(t.queue.liveJob(id)!.ops[0].status, "success", "the job ran to its end in memory");
      assert.equal(t.queue.get(id)!.ops[0].status, "running", "readers do not see the end yet");
      assert.deepEqual(t.store.snapshot().cluster.tags, [], "nor the change");
      release();
      assert.deepEqual(await submitted, [id]);
      await t.queue.idle();
      assert.equal(t.queue.get(id)!.ops[0].status, "success");
      assert.deepEqual(t.store.snapshot().cluster.tags, ["seen"]);
      assert.equal(t.batches.length, 1, "all in one group commit");
    } finally {
      // A failed assertion above must not leave the disk held (the test would hang).
      release();
      await t.done();
    }
  });

  it("a waiter that first saw a job's end still settling (PVC's awaitJob) is woken when the end is durable", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = setup(undefined, () => gate);
    try {
      await t.lease.establish();
      void t.queue.submitJobs([[tagOp("waited")]]);
      for (let waited = 0; t.batches.length === 0 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      const id = t.queue.highestJobId();
      assert.equal(t.queue.get(id)!.ops[0].status, "running", "readers see the job still running (its end is not durable yet)");
      const started = Date.now();
      // The services a PVC handler has, reduced to the queue this waiter reads (a test's cast).
      const waiting = awaitJob({ queue: t.queue } as unknown as PvcServices, id, jobFinished, 10_000);
      release();
      await waiting;
      assert.ok(Date.now() - started < 5_000, "woken at the durable end, not at the timeout");
      assert.equal(t.queue.get(id)!.ops[0].status, "success");
    } finally {
      release();
      await t.done();
    }
  });

  it("once leadership is revoked, ends the running job in error, starts no queued one and refuses new ones", async () => {
    let release!: () => void;
    const rpcGate = new Promise<void>((r) => (release = r));
    const t = setup(() => rpcGate);
    try {
      await t.lease.establish();
      await t.store.transact((tx) => void tx.updateCluster((c) => void (c.max_running_jobs = 1)));
      const op = { ...tagOp("b"), OP_ID: "OP_TEST_RPC" };
      const [running, queued] = await t.queue.submitJobs([[op], [tagOp("never")]]);
      for (let waited = 0; t.queue.get(running)!.ops[0].status !== "running" && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      assert.equal(t.queue.get(running)!.ops[0].status, "running");
      t.lease.revoke("lease lost");
      release();
      await t.queue.idle();
      const ended = t.queue.liveJob(running)!;
      assert.equal(ended.ops[0].status, "error");
      assert.match(JSON.stringify(ended.ops[0].result), /lost leadership \(lease lost\) while the job ran/);
      assert.equal(t.queue.get(running)!.ops[0].status, "running", "readers see it as the disk has it");
      assert.equal(t.queue.get(queued)!.ops[0].status, "queued", "the queued job did not start");
      assert.equal(t.onDisk(running).ops[0].status, "running", "its end was refused: the next leader fails it on disk");
      await assert.rejects(t.queue.submitJobs([[tagOp("c")]]), NotLeaderError);
      assert.deepEqual(t.store.snapshot().cluster.tags, []);
    } finally {
      release();
      await t.done();
    }
  });
});

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
import { DurableLog, InlineSink, type WriteOp } from "../store/durable.ts";
import { openDatabase, SqliteConfigStore } from "../store/sqlite.ts";
import { LockManager } from "./locks.ts";
import { JobQueue } from "./queue.ts";
import { JobWriter } from "./writer.ts";

/** A queue over a real database; `onNodeCall` sees each node RPC as it is made. */
function setup(onNodeCall: (call: string) => void = () => undefined) {
  const dir = mkdtempSync(join(tmpdir(), "corral-queue-"));
  const db = openDatabase(join(dir, "config.db"));
  const batches: WriteOp[][] = [];
  const inline = new InlineSink(db);
  const log = new DurableLog({
    commit: async (ops) => {
      batches.push(ops);
      await inline.commit(ops);
    },
    close: async () => {},
  });
  const store = new SqliteConfigStore(db, log);
  initializeCluster(store, {
    clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
    enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
  });
  const node = new Proxy({ node: "n1" }, {
    get: (target, key) => (key in target ? Reflect.get(target, key) : async () => void onNodeCall(String(key))),
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
  const lus = new Map<string, LogicalUnit>([["OP_TAGS_SET", tagsSetLU], ["OP_TEST_RPC", rpcLU]]);
  const services: Pick<MasterServices, "node" | "live"> = { node: () => node, live: {} as LiveView };
  const queue = new JobQueue({ store, writer: new JobWriter(db, log), logicalUnits: lus, services, locks: new LockManager() });
  const onDisk = (id: number): Job => JSON.parse((db.prepare("SELECT data FROM jobs WHERE id = ?").get(id) as { data: string }).data) as Job;
  const done = async () => {
    await queue.idle();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { db: db as DatabaseSync, batches, queue, store, onDisk, done };
}

const tagOp = (tag: string) => buildOpcode(OpTagsSet, { kind: "cluster", tags: [tag] });

describe("JobQueue", () => {
  it("returns ids once the jobs are durable; a short job's whole run shares that transaction", async () => {
    const t = setup();
    try {
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
});

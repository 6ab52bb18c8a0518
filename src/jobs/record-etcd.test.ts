// Job records on a real etcd (Debian's etcd-server, default request limit 1.5 MiB): a job that
// logs more than 2 MiB is stored with its log trimmed, one whose result is 2 MiB ends in error
// saying so, the jobs submitted with them succeed, and the master keeps its term; a write over
// etcd's limit is refused alone, not with the writes of its batch.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EtcdCluster, etcdNeeds } from "../../test/support/etcd.ts";
import type { Job } from "../model/job.ts";
import { calcJobStatus } from "../model/job.ts";
import { buildOpcode } from "../model/opcode.ts";
import { OpTagsSet } from "../model/opcodes/tags.ts";
import { initializeCluster } from "../ops/init.ts";
import { defineLU, type LogicalUnit, type MasterServices } from "../ops/lu.ts";
import { tagsSetLU } from "../ops/tags.ts";
import type { LiveView } from "../query/live.ts";
import type { NodeRpcClient } from "../rpc/index.ts";
import { openEtcdStores, type EtcdStores } from "../store/etcd/backend.ts";
import { TxnTooLargeError } from "../store/etcd/sink.ts";
import { LockManager } from "./locks.ts";
import { JobQueue } from "./queue.ts";
import { JOB_RECORD_MAX_BYTES } from "./record.ts";

const INIT = {
  clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
  enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
};
const CLUSTER = "records";
/** Entries the chatty job logs, of ENTRY characters each: 2.5 MiB in all. */
const ENTRIES = 320;
const ENTRY = 8192;

// Test units behind opcodes the queue runs (as queue.test.ts does): the parameters are a tag op's.
const chattyLU = defineLU({
  opcode: OpTagsSet,
  locks: () => ({}),
  checkPrereq: () => undefined,
  async exec(ctx) {
    for (let i = 1; i <= ENTRIES; i++) {
      ctx.feedback(`entry ${i} ${"l".repeat(ENTRY)}`);
      // Written out as it goes, as a long-running opcode's log is.
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    return "logged";
  },
});
const bigResultLU = defineLU({
  opcode: OpTagsSet,
  locks: () => ({}),
  checkPrereq: () => undefined,
  exec: async () => "r".repeat(2 * 1024 * 1024),
});

etcdNeeds.describe("job records on etcd, under its request limit", () => {
  let etcd: EtcdCluster;
  let stores: EtcdStores;
  let queue: JobQueue;
  const revoked: string[] = [];
  const opened: EtcdStores[] = [];

  before(async () => {
    etcd = await EtcdCluster.start(1);
    stores = await openEtcdStores({ endpoints: etcd.endpoints, cluster: CLUSTER, name: "a", ttlSeconds: 5 });
    opened.push(stores);
    await initializeCluster(stores.config, INIT);
    const lus = new Map<string, LogicalUnit>([["OP_TAGS_SET", tagsSetLU], ["OP_TEST_CHATTY", chattyLU], ["OP_TEST_BIG_RESULT", bigResultLU]]);
    const services: Pick<MasterServices, "node" | "live"> = { node: () => ({}) as NodeRpcClient, live: {} as LiveView };
    queue = new JobQueue({ store: stores.config, jobs: stores.jobs, logicalUnits: lus, services, locks: new LockManager() });
    stores.leadership.onEstablish(() => queue.recover());
    stores.leadership.onRevoke((reason) => {
      revoked.push(reason);
      queue.revoke(reason);
    });
    await stores.leadership.establish();
  });
  after(async () => {
    await queue?.idle();
    for (const s of opened) await s.close().catch(() => undefined);
    await etcd?.stop();
  });

  describe("a job logging 2.5 MiB and one with a 2 MiB result, beside 20 tag jobs submitted with them", () => {
    let ids: number[] = [];
    let epoch: number | undefined;

    before(async () => {
      epoch = stores.leadership.epoch;
      const tag = (t: string) => buildOpcode(OpTagsSet, { kind: "cluster", tags: [t] });
      const tagJobs = Array.from({ length: 20 }, (_, i) => [tag(`t${i}`)]);
      ids = await queue.submitJobs([[{ ...tag("c"), OP_ID: "OP_TEST_CHATTY" }], [{ ...tag("r"), OP_ID: "OP_TEST_BIG_RESULT" }], ...tagJobs]);
      await queue.idle();
    });

    it("keeps leadership: no write was refused", () => {
      assert.deepEqual(revoked, []);
      assert.equal(stores.leadership.epoch, epoch);
    });

    it("runs the tag jobs submitted with them", () => {
      for (const id of ids.slice(2)) assert.equal(calcJobStatus(queue.get(id) as Job), "success", `job ${id}`);
      assert.equal(stores.config.snapshot().cluster.tags.length, 20);
    });

    it("stores the chatty job as succeeded, its first and last log entries kept under the record limit", async () => {
      const raw = await stores.client.etcd.kv.range({ key: Buffer.from(stores.keys.job(ids[0])) });
      assert.ok(raw.kvs[0].value.length <= JOB_RECORD_MAX_BYTES, `${raw.kvs[0].value.length} bytes in etcd`);
      // As a standby or the next leader reads it.
      const reader = await openEtcdStores({ endpoints: etcd.endpoints, cluster: CLUSTER, name: "b", ttlSeconds: 5 });
      opened.push(reader);
      const stored = reader.jobs.loadOne(ids[0]) as Job;
      assert.equal(calcJobStatus(stored), "success");
      assert.equal(stored.ops[0].result, "logged");
      const log = stored.ops[0].log;
      assert.match(String(log[0][3]), /^entry 1 l+ \[\d+ characters cut\]$/);
      assert.match(String(log.at(-1)?.[3]), new RegExp(`^entry ${ENTRIES} l+( \\[\\d+ characters cut\\])?$`));
      const note = log.find((e) => /log entries dropped here/.test(String(e[3])));
      assert.ok(note, "a note says entries were dropped");
      assert.deepEqual(stored, JSON.parse(JSON.stringify(queue.get(ids[0]))), "the leader shows what etcd holds");
    });

    it("ends the job with the 2 MiB result in error, saying why", () => {
      const job = queue.get(ids[1]) as Job;
      assert.equal(calcJobStatus(job), "error");
      const [cls, [message]] = job.ops[0].result as [string, [string]];
      assert.equal(cls, "OpExecError");
      assert.match(message, /^The opcode ran, but its result \(2097154 bytes\) is larger than a stored job keeps/);
    });
  });

  it("refuses a write over etcd's limit alone: the writes appended with it are committed", async () => {
    const epoch = stores.leadership.epoch;
    const key = (name: string) => `${stores.keys.root}test/${name}`;
    const [big, small, after] = await Promise.allSettled([
      stores.log.append([{ t: "kv", key: key("big"), value: "x".repeat(1200 * 1024) }]),
      stores.log.append([{ t: "kv", key: key("small"), value: "ok" }]),
      stores.config.transact((tx) => tx.updateCluster((c) => void (c.tags = [...c.tags, "after"])).tags),
    ]);
    assert.equal(big.status, "rejected");
    assert.ok(big.status === "rejected" && big.reason instanceof TxnTooLargeError, String(big.status === "rejected" && big.reason));
    assert.equal(small.status, "fulfilled");
    assert.equal(after.status, "fulfilled");
    const read = await stores.client.etcd.kv.range({ key: Buffer.from(key("small")) });
    assert.equal(read.kvs[0].value.toString(), "ok");
    assert.equal(stores.leadership.epoch, epoch);
    assert.deepEqual(revoked, []);
  });
});

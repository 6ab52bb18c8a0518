// The etcd store's write and load paths (issue 17), on real etcd started here (1 and 3 members
// on loopback ports, stopped by pid at the end), beside the SQLite store on a temporary file:
// config transactions one at a time (each waits for its commit) and CONCURRENCY at a time
// (group commit: one txn per turn, cut at 128 keys), job id allocation, and loading a config
// of NODES nodes (pages pinned to one revision).
//
//   source scripts/node-env.sh && node bench/etcd-store.ts [--seconds 3] [--concurrency 16] [--nodes 5000]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EtcdCluster } from "../test/support/etcd.ts";
import { initialConfig, initializeCluster } from "../src/ops/init.ts";
import { openEtcdStores } from "../src/store/etcd/backend.ts";
import { DurableLog } from "../src/store/durable.ts";
import { WorkerSink } from "../src/store/sqlite-sink.ts";
import { LocalLease } from "../src/store/leadership.ts";
import { openDatabase, SqliteConfigStore } from "../src/store/sqlite.ts";
import type { ConfigStore, ConfigTx } from "../src/store/store.ts";

const { values: v } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    nodes: { type: "string", default: "5000" },
  },
});
const SECONDS = Number(v.seconds);
const CONCURRENCY = Number(v.concurrency);
const NODES = Number(v.nodes);
const INIT = {
  clusterName: "bench", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
  enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
};
let tagNo = 0;
const tag = (tx: ConfigTx) => void tx.updateCluster((c) => void (c.tags = [...c.tags.slice(-20), `t${++tagNo}`]));

/** Transactions for SECONDS, `parallel` chains at once: per second, and p50/p99 of each one's wait. */
async function transactions(store: ConfigStore, parallel: number): Promise<string> {
  const waits: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await store.transact(tag);
        waits.push(performance.now() - t0);
      }
    }),
  );
  waits.sort((a, b) => a - b);
  const q = (p: number) => waits[Math.min(waits.length - 1, Math.floor(p * waits.length))].toFixed(2);
  return `${Math.round(waits.length / SECONDS)} tx/s (p50 ${q(0.5)} ms, p99 ${q(0.99)} ms)`;
}

async function addNodes(store: ConfigStore, count: number): Promise<void> {
  // 120 a transaction: under etcd's 128 keys with the serial.
  for (let done = 0; done < count; done += 120) {
    await store.transact((tx) => {
      for (let i = done; i < Math.min(count, done + 120); i++) {
        const { node } = initialConfig({ ...INIT, nodeName: `node${i}` });
        tx.add("node", { ...node, uuid: `uuid-${i}` });
      }
    });
  }
}

async function benchEtcd(size: 1 | 3): Promise<void> {
  const etcd = await EtcdCluster.start(size);
  try {
    const s = await openEtcdStores({ endpoints: etcd.endpoints, cluster: "bench", name: "a" });
    await initializeCluster(s.config, INIT);
    await s.leadership.establish();
    console.log(`etcd ${size} member(s): transactions one at a time: ${await transactions(s.config, 1)}`);
    const commits1 = s.log.commits;
    const concurrent = await transactions(s.config, CONCURRENCY);
    console.log(`etcd ${size} member(s): ${CONCURRENCY} at a time: ${concurrent}, ${((s.log.commits - commits1) / SECONDS).toFixed(0)} etcd txns/s`);
    let t0 = performance.now();
    const ids = await s.jobs.allocateIds(2000);
    console.log(`etcd ${size} member(s): 2000 job ids in ${(performance.now() - t0).toFixed(0)} ms (${Math.round(2000 / ((performance.now() - t0) / 1000))} ids/s), unique: ${new Set(ids).size === 2000}`);
    t0 = performance.now();
    await addNodes(s.config, NODES);
    console.log(`etcd ${size} member(s): ${NODES} nodes added in ${(performance.now() - t0).toFixed(0)} ms`);
    t0 = performance.now();
    const reader = await openEtcdStores({ endpoints: etcd.endpoints, cluster: "bench", name: "reader" });
    console.log(`etcd ${size} member(s): config of ${reader.config.snapshot().nodes.size} nodes loaded in ${(performance.now() - t0).toFixed(0)} ms`);
    await reader.close();
    await s.close();
  } finally {
    await etcd.stop();
  }
}

async function benchSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "corral-bench-sqlite-"));
  try {
    const path = join(dir, "config.db");
    const db = openDatabase(path);
    const lease = new LocalLease(db);
    const log = new DurableLog(new WorkerSink(path), lease);
    const store = new SqliteConfigStore(db, log);
    initializeCluster(store, INIT);
    await lease.establish();
    console.log(`sqlite: transactions one at a time: ${await transactions(store, 1)}`);
    console.log(`sqlite: ${CONCURRENCY} at a time: ${await transactions(store, CONCURRENCY)}`);
    await store.close();
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await benchSqlite();
await benchEtcd(1);
await benchEtcd(3);

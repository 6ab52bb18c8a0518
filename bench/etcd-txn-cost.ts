// What one etcd txn of the durable log costs, by its shape (issue 17, the tag-job burst): the
// three members' CPU and the client's CPU per txn for a batch of 4 tag jobs (585 B each, the
// size bench/ha.ts's jobs have) with the cluster object (5.6 KB, as bench/ha.ts's cluster) and
// the serial; the same with a 0.4 KB cluster object; and with 8 jobs. One txn at a time, as the
// durable log sends them, with one watcher on the prefix (a standby). Real etcd, 3 members on
// loopback ports, started here and stopped by pid. Each shape is measured --repeats times,
// alternating, and the medians printed: the machine is shared.
//
//   source scripts/node-env.sh && node bench/etcd-txn-cost.ts [--txns 600] [--repeats 3]

import { parseArgs } from "node:util";
import type { IRequestOp } from "etcd3";
import { EtcdCluster } from "../test/support/etcd.ts";
import { EtcdClient } from "../src/store/etcd/client.ts";
import { cpuSecondsOf } from "./lib/master.ts";
import { median } from "./lib/ab.ts";

const { values: v } = parseArgs({ options: { txns: { type: "string", default: "600" }, repeats: { type: "string", default: "3" } } });
const TXNS = Number(v.txns);
const REPEATS = Number(v.repeats);

const SHAPES = [
  { name: "cluster 5.6 KB + 4 jobs + serial", clusterBytes: 5635, jobs: 4 },
  { name: "cluster 0.4 KB + 4 jobs + serial", clusterBytes: 400, jobs: 4 },
  { name: "cluster 5.6 KB + 8 jobs + serial", clusterBytes: 5635, jobs: 8 },
];

const etcd = await EtcdCluster.start(3);
const client = new EtcdClient({ endpoints: etcd.endpoints });
const follower = new EtcdClient({ endpoints: etcd.endpoints });
try {
  const watcher = await follower.watch("/bench/", 1, () => undefined, () => undefined);
  let serial = 0;
  const ops = (clusterBytes: number, jobs: number): IRequestOp[] => [
    { request_put: { key: Buffer.from("/bench/config/cluster"), value: Buffer.alloc(clusterBytes, "c") } },
    ...Array.from({ length: jobs }, (_, i) => ({ request_put: { key: Buffer.from(`/bench/jobs/${String(serial * 8 + i).padStart(16, "0")}`), value: Buffer.alloc(585, "j") } })),
    { request_put: { key: Buffer.from("/bench/config/serial"), value: Buffer.from(String(++serial)) } },
  ];
  const membersCpu = () => [0, 1, 2].reduce((s, i) => s + cpuSecondsOf(etcd.pid(i) as number), 0);
  const results = SHAPES.map((shape) => ({ shape, etcd: [] as number[], client: [] as number[], wall: [] as number[] }));
  for (let r = 0; r < REPEATS; r++) {
    for (const m of r % 2 === 0 ? results : [...results].reverse()) {
      const shape = m.shape;
      for (let i = 0; i < 50; i++) await client.etcd.kv.txn({ success: ops(shape.clusterBytes, shape.jobs) });
      const e0 = membersCpu();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < TXNS; i++) await client.etcd.kv.txn({ success: ops(shape.clusterBytes, shape.jobs) });
      const c = process.cpuUsage(c0);
      m.wall.push((performance.now() - t0) / TXNS);
      m.etcd.push(((membersCpu() - e0) * 1000) / TXNS);
      // The client process also decodes the watcher's events (a standby's share): counted here.
      m.client.push((c.user + c.system) / 1000 / TXNS);
    }
  }
  await watcher.cancel();
  console.log(`${TXNS} txns a shape, ${REPEATS} repeats alternating; medians; load average ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  console.log("| txn | etcd CPU ms a txn (3 members) | client CPU ms a txn (incl. one watcher) | wall ms a txn |");
  console.log("|---|---|---|---|");
  const f = (xs: number[]) => median(xs).toFixed(2);
  for (const m of results) console.log(`| ${m.shape.name} | ${f(m.etcd)} (${m.etcd.map((x) => x.toFixed(2)).join(", ")}) | ${f(m.client)} | ${f(m.wall)} |`);
} finally {
  client.close();
  follower.close();
  await etcd.stop();
}

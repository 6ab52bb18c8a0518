// The balancing plan through the API (issue 16): a master in this process with a seeded
// cluster of NODES nodes and INSTANCES shared-storage instances (piled on the first nodes),
// then GET /corral/1/balance?max-moves=N timed from request to answer, while /version is
// asked one request after the other: the master's event loop must keep answering (the plan
// runs on the balancing worker thread). Measured: the plan's time, the longest event-loop
// stall while it ran (perf_hooks' event-loop delay) and the slowest /version answer; and the
// same two over as long with no plan running (what the machine's load alone does). Before
// each run but the first, one instance gets a tag: a new config snapshot, as after any job
// (the first run is the first request after the whole cluster was added).
//
//   source scripts/node-env.sh && node bench/balance-api.ts [--nodes 2000] [--instances 100000]
//     [--max-moves 100] [--runs 2]
//
// Prints one line per run (the first run also builds the master's caches of the new config).

import { randomUUID } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { prng } from "../test/support/fuzzgen.ts";
import { call, startTestMaster, USERS, type TestMaster } from "../test/support/cluster.ts";

const { values: v } = parseArgs({
  options: {
    nodes: { type: "string", default: "2000" },
    instances: { type: "string", default: "100000" },
    "max-moves": { type: "string", default: "100" },
    runs: { type: "string", default: "2" },
  },
});
const NODES = Number(v.nodes);
const INSTANCES = Number(v.instances);
const SHAPES = [512, 1024, 2048, 3072, 4096, 6144, 8192, 12288];

/** Nodes served by the master's own agent (each reports its facts), instances piled on the first ones. */
async function seed(t: TestMaster): Promise<void> {
  const random = prng(16);
  await t.master.store.transact((tx) => {
    const master = [...tx.current.nodes.values()][0];
    const uuids = [master.uuid];
    for (let n = 1; n < NODES; n++) {
      const ip = `127.3.${n >> 8}.${n & 255}`;
      const node = { ...master, uuid: randomUUID(), name: `node${n + 1}.corral.test`, primary_ip: ip, secondary_ip: ip, master_candidate: false, tags: [] };
      tx.add("node", node);
      uuids.push(node.uuid);
    }
    for (let i = 0; i < INSTANCES; i++) {
      const pnode = uuids[Math.floor(random() * random() * NODES)];
      const mem = SHAPES[Math.floor(random() * SHAPES.length)];
      tx.add("instance", {
        uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [], name: `inst${i}.corral.test`,
        primary_node: pnode, secondary_nodes: [], os: "noop", hypervisor: "fake", hvparams: {},
        beparams: { minmem: mem, maxmem: mem, vcpus: 1 + (i % 4) }, osparams: {}, osparams_private: {},
        admin_state: random() < 0.9 ? "up" : "down", admin_state_source: "admin", disk_template: "sharedfile", nics: [], network_port: null, disks_active: false,
        disks: [{ uuid: randomUUID(), name: null, size: 10240, mode: "rw", dev_type: "sharedfile", spindles: null, logical_id: [], params: {}, nodes: [pnode], serial_no: 1, ctime: 0, mtime: 0 }],
      });
    }
  });
}

const auth = `Basic ${Buffer.from(`reader:${USERS.reader}`).toString("base64")}`;

const t = await startTestMaster({ localMemoryMiB: 524288, liveRefreshMs: 3_600_000 });
try {
  let start = performance.now();
  await seed(t);
  await t.master.live.refresh();
  console.log(`seeded ${NODES} nodes / ${INSTANCES} instances in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  /** /version one request after the other until `done()`: how many, the slowest, the longest stall. */
  const pingUntil = async (done: () => boolean) => {
    delay.reset();
    delay.enable();
    let pings = 0;
    let slowest = 0;
    while (!done()) {
      const at = performance.now();
      const r = await call(t.master.port, "GET", "/version");
      if (r.status !== 200) throw new Error(`/version: ${r.status}`);
      slowest = Math.max(slowest, performance.now() - at);
      pings++;
    }
    delay.disable();
    return `longest event-loop stall ${(delay.max / 1e6).toFixed(0)} ms; /version answered ${pings} times, slowest ${slowest.toFixed(0)} ms`;
  };
  for (let run = 1; run <= Number(v.runs); run++) {
    if (run > 1) await t.master.store.transact((tx) => tx.update("instance", [...tx.current.instances.keys()][0], (i) => void i.tags.push(`run${run}`)));
    start = performance.now();
    let done = false;
    const plan = fetch(`http://127.0.0.1:${t.master.port}/corral/1/balance?max-moves=${v["max-moves"]}`, { headers: { Authorization: auth } }).then(async (r) => {
      const body = (await r.json()) as { moves?: unknown[]; initial_score?: number; final_score?: number; message?: string };
      done = true;
      if (r.status !== 200) throw new Error(`GET /corral/1/balance: ${r.status} ${body.message}`);
      return { seconds: (performance.now() - start) / 1000, body };
    });
    const during = await pingUntil(() => done);
    const { seconds, body } = await plan;
    console.log(`run ${run}: plan of ${body.moves?.length} moves (${body.initial_score?.toFixed(6)} -> ${body.final_score?.toFixed(6)}) in ${seconds.toFixed(2)} s; ${during}`);
    const idleUntil = performance.now() + seconds * 1000;
    console.log(`  no plan running, as long: ${await pingUntil(() => performance.now() > idleUntil)}`);
  }
} finally {
  await t.close();
}

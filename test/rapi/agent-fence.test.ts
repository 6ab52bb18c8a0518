// Node agents refuse orders from a fenced-out master (issue 17), with real masters: a second
// master on the same database takes the lease (SQLite mode's fencing) while a job of the
// first waits for a node's answer; the agent learns the new term from the new master's next
// call and refuses any order of the old term (sent with a client of that term: the first master
// may find out first by a refused write of its own, and then sends nothing); the first
// master's held job ends in error, having done nothing.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startMaster, type Master } from "../../src/master/master.ts";
import { TERM_FILE } from "../../src/node/agent/terms.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { httpsClient } from "../../src/rpc/https.ts";
import { inProcessClient } from "../../src/rpc/inprocess.ts";
import { loadClusterCert } from "../../src/rpc/index.ts";
import { AGENT_ERRORS, RpcCallError } from "../../src/rpc/errors.ts";
import { EPOCH_KEY } from "../../src/store/leadership.ts";
import { openDatabase } from "../../src/store/sqlite.ts";
import { createBody, ok, startInstanceCluster, submit, type InstanceCluster } from "../support/instances.ts";

describe("agents and a fenced-out master", () => {
  let c: InstanceCluster;
  let second: Master | undefined;
  const lost: string[] = [];
  before(async () => {
    c = await startInstanceCluster({ extraNodes: 1, master: { leadershipLost: (reason) => lost.push(reason) } });
  });
  after(async () => {
    await second?.close();
    await c.close();
  });

  it("the first master's order after a second master took over is refused by the agent, which does nothing", async () => {
    const node2 = c.extra[0];
    const name = "fence1.corral.test";
    await ok(c.port, "POST", "/2/instances", createBody("fence1", { pnode: node2.name, disk_template: "diskless", disks: [] }));
    const runningOnNode2 = async () => (await node2.agent.agent.instanceList({})).map((r) => r.name);
    assert.deepEqual(await runningOnNode2(), [name]);
    const term = () => (JSON.parse(readFileSync(join(node2.stateDir, TERM_FILE), "utf8")) as { current: { epoch: number } }).current.epoch;
    const firstEpoch = term();
    assert.equal(firstEpoch, leaderEpoch(c), "node2 obeys the first master");

    // Hold the first master's full reboot at its first node call (it asks whether the
    // instance runs); its next call is the shutdown, an order.
    const agent = node2.agent.agent;
    const info = agent.instanceInfo.bind(agent);
    let entered!: () => void;
    const asked = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    agent.instanceInfo = async (args) => {
      entered();
      await gate;
      return info(args);
    };
    const id = await submit(c.port, "POST", `/2/instances/${name}/reboot?type=full`);
    await asked;
    // Everything the first master had to write (the request's audit record, the job's running
    // state) is on disk before the fence moves: a write refused after it would make the first
    // master find out by itself and send nothing, and the agent would have nothing to refuse.
    await c.master.store.flush();

    // A second master on the same database: its lease moves the fence on; its next call to
    // node2 (a live refresh) carries the new term, which the agent adopts.
    second = await startMaster({
      dataDir: c.dataDir, port: 0, bind: "127.0.0.1", ssl: false, usersFile: c.usersFile, requireAuthentication: false,
      maxClients: 20, clusterName: "cluster.corral.test", nodeName: "node1.corral.test",
      log: () => undefined, announce: () => undefined, leadershipLost: () => undefined,
    });
    await second.live.refresh();
    assert.equal(term(), firstEpoch + 1, "node2 learnt the second master's term");
    // An order of the first master's term, as it would send it, is refused by both agents:
    // node2's (HTTPS) and node1's (in-process, sharing the second master's state dir). Sent
    // with a client of its own: the first master itself may already have found out (a write
    // of its own refused), and then it sends nothing at all.
    const kept = JSON.parse(readFileSync(join(node2.stateDir, TERM_FILE), "utf8")) as { current: { store: string } };
    const oldTerm = () => ({ store: kept.current.store, epoch: firstEpoch });
    const cert = clusterCertPaths(c.dataDir);
    const node2Endpoint = [...c.master.store.snapshot().nodes.values()].find((n) => n.name === node2.name)?.agent_endpoint;
    assert.ok(node2Endpoint);
    const stale = httpsClient({ endpoint: node2Endpoint, tls: await loadClusterCert(cert.cert, cert.key), node: node2.name, term: oldTerm });
    const staleLocal = inProcessClient(second.connections.localAgent, { node: "node1.corral.test", term: oldTerm });
    try {
      for (const [client, nodeName] of [[stale, node2.name], [staleLocal, "node1.corral.test"]] as const) {
        const refused = await client.instanceShutdown({ name, hypervisor: "fake", timeout: 1 }).catch((e: unknown) => e);
        assert.ok(refused instanceof RpcCallError, String(refused));
        assert.equal(refused.errClass, AGENT_ERRORS.fencedOut);
        assert.match(refused.message, new RegExp(`^node ${nodeName.replaceAll(".", "\\.")} refuses orders from a master of term ${firstEpoch}:`));
      }
    } finally {
      stale.close();
      staleLocal.close();
    }
    assert.deepEqual(await runningOnNode2(), [name], "the refused shutdown did nothing");

    agent.instanceInfo = info;
    release();
    await c.master.queue.idle();
    // What the first master concluded (its write of the end is refused: the disk shows it running).
    const job = c.master.queue.liveJob(id);
    assert.ok(job);
    const result = JSON.stringify(job.ops.map((op) => op.result));
    assert.equal(job.ops[0].status, "error", result);
    // Its next order was refused by the agent, or it found out first (a write of its own refused)
    // and sent none: either way it did nothing on node2.
    assert.match(result, new RegExp(`Could not shutdown instance for full reboot: node ${node2.name.replaceAll(".", "\\.")} refuses orders from a master of term ${firstEpoch}: it obeys term ${firstEpoch + 1} since [^;]+; this master was fenced out|lost leadership|not the leader`), `${result}; leadership lost: ${lost.join("; ")}`);
    assert.deepEqual(await runningOnNode2(), [name], "the refused shutdown did nothing");

    // The second master's orders are obeyed.
    const stop = await submit(second.port, "PUT", `/2/instances/${name}/shutdown`);
    await second.queue.idle();
    assert.equal(second.queue.get(stop)?.ops[0].status, "success", JSON.stringify(second.queue.get(stop)?.ops.map((op) => op.result)));
    assert.deepEqual(await runningOnNode2(), []);
  });
});

/** The database's current leader epoch (store/leadership.ts: EPOCH_KEY). */
function leaderEpoch(c: InstanceCluster): number {
  const db = openDatabase(join(c.dataDir, "config.db"));
  try {
    return Number((db.prepare("SELECT value FROM meta WHERE key = ?").get(EPOCH_KEY) as { value: string }).value);
  } finally {
    db.close();
  }
}

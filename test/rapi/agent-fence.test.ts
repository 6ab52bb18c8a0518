// Node agents refuse orders from a fenced-out master (issue 17), with real masters: a second
// master on the same database takes the lease (SQLite mode's fencing) while a job of the
// first waits for a node's answer; the agent learns the new term from the new master's next
// call, and the first master's next order fails with the agent's refusal, doing nothing.
// (The first master has nothing to write in between, so only the agent can stop it.)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startMaster, type Master } from "../../src/master/master.ts";
import { TERM_FILE } from "../../src/node/agent/terms.ts";
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

    // A second master on the same database: its lease moves the fence on; its next call to
    // node2 (a live refresh) carries the new term, which the agent adopts.
    second = await startMaster({
      dataDir: c.dataDir, port: 0, bind: "127.0.0.1", ssl: false, usersFile: c.usersFile, requireAuthentication: false,
      maxClients: 20, clusterName: "cluster.corral.test", nodeName: "node1.corral.test",
      log: () => undefined, announce: () => undefined, leadershipLost: () => undefined,
    });
    await second.live.refresh();
    assert.equal(term(), firstEpoch + 1, "node2 learnt the second master's term");
    // The first master's own node's agent (in-process, the same state dir as the second
    // master's) refuses it the same way.
    const node1 = [...c.master.store.snapshot().nodes.values()].find((n) => n.name === "node1.corral.test");
    assert.ok(node1);
    const local = await c.master.connections.client(node1).instanceShutdown({ name, hypervisor: "fake", timeout: 1 }).catch((e: unknown) => e);
    assert.ok(local instanceof RpcCallError, String(local));
    assert.equal(local.errClass, AGENT_ERRORS.fencedOut);
    assert.match(local.message, new RegExp(`^node node1\\.corral\\.test refuses orders from a master of term ${firstEpoch}:`));

    agent.instanceInfo = info;
    release();
    await c.master.queue.idle();
    // What the first master concluded (its write of the end is refused: the disk shows it running).
    const job = c.master.queue.liveJob(id);
    assert.ok(job);
    const result = JSON.stringify(job.ops.map((op) => op.result));
    assert.equal(job.ops[0].status, "error", result);
    assert.match(result, new RegExp(`Could not shutdown instance for full reboot: node ${node2.name.replaceAll(".", "\\.")} refuses orders from a master of term ${firstEpoch}: it obeys term ${firstEpoch + 1} since [^;]+; this master was fenced out`));
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

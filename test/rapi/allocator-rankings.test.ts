// PVC's selectors as iallocators over RAPI, on a three-node cluster: "pvc-mem", "pvc-vcpus",
// "pvc-load" and "pvc-vms" place a new instance (and move one) where the selector says, with
// the same candidates as "hail"; unknown names still fail as a missing iallocator script.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { NodeAgent } from "../../src/node/index.ts";
import { createBody, fails, ok, run, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";
import { call } from "../support/cluster.ts";

describe("PVC selectors as iallocators", () => {
  let c: InstanceCluster;
  let port: number;
  const uuidOf = (name: string) => [...c.master.store.snapshot().nodes.values()].find((n) => n.name === `${name}.corral.test`)!.uuid;
  const primaryOf = (name: string) => {
    const inst = [...c.master.store.snapshot().instances.values()].find((i) => i.name === `${name}.corral.test`)!;
    return c.master.store.snapshot().nodes.get(inst.primary_node)!.name;
  };
  /** The agent reports `load` as its load average (all agents here share one machine). */
  const reportLoad = (agent: NodeAgent, load: number) => {
    const real = agent.nodeInfo.bind(agent);
    agent.nodeInfo = async (args) => {
      const info = await real(args);
      return { ...info, host: { ...info.host, loadavg: [load, load, load] } };
    };
  };
  const diskless = (name: string, pnode: string, maxmem: number, vcpus: number, start = true) =>
    createBody(name, { pnode, disk_template: "diskless", disks: [], start, beparams: { maxmem, minmem: maxmem, vcpus } });
  const dryRunPick = async (iallocator: string) => {
    const job = await run(port, "POST", "/2/instances?dry-run=1", createBody("new1", { pnode: null, iallocator, disk_template: "diskless", disks: [] }));
    assert.equal(job.status, "success", `${iallocator}: ${JSON.stringify(job.opresult)}`);
    return (job.opresult as string[][])[0][0];
  };

  // node1 runs the most memory; node2 runs little memory but has a stopped instance too;
  // node3 runs the fewest vCPUs, holds the most instances and reports the lowest load.
  before(async () => {
    c = await startInstanceCluster({ extraNodes: 2, memoryMiB: [16384, 16384, 16384] });
    port = c.port;
    await ok(port, "POST", "/2/instances", diskless("a", "node1", 2048, 2));
    await ok(port, "POST", "/2/instances", diskless("b", "node2", 128, 2));
    await ok(port, "POST", "/2/instances", diskless("c", "node2", 128, 1, false));
    await ok(port, "POST", "/2/instances", diskless("d", "node3", 1024, 1));
    await ok(port, "POST", "/2/instances", diskless("e", "node3", 128, 1, false));
    await ok(port, "POST", "/2/instances", diskless("f", "node3", 128, 1, false));
    reportLoad(c.master.connections.localAgent, 2);
    reportLoad(c.extra[0].agent.agent, 1.5);
    reportLoad(c.extra[1].agent.agent, 0.25);
    await c.master.live.refresh();
  });
  after(() => c.close());

  it("each selector picks its node for a new instance", async () => {
    assert.equal(await dryRunPick("pvc-mem"), uuidOf("node2"), "least memory of running instances");
    assert.equal(await dryRunPick("pvc-vcpus"), uuidOf("node3"), "fewest running vCPUs");
    assert.equal(await dryRunPick("pvc-load"), uuidOf("node3"), "lowest load average");
    assert.equal(await dryRunPick("pvc-vms"), uuidOf("node1"), "fewest instances, stopped ones counted");
  });

  it("creates the instance there and says which iallocator chose", async () => {
    const job = await run(port, "POST", "/2/instances", createBody("new2", { pnode: null, iallocator: "pvc-vms", disk_template: "diskless", disks: [] }));
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    assert.deepEqual(job.opresult, [["node1.corral.test"]]);
    const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
    assert.ok(log.includes(" - INFO: Selected nodes for instance new2.corral.test via iallocator pvc-vms: node1.corral.test"), log.join("\n"));
    await ok(port, "DELETE", "/2/instances/new2");
  });

  it("keeps the allocator's candidates: a drained node is skipped whatever it counts", async () => {
    await c.master.store.transact((tx) => tx.update("node", uuidOf("node2"), (n) => void (n.drained = true)));
    try {
      assert.equal(await dryRunPick("pvc-mem"), uuidOf("node3"));
    } finally {
      await c.master.store.transact((tx) => tx.update("node", uuidOf("node2"), (n) => void (n.drained = false)));
    }
  });

  it("moves an instance where the selector says: pvc-vcpus migrates node1's to node3", async () => {
    await ok(port, "PUT", "/2/instances/a/migrate", { iallocator: "pvc-vcpus" });
    assert.equal(primaryOf("a"), "node3.corral.test");
  });

  it("can be the cluster's default iallocator", async () => {
    const dflt = c.master.store.snapshot().cluster.default_iallocator;
    try {
      await ok(port, "PUT", "/2/modify", { default_iallocator: "pvc-load" });
      assert.equal(c.master.store.snapshot().cluster.default_iallocator, "pvc-load");
      const job = await run(port, "POST", "/2/instances?dry-run=1", createBody("new3", { pnode: null, disk_template: "diskless", disks: [] }));
      assert.deepEqual(job.opresult, [[uuidOf("node3")]]);
      const bad = await run(port, "PUT", "/2/modify", { default_iallocator: "mem" });
      assert.equal(bad.status, "error");
      assert.match(JSON.stringify(bad.opresult), /Invalid default iallocator script 'mem' specified/);
    } finally {
      await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.default_iallocator = dflt)));
    }
  });

  it("unknown names still fail as a missing iallocator script", async () => {
    for (const name of ["mem", "pvc-best", "dumb"]) {
      const [cls, [message, kind]] = await fails(port, "POST", "/2/instances", createBody("new4", { pnode: null, iallocator: name, disk_template: "diskless", disks: [] }));
      assert.equal(cls, "OpPrereqError");
      assert.equal(kind, "wrong_input");
      assert.match(String(message), new RegExp(`^Failure while running the iallocator script: iallocator module '${name}' not found in the search path`));
      assert.match(String(message), /answers to "hail", "corral", "pvc-mem", "pvc-vcpus", "pvc-load", "pvc-vms"/);
    }
    assert.equal((await call(port, "GET", "/2/instances/new4")).status, 404);
  });
});

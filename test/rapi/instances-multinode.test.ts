// Instances on a three-node cluster (node1 the master's own agent, node2 and node3 agents
// over HTTPS): placement by the allocator, migration and failover of shared-storage and
// diskless instances, exports to another node and imports from one.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createBody, fails, getInstance, head, ok, run, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";

describe("instances across nodes", () => {
  let c: InstanceCluster;
  let port: number;
  const inst = (name: string) => [...c.master.store.snapshot().instances.values()].find((i) => i.name === `${name}.corral.test`)!;
  const nodeName = (uuid: string) => c.master.store.snapshot().nodes.get(uuid)!.name;
  const runningOn = async (name: string) => {
    const on: string[] = [];
    for (const n of ["node1", "node2", "node3"]) {
      const node = [...c.master.store.snapshot().nodes.values()].find((x) => x.name.startsWith(`${n}.`))!;
      const list = await c.master.connections.client(node).instanceList({});
      if (list.some((r) => r.name === `${name}.corral.test`)) on.push(n);
    }
    return on;
  };
  before(async () => {
    c = await startInstanceCluster({ extraNodes: 2, memoryMiB: [8192, 16384, 4096] });
    port = c.port;
  });
  after(() => c.close());

  describe("placement", () => {
    it("the allocator picks the node with the most free memory; a dry run names it by uuid", async () => {
      const body = createBody("auto1", { pnode: null, iallocator: "hail", disk_template: "diskless", disks: [] });
      const dry = await run(port, "POST", "/2/instances?dry-run=1", body);
      assert.deepEqual(dry.opresult, [[c.extra[0].uuid]]);
      const job = await run(port, "POST", "/2/instances", body);
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      assert.deepEqual(job.opresult, [["node2.corral.test"]]);
      const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
      assert.ok(log.includes(" - INFO: Selected nodes for instance auto1.corral.test via iallocator hail: node2.corral.test"), log.join("\n"));
      assert.equal((await getInstance(port, "auto1")).pnode, "node2.corral.test");
    });

    it("the cluster's default iallocator is used when neither node nor allocator is given; 'corral' is a name too", async () => {
      const dflt = c.master.store.snapshot().cluster.default_iallocator;
      await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.default_iallocator = "corral")));
      try {
        const job = await run(port, "POST", "/2/instances", createBody("auto2", { pnode: null, disk_template: "diskless", disks: [], start: false }));
        assert.equal(job.status, "success", JSON.stringify(job.opresult));
        assert.equal((job.ops as Record<string, unknown>[])[0].pnode, "node2.corral.test");
      } finally {
        await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.default_iallocator = dflt)));
      }
    });

    it("drained and offline nodes are never chosen", async () => {
      await c.master.store.transact((tx) => tx.update("node", c.extra[0].uuid, (n) => void (n.drained = true)));
      try {
        const job = await run(port, "POST", "/2/instances?dry-run=1", createBody("auto3", { pnode: null, iallocator: "hail", disk_template: "diskless", disks: [] }));
        const node1 = [...c.master.store.snapshot().nodes.values()].find((n) => n.name === "node1.corral.test")!;
        assert.deepEqual(job.opresult, [[node1.uuid]]);
        assert.deepEqual(await fails(port, "POST", "/2/instances", createBody("auto4", { pnode: "node2", disk_template: "diskless", disks: [] })),
          ["OpPrereqError", ["Cannot use drained primary node 'node2.corral.test'", "wrong_state"]]);
      } finally {
        await c.master.store.transact((tx) => tx.update("node", c.extra[0].uuid, (n) => void (n.drained = false)));
      }
    });
  });

  describe("moving shared-storage instances", () => {
    it("migrates a running sharedfile instance live to a named node and back with the allocator", async () => {
      await ok(port, "POST", "/2/instances", createBody("shared1", { disk_template: "sharedfile", pnode: "node1" }));
      const path = String(inst("shared1").disks[0].logical_id[1]);
      assert.ok(path.startsWith(c.sharedDir));
      const job = await run(port, "PUT", "/2/instances/shared1/migrate", { target_node: "node3" });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      assert.deepEqual(job.opresult, [null]);
      const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
      assert.ok(log.includes("* migrating instance to node3.corral.test") && log.includes("* done"), log.join("\n"));
      assert.equal((job.ops as Record<string, unknown>[])[0].mode, "live");
      assert.equal(nodeName(inst("shared1").primary_node), "node3.corral.test");
      assert.deepEqual(await runningOn("shared1"), ["node3"]);
      const got = await getInstance(port, "shared1");
      assert.deepEqual([got.pnode, got.status, got.oper_state], ["node3.corral.test", "running", true]);
      assert.equal(String(inst("shared1").disks[0].logical_id[1]), path, "the disk stays where it is");

      // The allocator weighs memory against CPU load (host CPUs differ between test machines),
      // so only where it cannot go is certain: not the node the instance leaves.
      await ok(port, "PUT", "/2/instances/shared1/migrate", { iallocator: "hail", mode: "non-live" });
      const chosen = nodeName(inst("shared1").primary_node);
      assert.ok(["node1.corral.test", "node2.corral.test"].includes(chosen), chosen);
      assert.deepEqual(await runningOn("shared1"), [chosen.slice(0, 5)]);
      if (chosen !== "node2.corral.test") await ok(port, "PUT", "/2/instances/shared1/migrate", { target_node: "node2" });
    });

    it("refuses to migrate to the primary, to an offline node, or a stopped instance without fallback", async () => {
      assert.deepEqual(await fails(port, "PUT", "/2/instances/shared1/migrate", { target_node: "node2" }),
        ["OpPrereqError", ["Cannot migrate instance shared1.corral.test to its primary (node2.corral.test)", "wrong_state"]]);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/shared1/migrate", { target_node: "node3", iallocator: "hail" }),
        ["OpPrereqError", ["Do not specify both, iallocator and node", "wrong_input"]]);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/shared1/migrate", { mode: "live", live: true, target_node: "node3" }),
        ["OpPrereqError", ["Only one of the 'live' and 'mode' parameters are accepted", "wrong_input"]]);
      await ok(port, "PUT", "/2/instances/shared1/shutdown");
      assert.deepEqual(await fails(port, "PUT", "/2/instances/shared1/migrate", { target_node: "node3" }),
        ["OpPrereqError", ["Can't migrate, please use failover: instance shared1.corral.test is not running", "wrong_state"]]);
      const job = await run(port, "PUT", "/2/instances/shared1/migrate", { target_node: "node3", allow_failover: true });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      assert.equal(nodeName(inst("shared1").primary_node), "node3.corral.test");
      assert.deepEqual(await runningOn("shared1"), [], "a stopped instance stays stopped");
    });

    it("fails over (stop on the source, start on the target) and checks the target's memory", async () => {
      await ok(port, "PUT", "/2/instances/shared1/startup");
      await ok(port, "PUT", "/2/instances/shared1/modify", { beparams: { maxmem: 7500, minmem: 7500 }, force: true });
      assert.deepEqual(await fails(port, "PUT", "/2/instances/shared1/failover", { target_node: "node1" }).then((e) => [e[0], e[1][1]]),
        ["OpPrereqError", "insufficient_resources"]);
      const err = await fails(port, "PUT", "/2/instances/shared1/failover", { target_node: "node1" });
      assert.match(String(err[1][0]), /^Not enough memory on node node1\.corral\.test for migrating instance shared1\.corral\.test: needed 7500 MiB, available \d+ MiB$/);
      await ok(port, "PUT", "/2/instances/shared1/modify", { beparams: { maxmem: 256, minmem: 256 } });
      const job = await run(port, "PUT", "/2/instances/shared1/failover", { target_node: "node1" });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
      assert.deepEqual(log.slice(0, 3), ["Failover instance shared1.corral.test", "* checking disk consistency between source and target", "* shutting down instance on source node"]);
      assert.equal(nodeName(inst("shared1").primary_node), "node1.corral.test");
      assert.deepEqual(await runningOn("shared1"), ["node1"]);
      assert.equal((await getInstance(port, "shared1")).oper_ram, 256);
      await ok(port, "DELETE", "/2/instances/shared1", {});
      assert.equal(existsSync(String(inst("shared1")?.disks[0].logical_id[1] ?? "/nonexistent")), false);
    });

    it("migrates ext (filestore) and diskless instances; file instances stay", async () => {
      const dir = join(c.dataDir, "ext-shared");
      await ok(port, "POST", "/2/instances", createBody("ext1", { disk_template: "ext", disks: [{ size: 1024, provider: "filestore", dir }], pnode: "node2" }));
      assert.equal(inst("ext1").disks[0].params.provider, "filestore");
      assert.match(head(join(dir, String(inst("ext1").disks[0].logical_id[1])), 30), /^CORRAL-MARKER v1 name=ext1/);
      await ok(port, "PUT", "/2/instances/ext1/migrate", { target_node: "node1" });
      assert.deepEqual(await runningOn("ext1"), ["node1"]);
      await ok(port, "PUT", "/2/instances/ext1/failover", { target_node: "node3" });
      assert.deepEqual(await runningOn("ext1"), ["node3"]);

      await ok(port, "PUT", "/2/instances/auto1/migrate", { target_node: "node3" });
      assert.deepEqual(await runningOn("auto1"), ["node3"]);

      await ok(port, "POST", "/2/instances", createBody("local1", { pnode: "node3", start: false }));
      assert.deepEqual(await fails(port, "PUT", "/2/instances/local1/failover", { target_node: "node1" }),
        ["OpPrereqError", ["Instance's disk layout 'file' does not allow failovers", "wrong_state"]]);
      // Corral's migrate_storage moves file disks live under kvm only (test/vm/kvm-migration.test.ts).
      await ok(port, "PUT", "/2/instances/local1/startup", {});
      assert.deepEqual(await fails(port, "PUT", "/2/instances/local1/migrate", { target_node: "node1" }),
        ["OpPrereqError", ["Instance's disk layout 'file' does not allow migrations", "wrong_state"]]);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/local1/migrate", { target_node: "node1", migrate_storage: true }),
        ["OpPrereqError", ["Migrating an instance's storage needs the kvm hypervisor; instance local1.corral.test uses 'fake'", "wrong_input"]]);
      assert.deepEqual(await runningOn("local1"), ["node3"]);
      await ok(port, "PUT", "/2/instances/local1/shutdown", {});
    });
  });

  describe("recreating disks elsewhere", () => {
    it("recreates a file instance's disks on another node, which becomes its primary", async () => {
      const old = String(inst("local1").disks[0].logical_id[1]);
      assert.deepEqual(await fails(port, "POST", "/2/instances/local1/recreate-disks", { disks: [0], nodes: ["node1", "node2"] }),
        ["OpPrereqError", ["Instance local1.corral.test currently has 1 nodes, but 2 replacement nodes were specified", "wrong_input"]]);
      const job = await run(port, "POST", "/2/instances/local1/recreate-disks", { nodes: ["node1"] });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
      assert.ok(log.includes(" - WARNING: Changing the instance's nodes, you will have to remove any disks left on the older nodes manually"));
      assert.equal(nodeName(inst("local1").primary_node), "node1.corral.test");
      const now = String(inst("local1").disks[0].logical_id[1]);
      assert.ok(now.startsWith(c.master.store.snapshot().cluster.file_storage_dir), now);
      assert.ok(existsSync(now) && existsSync(old), "the new disk exists; the old one is left for the operator");
      await ok(port, "PUT", "/2/instances/local1/startup");
      assert.deepEqual(await runningOn("local1"), ["node1"]);
    });
  });

  describe("exports and imports between nodes", () => {
    it("exports a stopped instance to another node and imports it as a new instance on a third", async () => {
      await ok(port, "POST", "/2/instances", createBody("src1", { pnode: "node2", start: false, disks: [{ size: 32 }], ignore_ipolicy: true, osparams: { marker_text: "exported" } }));
      const result = await ok(port, "PUT", "/2/instances/src1/export", { mode: "local", destination: "node3.corral.test", shutdown: true });
      assert.deepEqual(result, [true, [true]]);
      const exportDir = join(c.extra[1].stateDir, "export", "src1.corral.test");
      assert.ok(existsSync(join(exportDir, "config.ini")));
      assert.match(readFileSync(join(exportDir, "config.ini"), "utf8"), /^\[export\]\nversion = 0\n/);
      assert.equal(existsSync(join(c.extra[0].stateDir, "export", "src1.corral.test")), false, "nothing left on the source");

      const job = await run(port, "POST", "/2/instances", {
        __version__: 1, mode: "import", name: "copy1.corral.test", disk_template: "file", disks: [], nics: [],
        pnode: "node1.corral.test", src_node: "node3.corral.test", src_path: "src1.corral.test", ignore_ipolicy: true, start: true,
      });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const op = (job.ops as Record<string, unknown>[])[0];
      assert.equal(op.os_type, "corral-marker+default");
      const copy = inst("copy1");
      assert.deepEqual([copy.disks.length, copy.disks[0].size, copy.osparams.marker_text], [1, 32, "exported"]);
      const data = head(String(copy.disks[0].logical_id[1]), 200);
      assert.match(data, /^CORRAL-MARKER v1 name=src1\.corral\.test .* text=exported/, "the source's data, marker included");
      assert.equal((await getInstance(port, "copy1")).status, "running");
      const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
      assert.ok(log.includes("* running the instance OS import scripts..."));

      assert.equal(await ok(port, "DELETE", "/2/instances/src1/export", {}), null);
      assert.equal(existsSync(exportDir), false);
    });
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import type { InstanceSpec } from "../../rpc/calls.ts";
import type { NodeRpcClient } from "../../rpc/client.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import { inProcessClient } from "../../rpc/inprocess.ts";
import { instanceSpec, tempDir } from "../testkit.ts";
import { NodeAgent } from "./agent.ts";

async function twoNodes(t: { after(fn: () => Promise<void> | void): void }, targetMemory = 8192) {
  const mk = async (name: string, memoryTotal: number) => {
    const agent = new NodeAgent({ stateDir: await tempDir(t), nodeName: name, memoryTotal, memoryDom0: 0, osSearchPath: [], extStorageSearchPath: [] });
    const client = inProcessClient(agent, { node: name });
    t.after(() => client.close());
    return client;
  };
  return { source: await mk("node1", 8192), target: await mk("node2", targetMemory) };
}

/** The master's side of a migration, in Ganeti's order. */
async function migrate(source: NodeRpcClient, target: NodeRpcClient, instance: InstanceSpec): Promise<void> {
  const { info } = await source.migrationInfo({ instance });
  await target.acceptInstance({ instance, info, target: "192.0.2.2" });
  try {
    await source.migrateInstance({ instance, target: "192.0.2.2", live: true });
    assert.equal((await source.migrationStatus({ instance })).status, "completed");
  } catch (err) {
    await target.finalizeMigrationDst({ instance, info, success: false });
    await source.finalizeMigrationSource({ instance, success: false, live: true });
    throw err;
  }
  await target.finalizeMigrationDst({ instance, info, success: true });
  await source.finalizeMigrationSource({ instance, success: true, live: true });
}

const running = async (c: NodeRpcClient) => (await c.instanceList({})).map((i) => `${i.name}:${i.memory}`);

test("a migrated instance ends up running on the target only, with its memory", async (t) => {
  const { source, target } = await twoNodes(t);
  const inst = instanceSpec({ name: "mover", beparams: { maxmem: 2048, minmem: 1024, vcpus: 2 } });
  await source.instanceStart({ instance: inst });
  await migrate(source, target, inst);
  assert.deepEqual(await running(source), []);
  assert.deepEqual(await running(target), ["mover:2048"]);
  assert.equal((await source.nodeInfo({})).memory_instances, 0);
  assert.equal((await target.nodeInfo({})).memory_instances, 2048);
  // And back again.
  await migrate(target, source, inst);
  assert.deepEqual(await running(source), ["mover:2048"]);
  assert.deepEqual(await running(target), []);
});

test("a target without the memory refuses to accept, and the instance stays put", async (t) => {
  const { source, target } = await twoNodes(t, 1024);
  const inst = instanceSpec({ name: "heavy", beparams: { maxmem: 2048, minmem: 2048, vcpus: 1 } });
  await source.instanceStart({ instance: inst });
  await assert.rejects(migrate(source, target, inst), (e: unknown) =>
    e instanceof RpcCallError && e.node === "node2" && e.call === "acceptInstance" && e.ecode === "insufficient_resources",
  );
  assert.deepEqual(await running(source), ["heavy:2048"]);
  assert.deepEqual(await running(target), []);
  assert.equal((await target.nodeInfo({})).memory_instances, 0);
});

test("an aborted migration releases the target and resumes on the source", async (t) => {
  const { source, target } = await twoNodes(t);
  const inst = instanceSpec({ name: "undecided" });
  await source.instanceStart({ instance: inst });
  const { info } = await source.migrationInfo({ instance: inst });
  await target.acceptInstance({ instance: inst, info, target: "192.0.2.2" });
  assert.equal((await target.nodeInfo({})).memory_instances, 1024, "reserved while incoming");
  await assert.rejects(target.acceptInstance({ instance: inst, info, target: "192.0.2.2" }), /already running/);
  await source.migrateInstance({ instance: inst, target: "192.0.2.2", live: false });
  await target.finalizeMigrationDst({ instance: inst, info, success: false });
  await source.finalizeMigrationSource({ instance: inst, success: false, live: false });
  assert.deepEqual(await running(source), ["undecided:1024"]);
  assert.deepEqual(await running(target), []);
  assert.equal((await target.nodeInfo({})).memory_instances, 0);
});

test("only a running instance can be migrated, and only an accepted one finalized", async (t) => {
  const { source, target } = await twoNodes(t);
  const inst = instanceSpec({ name: "idle" });
  await assert.rejects(source.migrationInfo({ instance: inst }), /not running/);
  await assert.rejects(target.finalizeMigrationDst({ instance: inst, info: "{}", success: true }), /not accepted/);
  await assert.rejects(target.acceptInstance({ instance: inst, info: "garbage", target: "x" }), /Migration info/);
});

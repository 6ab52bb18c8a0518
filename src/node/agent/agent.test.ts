import assert from "node:assert/strict";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { InstanceSpec } from "../../rpc/calls.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import { inProcessClient } from "../../rpc/inprocess.ts";
import type { FakeHypervisor } from "../hypervisor/fake.ts";
import { SHARE_DIR } from "../paths.ts";
import { diskSpec, instanceSpec, tempDir } from "../testkit.ts";
import { NodeAgent, type NodeAgentOptions } from "./agent.ts";

const MiB = 1024 * 1024;

async function makeAgent(t: { after(fn: () => Promise<void> | void): void }, over: Partial<NodeAgentOptions> = {}) {
  const stateDir = over.stateDir ?? (await tempDir(t));
  const opts: NodeAgentOptions = {
    stateDir,
    nodeName: "node1.example.com",
    memoryTotal: 8192,
    memoryDom0: 1024,
    cpuTotal: 4,
    osSearchPath: [join(SHARE_DIR, "os")],
    extStorageSearchPath: [join(SHARE_DIR, "extstorage")],
    shutdownPollMs: 20,
    ...over,
  };
  const agent = new NodeAgent(opts);
  const client = inProcessClient(agent, { node: "node1.example.com" });
  t.after(() => client.close());
  return { agent, client, stateDir, opts };
}

function rejectsWith(errClass: string, pattern: RegExp, ecode?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof RpcCallError, String(e));
    assert.equal(e.errClass, errClass);
    assert.match(e.message, pattern);
    if (ecode) assert.equal(e.ecode, ecode);
    return true;
  };
}

test("node facts: memory budget, CPUs, storage units, host", async (t) => {
  const { client, stateDir } = await makeAgent(t);
  const info = await client.nodeInfo({});
  assert.equal(info.name, "node1.example.com");
  assert.equal(info.hypervisor, "fake");
  assert.equal(info.memory_total, 8192);
  assert.equal(info.memory_dom0, 1024);
  assert.equal(info.memory_free, 7168);
  assert.equal(info.memory_instances, 0);
  assert.equal(info.cpu_total, 4);
  assert.deepEqual(info.storage.map((s) => [s.type, s.name]), [
    ["file", join(stateDir, "file-storage")],
    ["sharedfile", join(stateDir, "shared-file-storage")],
  ]);
  assert.ok(info.storage.every((s) => typeof s.storage_free === "number" && s.storage_free >= 0));
  assert.ok(info.host.memory_total > 0 && info.host.cpu_total > 0);
  assert.match(info.bootid, /^[0-9a-f-]{36}$/);
  const v = await client.version({});
  assert.deepEqual([v.protocol, v.node, v.hypervisors], [1, "node1.example.com", ["fake", "kvm"]]);
});

test("an instance starts, is listed with its memory, and stops", async (t) => {
  const { client } = await makeAgent(t);
  const inst = instanceSpec();
  const running = await client.instanceStart({ instance: inst });
  assert.deepEqual([running.name, running.memory, running.vcpus, running.state], [inst.name, 1024, 2, "running"]);
  // Starting a running instance is not an error (as in Ganeti).
  assert.equal((await client.instanceStart({ instance: inst })).id, running.id);
  assert.deepEqual((await client.instanceList({})).map((i) => i.name), [inst.name]);
  assert.equal((await client.nodeInfo({})).memory_free, 7168 - 1024);
  const stopped = await client.instanceShutdown({ name: inst.name, hypervisor: "fake", timeout: 10 });
  assert.deepEqual(stopped, { was_running: true, forced: false });
  assert.equal(await client.instanceInfo({ name: inst.name, hypervisor: "fake" }), null);
  assert.deepEqual(await client.instanceShutdown({ name: inst.name, hypervisor: "fake", timeout: 10 }), {
    was_running: false,
    forced: false,
  });
});

test("start is refused when the node's memory budget cannot hold minmem", async (t) => {
  const { client } = await makeAgent(t, { memoryTotal: 4096, memoryDom0: 512 });
  await client.instanceStart({ instance: instanceSpec({ name: "big", beparams: { maxmem: 3000, minmem: 3000, vcpus: 1 } }) });
  await assert.rejects(
    client.instanceStart({ instance: instanceSpec({ name: "second", beparams: { maxmem: 1024, minmem: 1024, vcpus: 1 } }) }),
    rejectsWith("HypervisorError", /Not enough memory on node node1\.example\.com to start instance second: needs 1024 MiB, 584 MiB free/, "insufficient_resources"),
  );
  // With a lower minmem it starts with what is left (Ganeti's startup memory rule).
  const squeezed = await client.instanceStart({ instance: instanceSpec({ name: "second", beparams: { maxmem: 1024, minmem: 512, vcpus: 1 } }) });
  assert.equal(squeezed.memory, 584);
  assert.equal((await client.nodeInfo({})).memory_free, 0);
});

test("running instances survive an agent restart on the same state dir", async (t) => {
  const first = await makeAgent(t);
  const inst = instanceSpec({ name: "persistent" });
  await first.client.instanceStart({ instance: inst });
  const second = await makeAgent(t, { stateDir: first.stateDir });
  const info = await second.client.instanceInfo({ name: "persistent", hypervisor: "fake" });
  assert.equal(info?.memory, 1024);
  assert.equal((await second.client.nodeInfo({})).memory_instances, 1024);
  await second.client.instanceShutdown({ name: "persistent", hypervisor: "fake", timeout: 1 });
  const third = await makeAgent(t, { stateDir: first.stateDir });
  assert.deepEqual(await third.client.instanceList({}), []);
});

test("a guest ignoring the soft shutdown is destroyed when the timeout expires", async (t) => {
  const { agent, client } = await makeAgent(t);
  const inst = instanceSpec({ name: "stubborn" });
  await client.instanceStart({ instance: inst });
  await (agent.hypervisor("fake") as FakeHypervisor).setGuestBehaviour("stubborn", { ignoreShutdown: true });
  const started = Date.now();
  const result = await client.instanceShutdown({ name: "stubborn", hypervisor: "fake", timeout: 0.3 });
  const took = Date.now() - started;
  assert.deepEqual(result, { was_running: true, forced: true });
  assert.ok(took >= 280 && took < 3000, `waited ${took} ms`);
  assert.equal(await client.instanceInfo({ name: "stubborn", hypervisor: "fake" }), null);
});

test("reboot: soft keeps the domain, hard and full recreate it, a stopped instance cannot reboot", async (t) => {
  const { client } = await makeAgent(t);
  const inst = instanceSpec({ name: "rb" });
  const first = await client.instanceStart({ instance: inst });
  const soft = await client.instanceReboot({ instance: inst, type: "soft", shutdown_timeout: 5 });
  assert.equal(soft.id, first.id);
  const hard = await client.instanceReboot({ instance: inst, type: "hard", shutdown_timeout: 5 });
  assert.notEqual(hard.id, first.id);
  const full = await client.instanceReboot({ instance: inst, type: "full", shutdown_timeout: 5 });
  assert.notEqual(full.id, hard.id);
  await assert.rejects(
    client.instanceReboot({ instance: inst, type: "sideways" as "soft", shutdown_timeout: 5 }),
    rejectsWith("ArgumentError", /Invalid reboot type "sideways"/),
  );
  await client.instanceShutdown({ name: "rb", hypervisor: "fake", timeout: 5 });
  await assert.rejects(
    client.instanceReboot({ instance: inst, type: "soft", shutdown_timeout: 5 }),
    rejectsWith("HypervisorError", /Cannot reboot instance rb that is not running/, "wrong_state"),
  );
});

test("console: Ganeti's dict for the fake hypervisor, only while running", async (t) => {
  const { client } = await makeAgent(t);
  const inst = instanceSpec({ name: "con" });
  await assert.rejects(client.instanceConsole({ instance: inst, host: "192.0.2.1" }), rejectsWith("HypervisorError", /not running/));
  await client.instanceStart({ instance: inst });
  assert.deepEqual(await client.instanceConsole({ instance: inst, host: "192.0.2.1" }), {
    instance: "con",
    kind: "msg",
    message: "Console not available for fake hypervisor",
  });
});

test("balloon changes the memory within the budget", async (t) => {
  const { client } = await makeAgent(t, { memoryTotal: 3072, memoryDom0: 0 });
  await client.instanceStart({ instance: instanceSpec({ name: "b" }) });
  assert.equal((await client.instanceBalloonMemory({ name: "b", hypervisor: "fake", memory: 512 })).memory, 512);
  await assert.rejects(client.instanceBalloonMemory({ name: "b", hypervisor: "fake", memory: 4000 }), rejectsWith("HypervisorError", /Not enough memory/));
});

test("power-cycle resets only the simulated node", async (t) => {
  const { client } = await makeAgent(t);
  await client.instanceStart({ instance: instanceSpec({ name: "p1" }) });
  const before = (await client.nodeInfo({})).bootid;
  const { message } = await client.nodePowercycle({ hypervisor: "fake" });
  assert.match(message, /Simulated power-cycle/);
  assert.deepEqual(await client.instanceList({}), []);
  assert.notEqual((await client.nodeInfo({})).bootid, before);
});

test("an instance with a file disk: create, install the OS, start, grow, remove", async (t) => {
  const { client, stateDir } = await makeAgent(t);
  const base = diskSpec({ size: 20 });
  const created = await client.blockdevCreate({ instance: "web.example.com", index: 0, disk: base });
  assert.equal(created.path, join(stateDir, "file-storage", "web.example.com", `${base.uuid}.file.disk0`));
  const disk = { ...base, logical_id: created.logical_id };
  const inst: InstanceSpec = instanceSpec({ name: "web.example.com", disks: [disk] });

  const { log_file } = await client.instanceOsAdd({ instance: inst, reinstall: false, debug: 0 });
  assert.ok(log_file.startsWith(join(stateDir, "log", "os")));
  const fh = await open(created.path!, "r");
  const head = Buffer.alloc(64);
  await fh.read(head, 0, 64, 0);
  await fh.close();
  assert.match(head.toString(), /^CORRAL-MARKER v1 name=web\.example\.com /);

  await client.instanceStart({ instance: inst });
  assert.deepEqual(await client.blockdevGrow({ disk, amount: 10 }), { size: 30 });
  assert.equal((await stat(created.path!)).size, 30 * MiB);
  assert.deepEqual(await client.blockdevFind({ disks: [disk] }), [{ exists: true, size: 30, path: created.path }]);
  await client.instanceShutdown({ name: inst.name, hypervisor: "fake", timeout: 5 });
  await client.blockdevRemove({ disk });
  assert.deepEqual(await client.blockdevFind({ disks: [disk] }), [{ exists: false, size: null, path: created.path }]);
  // Starting with a missing disk fails clearly.
  await assert.rejects(client.instanceStart({ instance: inst }), rejectsWith("BlockDeviceError", /Cannot activate disk .* does not exist/));
});

test("ext disks go through the provider; OS and ExtStorage lists show validity", async (t) => {
  const { client, stateDir } = await makeAgent(t);
  const volumes = join(stateDir, "ext-volumes");
  const base = diskSpec({ dev_type: "ext", size: 12, params: { provider: "filestore", dir: volumes } });
  const created = await client.blockdevCreate({ instance: "e1", index: 1, disk: base });
  assert.deepEqual(created.logical_id, ["filestore", `${base.uuid}.ext.disk1`]);
  assert.equal((await stat(created.path!)).size, 12 * MiB);
  const disk = { ...base, logical_id: created.logical_id };
  assert.deepEqual(await client.blockdevAssemble({ instance: "e1", disk }), { path: created.path, uris: [] });
  await client.blockdevRemove({ disk });

  const oses = await client.osDiagnose({});
  assert.deepEqual(oses.filter((o) => o.name === "corral-marker").map((o) => [o.valid, o.variants]), [[true, ["default", "minimal"]]]);
  const providers = await client.extStorageDiagnose({});
  assert.deepEqual(providers.filter((p) => p.name === "filestore").map((p) => p.valid), [true]);
  await client.osValidate({ name: "corral-marker+minimal", osparams: { marker_text: "x" }, checks: ["parameters"] });
  await assert.rejects(client.osValidate({ name: "corral-marker", osparams: { nope: "1" }, checks: ["parameters"] }), rejectsWith("InvalidOS", /nope/));
});

test("bad arguments are refused with ArgumentError and change nothing", async (t) => {
  const { client } = await makeAgent(t);
  await assert.rejects(
    client.instanceStart({ instance: instanceSpec({ name: "../../etc" }) }),
    rejectsWith("ArgumentError", /Invalid instance name/),
  );
  await assert.rejects(client.instanceStart({ instance: instanceSpec({ beparams: {} }) }), rejectsWith("ArgumentError", /beparams need maxmem/));
  await assert.rejects(client.instanceStart({ instance: instanceSpec({ hypervisor: "xen-pvm" }) }), rejectsWith("HypervisorError", /Hypervisor 'xen-pvm' is not available/));
  await assert.rejects(client.instanceShutdown({ name: "x", hypervisor: "fake", timeout: -1 }), rejectsWith("ArgumentError", /timeout/));
  await assert.rejects(client.blockdevCreate({ instance: "i", index: 0, disk: diskSpec({ dev_type: "drbd" }) }), rejectsWith("BlockDeviceError", /'drbd' is not supported/));
  await assert.rejects(client.blockdevCreate({ instance: "i", index: 0, disk: diskSpec({ dev_type: "diskless" }) }), rejectsWith("BlockDeviceError", /diskless/));
  await assert.rejects(client.instanceStart({ instance: null as unknown as InstanceSpec }), rejectsWith("ArgumentError", /instance must be an object/));
  assert.deepEqual(await client.instanceList({}), []);
});

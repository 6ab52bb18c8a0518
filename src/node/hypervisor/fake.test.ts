import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentError } from "../../rpc/errors.ts";
import { instanceSpec, tempDir } from "../testkit.ts";
import { FakeHypervisor } from "./fake.ts";

const spec = (name: string, memory: number) => ({ instance: instanceSpec({ name }), memory, vcpus: 2, disks: [], paused: false });

test("a started domain is listed with its memory and vCPUs until it is stopped", async (t) => {
  const hv = new FakeHypervisor({ stateDir: await tempDir(t), memoryTotal: 4096, memoryDom0: 512, cpuTotal: 8 });
  const started = await hv.start(spec("a", 1024));
  assert.equal(started.state, "running");
  assert.deepEqual(
    (await hv.listInstances()).map((i) => [i.name, i.memory, i.vcpus]),
    [["a", 1024, 2]],
  );
  assert.deepEqual(await hv.nodeInfo(), {
    memory_total: 4096,
    memory_free: 4096 - 512 - 1024,
    memory_dom0: 512,
    memory_instances: 1024,
    cpu_total: 8,
    cpu_dom0: 8,
    cpu_nodes: 1,
    cpu_sockets: 1,
  });
  await hv.stop("a", false);
  assert.equal(await hv.instanceInfo("a"), null);
  await assert.rejects(hv.stop("a", true), /not running/);
});

test("starting twice or beyond the memory budget is refused", async (t) => {
  const hv = new FakeHypervisor({ stateDir: await tempDir(t), memoryTotal: 2048, memoryDom0: 0 });
  await hv.start(spec("a", 1500));
  await assert.rejects(hv.start(spec("a", 10)), /already running/);
  await assert.rejects(hv.start(spec("b", 600)), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.equal(e.errClass, "HypervisorError");
    assert.equal(e.ecode, "insufficient_resources");
    assert.match(e.message, /needed 600 MiB, available 548 MiB/);
    return true;
  });
  await hv.start(spec("b", 548));
  assert.equal((await hv.nodeInfo()).memory_free, 0);
});

test("domains survive a new hypervisor object on the same state dir", async (t) => {
  const dir = await tempDir(t);
  const first = new FakeHypervisor({ stateDir: dir });
  await first.start(spec("keep", 256));
  const bootid = await first.bootId();
  const second = new FakeHypervisor({ stateDir: dir });
  assert.equal((await second.instanceInfo("keep"))?.memory, 256);
  assert.equal(await second.bootId(), bootid);
});

test("a guest that ignores soft shutdown is only stopped by force", async (t) => {
  const hv = new FakeHypervisor({ stateDir: await tempDir(t) });
  await hv.start(spec("stubborn", 128));
  await hv.setGuestBehaviour("stubborn", { ignoreShutdown: true });
  await hv.stop("stubborn", false);
  assert.ok(await hv.instanceInfo("stubborn"), "soft stop was ignored");
  await hv.stop("stubborn", true);
  assert.equal(await hv.instanceInfo("stubborn"), null);
});

test("power-cycle drops every simulated domain and changes the boot id", async (t) => {
  const hv = new FakeHypervisor({ stateDir: await tempDir(t) });
  await hv.start(spec("a", 128));
  await hv.start(spec("b", 128));
  const before = await hv.bootId();
  assert.match(await hv.powercycle(), /2 fake instance/);
  assert.deepEqual(await hv.listInstances(), []);
  assert.notEqual(await hv.bootId(), before);
});

test("migration hands the domain from source to target", async (t) => {
  const src = new FakeHypervisor({ stateDir: await tempDir(t), memoryTotal: 4096, memoryDom0: 0 });
  const dst = new FakeHypervisor({ stateDir: await tempDir(t), memoryTotal: 4096, memoryDom0: 0 });
  const inst = instanceSpec({ name: "mig" });
  await src.start(spec("mig", 1000));
  const info = await src.migrationInfo("mig");
  await dst.acceptInstance(inst, info, [], { storage: false, tls: false });
  assert.equal(await dst.instanceInfo("mig"), null, "an incoming domain is not running yet");
  assert.equal((await dst.nodeInfo()).memory_free, 3096, "but its memory is reserved");
  await src.migrate("mig", "dst", { live: true });
  assert.equal((await src.migrationStatus("mig", 0)).status, "completed");
  await dst.finalizeMigrationDst(inst, info, true);
  await src.finalizeMigrationSource("mig", true);
  assert.equal(await src.instanceInfo("mig"), null);
  assert.equal((await dst.instanceInfo("mig"))?.memory, 1000);
});

test("a guest that powers itself off or a domain that dies is reported as an event", async (t) => {
  const hv = new FakeHypervisor({ stateDir: await tempDir(t), memoryTotal: 4096, memoryDom0: 0 });
  const seen: string[] = [];
  const stop = hv.onEvent((e) => seen.push(`${e.instance}:${e.kind}`));
  await hv.start(spec("a", 100));
  await hv.start(spec("b", 100));
  await hv.simulateExit("a", "stopped");
  await hv.simulateExit("b", "crashed");
  stop();
  assert.deepEqual(seen, ["a:stopped", "b:crashed"]);
  assert.deepEqual(await hv.listInstances(), []);
});

test("a running domain's disk can grow but never shrink", async (t) => {
  const hv = new FakeHypervisor({ stateDir: await tempDir(t), memoryTotal: 4096, memoryDom0: 0 });
  await hv.start(spec("a", 100));
  const disk = { path: "/x", uris: [] };
  await hv.resizeDisk("a", 0, disk, 2048);
  await assert.rejects(hv.resizeDisk("a", 0, disk, 1024), /shrink/);
});

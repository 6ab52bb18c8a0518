// /api/v1/vm on one node: define from libvirt XML, read, modify, state intents carried out
// by Corral jobs (visible over RAPI), locks, undefine; failures as {"message"} with 400.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call } from "../support/cluster.ts";
import { domainXml, msg, startPvcMaster, type PvcTestMaster } from "./support.ts";

let m: PvcTestMaster;
const U1 = "11111111-2222-3333-4444-555555555501";
const U2 = "11111111-2222-3333-4444-555555555502";

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const vmState = async (name: string) => ((await m.pvc.get(`/vm/${name}/state`)).json as { state: string }).state;
const rapiInstance = async (name: string) => (await call(m.master.port, "GET", `/2/instances/${name}`)).json as Record<string, unknown>;

before(async () => {
  m = await startPvcMaster();
  assert.equal(msg(await m.pvc.post("/storage/ceph/pool", { pool: "vms", pgs: "32" })), "Created new RBD pool 'vms' with '32' PGs.");
  for (const v of ["web1_disk0", "web2_disk0"]) assert.equal((await m.pvc.post("/storage/ceph/volume", { pool: "vms", volume: v, size: "1G" })).status, 200);
});
after(() => m.close());

test("POST /vm defines a stopped VM from its XML; it is an instance over RAPI too", async () => {
  const xml = domainXml("web1", U1, { memory: 1024, vcpus: 2, disks: ["vms/web1_disk0"] });
  const r = await m.pvc.post("/vm", { xml, selector: "mem" });
  assert.equal(r.status, 200, r.text);
  assert.equal(msg(r), `Added new VM with Name 'web1' and UUID '${U1}' to database.`);
  const inst = await rapiInstance("web1");
  assert.equal(inst.uuid, U1);
  assert.equal(inst.admin_state, "down");
  assert.deepEqual(inst["disk.sizes"], [1024]);
  assert.equal((inst.beparams as Record<string, unknown>).maxmem, 1024);
});

test("GET /vm/<vm> by name or UUID returns the list shape with PVC's fields", async () => {
  for (const key of ["web1", U1]) {
    const r = await m.pvc.get(`/vm/${key}`);
    assert.equal(r.status, 200);
    const [vm] = r.json as Record<string, unknown>[];
    assert.equal(vm.name, "web1");
    assert.equal(vm.uuid, U1);
    assert.equal(vm.state, "stop");
    assert.equal(vm.node, "node1.corral.test");
    assert.equal(vm.last_node, "");
    assert.equal(vm.migrated, "no");
    assert.equal(vm.memory, "1024");
    assert.equal(vm.vcpu, "2");
    assert.equal(vm.vcpu_topology, "1/2/1");
    assert.equal(vm.description, "Test VM web1");
    assert.equal(vm.arch, "x86_64");
    assert.deepEqual(vm.features, ["acpi", "apic", "pae"]);
    assert.deepEqual(vm.disks, [{ type: "rbd", name: "vms/web1_disk0", dev: "sda", bus: "scsi" }]);
    assert.deepEqual(vm.controllers, [{ type: "scsi", model: "virtio-scsi" }]);
    assert.match(String(vm.xml), /<name>web1<\/name>/);
  }
  const missing = await m.pvc.get("/vm/nope");
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { message: "VM not found." });
});

test("bad definitions change nothing and answer 400 with PVC's message", async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^ERROR: A Libvirt XML document must be specified\.$/],
    [{ xml: "<domain><name>x</name>" }, /^ERROR: Failed to parse XML data/],
    [{ xml: domainXml("web1", U2) }, /^ERROR: A VM with name 'web1' or UUID .* already exists/],
    [{ xml: domainXml("web9", U2, { disks: ["vms/missing"] }) }, /^ERROR: Disk 0 of VM 'web9'.*does not exist/],
    [{ xml: domainXml("web9", U2), selector: "best" }, /^ERROR: Selector 'best' is not valid/],
  ];
  for (const [form, re] of cases) {
    const r = await m.pvc.post("/vm", form);
    assert.equal(r.status, 400, JSON.stringify(form));
    assert.match(msg(r), re);
  }
  assert.equal((await call(m.master.port, "GET", "/2/instances/web9")).status, 404);
});

test("GET /vm lists with limit (fuzzy, name or UUID), node and state", async () => {
  const xml = domainXml("web2", U2, { disks: ["vms/web2_disk0"], bridges: ["vmbr100"] });
  assert.equal((await m.pvc.call("POST", "/vm", { json: { xml, node: "node1.corral.test" } })).status, 200);
  const names = async (q: Record<string, string>) => ((await m.pvc.get("/vm", q)).json as { name: string }[]).map((v) => v.name);
  assert.deepEqual(await names({}), ["web1", "web2"]);
  assert.deepEqual(await names({ limit: "eb2" }), ["web2"]);
  assert.deepEqual(await names({ limit: "^web" }), ["web1", "web2"]);
  assert.deepEqual(await names({ limit: "555502$" }), ["web2"]);
  assert.deepEqual(await names({ node: "node1.corral.test", state: "stop" }), ["web1", "web2"]);
  const none = await m.pvc.get("/vm", { limit: "^zzz" });
  assert.equal(none.status, 404);
  assert.equal(msg(none), "VM not found.");
  const badRegex = await m.pvc.get("/vm", { limit: "(" });
  assert.equal(badRegex.status, 400);
  assert.match(msg(badRegex), /Regex Error/);
  assert.equal((await m.pvc.get("/vm", { node: "nonode" })).status, 400);
});

test("state start runs the VM through a Corral job: RAPI shows it running", async () => {
  const r = await m.pvc.post("/vm/web1/state", { state: "start" });
  assert.equal(r.status, 200, r.text);
  assert.equal(msg(r), "Starting VM 'web1'.");
  const inst = await waitFor("web1 running", () => rapiInstance("web1"), (i) => i.status === "running");
  assert.equal(inst.admin_state, "up");
  await waitFor("PVC state start", () => vmState("web1"), (s) => s === "start");
  const node = (await m.pvc.get("/node/node1.corral.test")).json as { running_domains: string[]; domains_count: string }[];
  assert.deepEqual(node[0].running_domains, [U1]);
});

test("shutdown and restart need the start state; stop forces", async () => {
  const notStarted = await m.pvc.post("/vm/web2/state", { state: "shutdown" });
  assert.equal(notStarted.status, 400);
  assert.equal(msg(notStarted), "ERROR: VM 'web2' is not in 'start' state!");
  assert.equal(msg(await m.pvc.post("/vm/web2/state", { state: "restart" })), "ERROR: VM 'web2' is not in 'start' state!");
  const bad = await m.pvc.post("/vm/web2/state", { state: "pause" });
  assert.equal(bad.status, 400);
  assert.match(msg(bad), /'state' must be one of 'start', 'shutdown', 'stop', 'restart'/);
  assert.equal((await m.pvc.post("/vm/web2/state")).status, 400);
  assert.equal(msg(await m.pvc.post("/vm/nope/state", { state: "start" })), "ERROR: Could not find VM 'nope' in the cluster!");

  assert.equal(msg(await m.pvc.post("/vm/web1/state", { state: "restart" })), "Restarting VM 'web1'.");
  await waitFor("restart done", () => vmState("web1"), (s) => s === "start");
  assert.equal(msg(await m.pvc.post("/vm/web1/state", { state: "shutdown" })), "Shutting down VM 'web1'.");
  await waitFor("shut down", () => vmState("web1"), (s) => s === "stop");
  assert.equal((await rapiInstance("web1")).status, "ADMIN_down");
  assert.equal(msg(await m.pvc.post("/vm/web1/state", { state: "start" })), "Starting VM 'web1'.");
  await waitFor("started", () => rapiInstance("web1"), (i) => i.status === "running");
  assert.equal(msg(await m.pvc.post("/vm/web1/state", { state: "stop" })), "Forcibly stopping VM 'web1'.");
  await waitFor("stopped", () => rapiInstance("web1"), (i) => i.status === "ADMIN_down");
});

test("a VM started over RAPI is in start state for PVC", async () => {
  const r = await call(m.master.port, "PUT", "/2/instances/web2/startup", { user: "writer" });
  assert.equal(r.status, 200, r.text);
  await waitFor("web2 start", () => vmState("web2"), (s) => s === "start");
  const [vm] = (await m.pvc.get("/vm/web2")).json as Record<string, unknown>[];
  assert.deepEqual(vm.networks, [{ type: "bridge", mac: "52:54:00:00:00:0a", source: "vmbr100", model: "virtio" }]);
  assert.equal(msg(await m.pvc.post("/vm/web2/state", { state: "stop" })), "Forcibly stopping VM 'web2'.");
  await waitFor("web2 stop", () => vmState("web2"), (s) => s === "stop");
});

test("GET/POST /vm/<vm>/node on one node: nowhere to go", async () => {
  const r = await m.pvc.get("/vm/web1/node");
  assert.deepEqual(r.json, { name: "web1", node: "node1.corral.test", last_node: "" });
  const mig = await m.pvc.post("/vm/web1/node", { action: "migrate" });
  assert.equal(mig.status, 400);
  assert.match(msg(mig), /^ERROR: (No node can take VM 'web1'|VM 'web1' is already running on node 'node1\.corral\.test')\.$/);
  assert.equal(msg(await m.pvc.post("/vm/web1/node", { action: "unmigrate" })), "ERROR: VM 'web1' has not been previously migrated.");
  assert.equal((await m.pvc.post("/vm/web1/node", { action: "sideways" })).status, 400);
});

test("PUT /vm/<vm> replaces the XML; memory and vCPUs follow it", async () => {
  const xml = domainXml("web1", U1, { memory: 2048, vcpus: 4, disks: ["vms/web1_disk0"] });
  const r = await m.pvc.put("/vm/web1", { xml, restart: "" });
  assert.equal(r.status, 200, r.text);
  assert.equal(msg(r), "Successfully modified configuration of VM 'web1'.");
  const [vm] = (await m.pvc.get("/vm/web1")).json as Record<string, unknown>[];
  assert.equal(vm.memory, "2048");
  assert.equal(vm.vcpu, "4");
  assert.equal(((await rapiInstance("web1")).beparams as Record<string, unknown>).maxmem, 2048);
  const other = await m.pvc.put("/vm/web1", { xml: domainXml("web1", U2) });
  assert.equal(other.status, 400);
  assert.match(msg(other), /UUID/);
  assert.equal((await m.pvc.put("/vm/web1", {})).status, 400);
  assert.equal((await m.pvc.put("/vm/nope", { xml })).status, 400);
});

test("locks: GET is not implemented, POST flushes a stopped VM's volume locks", async () => {
  assert.equal((await m.pvc.get("/vm/web1/locks")).status, 400);
  const r = await m.pvc.post("/vm/web1/locks");
  assert.equal(r.status, 200, r.text);
  assert.equal(msg(r), "Flushed locks on VM 'web1'");
  await m.pvc.post("/vm/web1/state", { state: "start" });
  await waitFor("running", () => rapiInstance("web1"), (i) => i.status === "running");
  const running = await m.pvc.post("/vm/web1/locks");
  assert.equal(running.status, 400);
  assert.equal(msg(running), "ERROR: VM 'web1' is not in stopped state; flushing RBD locks on a running VM is dangerous.");
});

test("DELETE /vm/<vm> stops and undefines; delete_disks also removes the volumes", async () => {
  const r = await m.pvc.del("/vm/web1");
  assert.equal(r.status, 200, r.text);
  assert.equal(msg(r), "Undefined VM 'web1' from the cluster.");
  assert.equal((await call(m.master.port, "GET", "/2/instances/web1")).status, 404);
  assert.equal((await m.pvc.get("/storage/ceph/volume/vms/web1_disk0")).status, 200);
  const d = await m.pvc.del("/vm/web2", { delete_disks: "true" });
  assert.equal(msg(d), "Removed VM 'web2' and disks from the cluster.");
  assert.equal((await m.pvc.get("/storage/ceph/volume/vms/web2_disk0")).status, 404);
  assert.equal(msg(await m.pvc.del("/vm/web2")), "ERROR: Could not find VM 'web2' in the cluster!");
});

test("a domain without <uuid> gets a random one, as libvirt gives it", async () => {
  const xml = "<domain type='kvm'><name>nouuid</name><memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>";
  const r = await m.pvc.post("/vm", { xml });
  assert.equal(r.status, 200, r.text);
  const m2 = /UUID '([0-9a-f-]{36})'/.exec(msg(r));
  assert.ok(m2, msg(r));
  const inst = await rapiInstance("nouuid");
  assert.equal(inst.uuid, m2[1]);
  assert.equal((await m.pvc.del("/vm/nouuid")).status, 200);
});

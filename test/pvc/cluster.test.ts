// PVC on a three-node Corral cluster: the node endpoints (states, limit, coordinator and
// domain state), VM migrate/unmigrate/move with selectors, and a node flush and ready,
// cross-checked over RAPI.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { call } from "../support/cluster.ts";
import { startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";
import { domainXml, msg, pvcYaml, PvcClient } from "./support.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

let c: MultiNodeCluster;
let pvc: PvcClient;
const N1 = "node1.corral.test";
const N2 = "node2.corral.test";
const N3 = "node3.corral.test";
const uuid = (i: number) => `aaaaaaaa-0000-4000-8000-0000000000${String(i).padStart(2, "0")}`;

async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const inst = async (name: string) => (await call(c.master.port, "GET", `/2/instances/${name}`)).json as Record<string, unknown>;
const vm = async (name: string) => ((await pvc.get(`/vm/${name}`)).json as Record<string, unknown>[])[0];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-pvc-"));
  writeFileSync(join(dir, "pvc-api.yaml"), pvcYaml());
  c = await startMultiNodeCluster({ extraNodes: 2, master: { pvcConfigFile: join(dir, "pvc-api.yaml"), liveRefreshMs: 60_000 } });
  pvc = new PvcClient(c.master.pvcPort!);
  await c.master.live.refresh();
  // Diskless VMs: the nodes of this test cluster share no storage.
  for (let i = 1; i <= 3; i++) {
    const r = await pvc.post("/vm", { xml: domainXml(`vm${i}`, uuid(i), { memory: 256 * i }), node: N1 });
    assert.equal(r.status, 200, r.text);
    assert.equal(msg(await pvc.post(`/vm/vm${i}/state`, { state: "start" })), `Starting VM 'vm${i}'.`);
  }
  for (let i = 1; i <= 3; i++) await waitFor(`vm${i} running`, () => inst(`vm${i}`), (x) => x.status === "running");
});
after(() => c?.close());

test("GET /node lists every Corral node with PVC's states", async () => {
  const nodes = (await pvc.get("/node")).json as Record<string, unknown>[];
  assert.deepEqual(nodes.map((n) => n.name), [N1, N2, N3]);
  const byName = Object.fromEntries(nodes.map((n) => [n.name, n]));
  assert.equal(byName[N1].coordinator_state, "primary");
  for (const n of nodes) {
    assert.equal(n.daemon_state, "run");
    assert.equal(n.domain_state, "ready");
    assert.equal(typeof n.cpu_count, "string");
    assert.deepEqual(Object.keys(n.memory as object), ["total", "allocated", "used", "free"]);
  }
  assert.equal((byName[N1].running_domains as string[]).length, 3);
  assert.equal(byName[N1].domains_count, "3");
  assert.equal((byName[N1].memory as { allocated: number }).allocated, 256 + 512 + 768);
  assert.deepEqual(((await pvc.get("/node", { limit: "node[23]" })).json as { name: string }[]).map((n) => n.name), [N2, N3]);
  assert.equal(msg(await pvc.get("/node", { limit: "^x" })), "Node not found.");
  assert.equal(((await pvc.get(`/node/${N2}`)).json as unknown[]).length, 1);
  assert.equal((await pvc.get("/node/node9")).status, 404);
});

test("node sub-states", async () => {
  assert.deepEqual((await pvc.get(`/node/${N2}/daemon-state`)).json, { name: N2, daemon_state: "run" });
  assert.deepEqual((await pvc.get(`/node/${N1}/coordinator-state`)).json, { name: N1, coordinator_state: "primary" });
  assert.deepEqual((await pvc.get(`/node/${N3}/domain-state`)).json, { name: N3, domain_state: "ready" });
  for (const sub of ["daemon-state", "coordinator-state", "domain-state"]) assert.equal((await pvc.get(`/node/nope/${sub}`)).status, 404);
});

test("coordinator-state: validation, PVC's refusals, and no master failover", async () => {
  assert.match(msg(await pvc.post(`/node/${N1}/coordinator-state`, { "coordinator-state": "boss" })), /must be one of 'primary', 'secondary'/);
  assert.equal((await pvc.post(`/node/${N1}/coordinator-state`)).status, 400);
  assert.equal(msg(await pvc.post("/node/nope/coordinator-state", { "coordinator-state": "primary" })), "ERROR: No node named 'nope' is present in the cluster.");
  assert.equal(msg(await pvc.post(`/node/${N1}/coordinator-state`, { state: "primary" })), `Node '${N1}' is already in primary router mode.`);
  const secondary = await pvc.post(`/node/${N1}/coordinator-state`, { "coordinator-state": "secondary" });
  assert.equal(secondary.status, 400);
  assert.match(msg(secondary), /master failover/);
  const client = (await pvc.get(`/node/${N2}/coordinator-state`)).json as { coordinator_state: string };
  if (client.coordinator_state === "client") {
    assert.equal(msg(await pvc.post(`/node/${N2}/coordinator-state`, { "coordinator-state": "primary" })), `ERROR: Cannot change router mode on non-coordinator node '${N2}'`);
  }
});

test("migrate with node and selector, unmigrate back, move forgets the last node", async () => {
  const r = await pvc.post("/vm/vm1/node", { action: "migrate", node: N2 });
  assert.equal(msg(r), `Migrating VM 'vm1' to node '${N2}'.`);
  const moved = await waitFor("vm1 on node2", () => inst("vm1"), (x) => x.pnode === N2 && x.status === "running");
  assert.equal(moved.oper_state, true);
  const v = await vm("vm1");
  assert.equal(v.last_node, N1);
  assert.equal(v.migrated, `from ${N1}`);
  assert.deepEqual((await pvc.get("/vm/vm1/node")).json, { name: "vm1", node: N2, last_node: N1 });

  assert.equal(msg(await pvc.post("/vm/vm1/node", { action: "migrate" })), "ERROR: VM 'vm1' has been previously migrated.");
  assert.equal(msg(await pvc.post("/vm/vm1/node", { action: "migrate", node: N2, force: "true" })), `ERROR: VM 'vm1' is already running on node '${N2}'.`);
  assert.equal(msg(await pvc.post("/vm/vm1/node", { action: "unmigrate" })), `Unmigrating VM 'vm1' back to node '${N1}'.`);
  await waitFor("vm1 back", () => inst("vm1"), (x) => x.pnode === N1 && x.status === "running");
  assert.equal((await vm("vm1")).last_node, "");

  // The mem selector picks the node with the least VM memory: not node1, and node2/node3 are empty.
  const sel = await pvc.post("/vm/vm2/node", { action: "migrate", selector: "vms", permanent: "" });
  assert.match(msg(sel), /^Permanently migrating VM 'vm2' to node 'node[23]\.corral\.test'\.$/);
  await waitFor("vm2 moved", () => inst("vm2"), (x) => x.pnode !== N1 && x.status === "running");
  assert.equal((await vm("vm2")).last_node, "");
  assert.equal((await vm("vm2")).migrated, "no");
});

test("a stopped VM moves by reassignment, keeping its state", async () => {
  assert.equal(msg(await pvc.post("/vm/vm3/state", { state: "stop" })), "Forcibly stopping VM 'vm3'.");
  await waitFor("vm3 down", () => inst("vm3"), (x) => x.status === "ADMIN_down");
  assert.equal(msg(await pvc.post("/vm/vm3/node", { action: "migrate", node: N3 })), `Migrating VM 'vm3' to node '${N3}'.`);
  await waitFor("vm3 on node3", () => inst("vm3"), (x) => x.pnode === N3);
  assert.equal((await vm("vm3")).state, "stop");
  assert.equal(msg(await pvc.post("/vm/vm3/node", { action: "unmigrate" })), `Unmigrating VM 'vm3' back to node '${N1}'.`);
  await waitFor("vm3 back on node1", () => inst("vm3"), (x) => x.pnode === N1);
  await pvc.post("/vm/vm3/state", { state: "start" });
  await waitFor("vm3 running", () => inst("vm3"), (x) => x.status === "running");
});

test("flush drains node1 and migrates its VMs away one by one; ready brings them back", async () => {
  const before = (await call(c.master.port, "GET", "/2/instances?bulk=1")).json as { name: string; pnode: string }[];
  const onN1 = before.filter((i) => i.pnode === N1).map((i) => i.name).sort();
  assert.deepEqual(onN1, ["vm1", "vm3"]);
  assert.equal(msg(await pvc.post(`/node/${N1}/domain-state`, { "domain-state": "flush", wait: "true" })), `Flushing hypervisor ${N1} of running VMs.`);
  assert.deepEqual((await pvc.get(`/node/${N1}/domain-state`)).json, { name: N1, domain_state: "flushed" });
  const after = (await call(c.master.port, "GET", "/2/instances?bulk=1")).json as { name: string; pnode: string; status: string }[];
  for (const name of onN1) {
    const i = after.find((x) => x.name === name)!;
    assert.notEqual(i.pnode, N1, `${name} left node1`);
    assert.equal(i.status, "running");
    assert.equal((await vm(name)).last_node, N1);
  }
  const n1 = ((await pvc.get(`/node/${N1}`)).json as { running_domains: string[] }[])[0];
  assert.deepEqual(n1.running_domains, []);

  assert.equal(msg(await pvc.post(`/node/${N1}/domain-state`, { state: "ready", wait: "1" })), `Restoring hypervisor ${N1} to active service.`);
  assert.deepEqual((await pvc.get(`/node/${N1}/domain-state`)).json, { name: N1, domain_state: "ready" });
  const back = (await call(c.master.port, "GET", "/2/instances?bulk=1")).json as { name: string; pnode: string; status: string }[];
  for (const name of onN1) {
    assert.equal(back.find((x) => x.name === name)!.pnode, N1, `${name} came back`);
    assert.equal((await vm(name)).last_node, "");
  }
  assert.match(msg(await pvc.post(`/node/${N1}/domain-state`, { "domain-state": "sleep" })), /must be one of 'flush', 'ready'/);
  assert.equal(msg(await pvc.post("/node/nope/domain-state", { "domain-state": "flush" })), "ERROR: No node named 'nope' is present in the cluster.");
});

// /api/v1/storage/ceph on the local storage backend: status, df, options, OSDs, pools,
// volumes (sizes like 4096M/20G, rename xor resize) and snapshots; v0.6 aliases.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { humanSize, parseSize } from "../../src/api/pvc/storage.ts";
import { msg, startPvcMaster, type PvcTestMaster } from "./support.ts";

let m: PvcTestMaster;
const DANGER = /^ERROR: This command can have unintended consequences .*'yes_i_really_mean_it'\.$/;

before(async () => {
  m = await startPvcMaster();
});
after(() => m.close());

test("sizes: bytes or one 1024-based unit letter; shown rounded up in at most four digits", () => {
  assert.equal(parseSize("1073741824"), 1073741824);
  assert.equal(parseSize("4096M"), 4096 * 1024 ** 2);
  assert.equal(parseSize("20G"), 20 * 1024 ** 3);
  assert.equal(parseSize("1.5G"), undefined);
  assert.equal(parseSize("20GB"), undefined);
  assert.equal(parseSize("0"), undefined);
  assert.equal(humanSize(20 * 1024 ** 3), "20G");
  assert.equal(humanSize(4096 * 1024 ** 2), "4096M");
  assert.equal(humanSize(1024 ** 3 + 1), "1025M");
});

test("status and df report the storage layer with the primary node", async () => {
  for (const path of ["/storage/ceph", "/storage/ceph/status", "/storage"]) {
    const r = await m.pvc.get(path);
    assert.equal(r.status, 200);
    const j = r.json as Record<string, string>;
    assert.equal(j.type, "status");
    assert.equal(j.primary_node, "node1.corral.test");
    assert.match(j.ceph_data, /backend: local/);
  }
  for (const path of ["/storage/ceph/df", "/storage/ceph/utilization"]) {
    const j = (await m.pvc.get(path)).json as Record<string, string>;
    assert.equal(j.type, "utilization");
    assert.match(j.ceph_data, /POOL_NAME/);
  }
});

test("cluster options set and unset", async () => {
  assert.equal(msg(await m.pvc.post("/storage/ceph/cluster-option", { action: "set", option: "noout" })), "Set OSD property noout on the cluster.");
  assert.match(((await m.pvc.get("/storage/ceph/status")).json as { ceph_data: string }).ceph_data, /flags noout set/);
  assert.equal(msg(await m.pvc.post("/storage/ceph/option", { action: "unset", option: "noout" })), "Unset OSD property noout on the cluster.");
  assert.equal((await m.pvc.post("/storage/ceph/cluster-option", { action: "toggle", option: "noout" })).status, 400);
  assert.equal((await m.pvc.post("/storage/ceph/cluster-option", { action: "set" })).status, 400);
  assert.equal((await m.pvc.post("/storage/ceph/cluster-option", { action: "set", option: "no out" })).status, 400);
});

test("OSDs: add on a node, list, state in/out, remove only with the confirmation", async () => {
  const dev = mkdtempSync(join(tmpdir(), "corral-osd-"));
  const add = await m.pvc.post("/storage/ceph/osd", { node: "node1.corral.test", device: dev, weight: "1.0" });
  assert.equal(add.status, 200, add.text);
  assert.equal(msg(add), `Created new OSD with block device '${dev}' on node 'node1.corral.test'.`);
  const [osd] = (await m.pvc.get("/storage/ceph/osd")).json as { id: string; stats: Record<string, unknown> }[];
  assert.equal(osd.id, "0");
  assert.equal(osd.stats.up, 1);
  assert.equal(osd.stats.in, 1);
  assert.equal(osd.stats.node, "node1.corral.test");
  assert.equal(((await m.pvc.get("/storage/ceph/osd/0")).json as unknown[]).length, 1);
  assert.deepEqual((await m.pvc.get("/storage/ceph/osd/0/state")).json, { id: "0", in: 1, up: 1 });
  assert.equal(msg(await m.pvc.post("/storage/ceph/osd/0/state", { state: "out" })), "Set OSD 0 offline in the cluster.");
  assert.deepEqual((await m.pvc.get("/storage/ceph/osd/0/state")).json, { id: "0", in: 0, up: 1 });
  assert.equal(msg(await m.pvc.post("/storage/ceph/osd/0/state", { state: "in" })), "Set OSD 0 online in the cluster.");

  const failures: [string, Record<string, string>, RegExp][] = [
    ["/storage/ceph/osd", { node: "node9", device: dev, weight: "1" }, /No node named 'node9'/],
    ["/storage/ceph/osd", { node: "node1.corral.test", device: "/dev/does-not-exist", weight: "1" }, /not present on node/],
    ["/storage/ceph/osd", { node: "node1.corral.test", device: dev, weight: "heavy" }, /not a valid OSD weight/],
    ["/storage/ceph/osd", { node: "node1.corral.test", device: dev, weight: "1" }, /already an OSD/],
    ["/storage/ceph/osd/0/state", { state: "sideways" }, /'state' must be one of 'in', 'out'/],
    ["/storage/ceph/osd/7/state", { state: "in" }, /No OSD with ID '7'/],
  ];
  for (const [path, form, re] of failures) {
    const r = await m.pvc.post(path, form);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(form)}`);
    assert.match(msg(r), re);
  }
  assert.equal((await m.pvc.get("/storage/ceph/osd/7")).status, 404);
  assert.match(msg(await m.pvc.del("/storage/ceph/osd/0")), DANGER);
  assert.equal(msg(await m.pvc.del("/storage/ceph/osd/0", { yes_i_really_mean_it: "" })), "Removed OSD 0 from the cluster.");
  const none = await m.pvc.get("/storage/ceph/osd");
  assert.equal(none.status, 404);
  assert.equal(msg(none), "OSD not found.");
});

test("pools: add (pgs default 128), list with limit, get, remove with confirmation", async () => {
  assert.equal(msg(await m.pvc.post("/storage/ceph/pool", { pool: "vms", pgs: "64" })), "Created new RBD pool 'vms' with '64' PGs.");
  assert.equal(msg(await m.pvc.post("/storage/ceph/pool", { pool: "scratch" })), "Created new RBD pool 'scratch' with '128' PGs.");
  const pools = (await m.pvc.get("/storage/ceph/pool")).json as { name: string; stats: Record<string, number> }[];
  assert.deepEqual(pools.map((p) => p.name), ["scratch", "vms"]);
  assert.equal(typeof pools[0].stats.num_objects, "number");
  assert.deepEqual(((await m.pvc.get("/storage/ceph/pool", { limit: "^v" })).json as { name: string }[]).map((p) => p.name), ["vms"]);
  assert.equal(((await m.pvc.get("/storage/ceph/pool/vms")).json as unknown[]).length, 1);
  assert.equal(msg(await m.pvc.get("/storage/ceph/pool/none")), "Pool not found.");
  assert.match(msg(await m.pvc.post("/storage/ceph/pool", { pool: "vms" })), /already exists/);
  assert.equal((await m.pvc.post("/storage/ceph/pool", { pool: "x", pgs: "-1" })).status, 400);
  assert.equal((await m.pvc.post("/storage/ceph/pool", { pool: "../etc" })).status, 400);
  assert.match(msg(await m.pvc.del("/storage/ceph/pool/scratch")), DANGER);
  assert.equal(msg(await m.pvc.del("/storage/ceph/pool/scratch", { "yes-i-really-mean-it": "yes" })), "Removed RBD pool 'scratch' and all volumes.");
});

test("volumes: add with sizes, list by pool and limit, rename xor resize, remove", async () => {
  assert.equal(msg(await m.pvc.post("/storage/ceph/volume", { pool: "vms", volume: "a_disk0", size: "20G" })), "Created new RBD volume 'a_disk0' of size '20G' on pool 'vms'.");
  assert.equal((await m.pvc.post("/storage/ceph/volume", { pool: "vms", volume: "b_disk0", size: "4096M" })).status, 200);
  const vols = (await m.pvc.get("/storage/ceph/volume", { pool: "vms" })).json as { name: string; pool: string; stats: Record<string, unknown> }[];
  assert.deepEqual(vols.map((v) => [v.name, v.stats.size]), [["a_disk0", "20G"], ["b_disk0", "4096M"]]);
  assert.equal(vols[0].stats.order, 22);
  assert.deepEqual(((await m.pvc.get("/storage/ceph/volume", { limit: "^b" })).json as { name: string }[]).map((v) => v.name), ["b_disk0"]);
  assert.equal((await m.pvc.get("/storage/ceph/volume", { pool: "nopool" })).status, 404);

  const failures: [Record<string, string>, RegExp][] = [
    [{ pool: "vms", volume: "c", size: "20GB" }, /Size '20GB' is not valid/],
    [{ pool: "vms", volume: "c" }, /'size' must be specified/],
    [{ pool: "nopool", volume: "c", size: "1G" }, /Pool 'nopool' does not exist/],
    [{ pool: "vms", volume: "a_disk0", size: "1G" }, /already exists/],
  ];
  for (const [form, re] of failures) {
    const r = await m.pvc.post("/storage/ceph/volume", form);
    assert.equal(r.status, 400, JSON.stringify(form));
    assert.match(msg(r), re);
  }

  assert.match(msg(await m.pvc.put("/storage/ceph/volume/vms/b_disk0", { name: "x", size: "1G" })), /exactly one of/);
  assert.match(msg(await m.pvc.put("/storage/ceph/volume/vms/b_disk0", {})), /exactly one of/);
  assert.equal(msg(await m.pvc.put("/storage/ceph/volume/vms/b_disk0", { size: "8G" })), "Resized RBD volume 'b_disk0' to size '8G' in pool 'vms'.");
  // Sizes show as PVC shows them: the smallest unit with at most four digits.
  assert.equal(msg(await m.pvc.put("/storage/ceph/volume/vms/b_disk0", { name: "c_disk0" })), "Renamed RBD volume 'b_disk0' to 'c_disk0' in pool 'vms'.");
  const [c] = (await m.pvc.get("/storage/ceph/volume/vms/c_disk0")).json as { stats: { size: string } }[];
  assert.equal(c.stats.size, "8192M");
  assert.equal((await m.pvc.get("/storage/ceph/volume/vms/b_disk0")).status, 404);
  // v0.6's spelling.
  assert.equal((await m.pvc.put("/storage/ceph/volume/vms/c_disk0", { new_size: "9G" })).status, 200);
});

test("snapshots: add, list (v0.5 strings, v0.6 objects), get, rename, remove", async () => {
  const add = await m.pvc.post("/storage/ceph/volume/snapshot", { pool: "vms", volume: "a_disk0", snapshot: "before" });
  assert.equal(msg(add), "Created new RBD snapshot 'before' of volume 'a_disk0' on pool 'vms'.");
  assert.equal((await m.pvc.post("/storage/ceph/snapshot", { pool: "vms", volume: "c_disk0", snapshot: "s1" })).status, 200);
  assert.deepEqual((await m.pvc.get("/storage/ceph/volume/snapshot")).json, ["vms/a_disk0@before", "vms/c_disk0@s1"]);
  assert.deepEqual((await m.pvc.get("/storage/ceph/volume/snapshot", { volume: "c_disk0" })).json, ["vms/c_disk0@s1"]);
  assert.deepEqual((await m.pvc.get("/storage/ceph/snapshot", { limit: "bef" })).json, [{ pool: "vms", volume: "a_disk0", snapshot: "before" }]);
  assert.deepEqual((await m.pvc.get("/storage/ceph/volume/snapshot/vms/a_disk0/before")).json, ["vms/a_disk0@before"]);
  assert.equal(msg(await m.pvc.get("/storage/ceph/volume/snapshot/vms/a_disk0/nope")), "Volume snapshot not found.");
  assert.match(msg(await m.pvc.post("/storage/ceph/volume/snapshot", { pool: "vms", volume: "zz", snapshot: "x" })), /does not exist/);
  assert.match(msg(await m.pvc.post("/storage/ceph/volume/snapshot", { pool: "vms", volume: "a_disk0", snapshot: "before" })), /already exists/);
  assert.equal((await m.pvc.put("/storage/ceph/volume/snapshot/vms/a_disk0/before", { name: "after" })).status, 200);
  assert.equal(msg(await m.pvc.del("/storage/ceph/volume/snapshot/vms/a_disk0/after")), "Removed RBD snapshot 'after' of volume 'a_disk0' on pool 'vms'.");
  assert.equal((await m.pvc.del("/storage/ceph/volume/snapshot/vms/a_disk0/after")).status, 400);
  assert.equal(msg(await m.pvc.del("/storage/ceph/volume/vms/a_disk0")), "Removed RBD volume 'a_disk0' in pool 'vms'.");
  assert.equal((await m.pvc.del("/storage/ceph/volume/vms/a_disk0")).status, 400);
});

// The Ceph backend drives ceph/rados/rbd/ceph-volume with argument lists; here stand-in
// commands record what they were asked and answer as the real ones do.

import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CephStorage } from "./ceph.ts";

function standIns(): { dir: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), "corral-ceph-"));
  const log = join(dir, "calls.log");
  const script = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  script("ceph", `case "$*" in
  "status") echo "  cluster:"; echo "    health: HEALTH_OK" ;;
  "osd pool ls detail --format json") echo '[{"pool_name":"vms","pg_num":64}]' ;;
  "osd dump --format json") echo '{"osds":[{"osd":0,"uuid":"u0","up":1,"in":1,"primary_affinity":1,"state":["exists","up"]}]}' ;;
  "osd df --format json") echo '{"nodes":[{"id":0,"utilization":1.5,"var":1,"pgs":64,"kb":1000,"crush_weight":1,"reweight":1,"kb_used":15,"kb_avail":985}]}' ;;
  "osd tree --format json") echo '{"nodes":[{"type":"host","name":"hv1","children":[0]}]}' ;;
  "osd pool create bad"*) echo "Error EINVAL: bad pool" >&2; exit 22 ;;
esac`);
  script("rados", `case "$*" in
  "df --format json") echo '{"pools":[{"name":"vms","id":3,"size_bytes":4096,"num_objects":1}]}' ;;
  "df") echo "POOL_NAME USED" ;;
esac`);
  script("rbd", `case "$*" in
  "ls vms --format json") echo '["disk0"]' ;;
  "info vms/disk0 --format json") echo '{"name":"disk0","size":4294967296,"objects":1024,"order":22}' ;;
  "snap ls vms/disk0 --format json") echo '[{"id":4,"name":"s1","size":4294967296}]' ;;
  "lock list vms/disk0 --format json") echo '[{"id":"auto 1","locker":"client.42","address":"10.0.0.1:0/1"}]' ;;
esac`);
  script("ceph-volume", `case "$*" in
  "lvm list /dev/sdb --format json") echo '{"5":[{"devices":["/dev/sdb"]}]}' ;;
esac`);
  return { dir, calls: () => readFileSync(log, "utf8").trim().split("\n") };
}

test("reads: status text, pools with pg counts, volumes with rbd info, snapshots, OSDs merged", async () => {
  const s = standIns();
  const ceph = new CephStorage({ nodeName: "hv1", path: `${s.dir}:/usr/bin:/bin` });
  assert.match((await ceph.run({ op: "status" })).text!, /HEALTH_OK/);
  assert.deepEqual((await ceph.run({ op: "pool_list" })).pools, [{ name: "vms", pgs: 64, stats: { id: 3, size_bytes: 4096, num_objects: 1 } }]);
  const [vol] = (await ceph.run({ op: "volume_list", pool: "vms" })).volumes!;
  assert.equal(vol.size, 4294967296);
  assert.deepEqual((await ceph.run({ op: "snapshot_list", pool: "vms" })).snapshots, [{ pool: "vms", volume: "disk0", name: "s1" }]);
  const [osd] = (await ceph.run({ op: "osd_list" })).osds!;
  assert.equal(osd.node, "hv1");
  assert.equal(osd.stats.state, "exists,up");
  assert.deepEqual((await ceph.run({ op: "volume_disk", pool: "vms", volume: "disk0" })).disk, { dev_type: "rbd", logical_id: ["rbd", "vms/disk0"], size: 4096 });
});

test("changes run the Ceph commands PVC runs, as argument lists", async () => {
  const s = standIns();
  const ceph = new CephStorage({ nodeName: "hv1", path: `${s.dir}:/usr/bin:/bin` });
  await ceph.run({ op: "pool_add", pool: "vms", pgs: 64 });
  await ceph.run({ op: "volume_add", pool: "vms", volume: "disk1", size: 1073741824 });
  await ceph.run({ op: "volume_resize", pool: "vms", volume: "disk1", size: 2147483648 });
  await ceph.run({ op: "volume_rename", pool: "vms", volume: "disk1", new_name: "disk2" });
  await ceph.run({ op: "snapshot_add", pool: "vms", volume: "disk2", snapshot: "s2" });
  await ceph.run({ op: "snapshot_remove", pool: "vms", volume: "disk2", snapshot: "s2" });
  await ceph.run({ op: "volume_remove", pool: "vms", volume: "disk2" });
  await ceph.run({ op: "lock_flush", pool: "vms", volume: "disk0" });
  await ceph.run({ op: "option", action: "set", option: "noout" });
  await ceph.run({ op: "osd_state", id: "0", state: "out" });
  assert.equal((await ceph.run({ op: "osd_add", id: 0, device: "/dev/sdb", weight: 1 })).id, "5");
  await ceph.run({ op: "osd_remove", id: "5" });
  await ceph.run({ op: "pool_remove", pool: "vms" });
  assert.deepEqual(s.calls().filter((c) => !/--format json$/.test(c)), [
    "ceph osd pool create vms 64 replicated",
    "ceph osd pool application enable vms rbd",
    "rbd create --size 1073741824B vms/disk1",
    "rbd resize --allow-shrink --size 2147483648B vms/disk1",
    "rbd rename vms/disk1 vms/disk2",
    "rbd snap create vms/disk2@s2",
    "rbd snap rm vms/disk2@s2",
    "rbd rm vms/disk2",
    "rbd lock remove vms/disk0 auto 1 client.42",
    "ceph osd set noout",
    "ceph osd out 0",
    "ceph-volume lvm create --bluestore --data /dev/sdb",
    "ceph osd crush reweight osd.5 1",
    "ceph osd out 5",
    "ceph osd purge 5 --yes-i-really-mean-it",
    "ceph osd pool rm vms vms --yes-i-really-really-mean-it",
  ]);
});

test("a failing command becomes a storage error with what it printed; names are checked first", async () => {
  const s = standIns();
  const ceph = new CephStorage({ nodeName: "hv1", path: `${s.dir}:/usr/bin:/bin` });
  await assert.rejects(ceph.run({ op: "pool_add", pool: "bad", pgs: 8 }), /exited with exit code 22: Error EINVAL: bad pool/);
  await assert.rejects(ceph.run({ op: "volume_add", pool: "vms", volume: "../x", size: 1 }), /Invalid volume name/);
  await assert.rejects(ceph.run({ op: "osd_add", id: 0, device: "/etc/passwd", weight: 1 }), /must be a \/dev path/);
});

// PUT /2/instances/X/modify beyond parameters: NICs and disks added, changed and removed in
// both modification forms, disk template conversion with the data carried over, the
// offline flag, OS parameters, network addresses from a pool.

import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { call } from "../support/cluster.ts";
import { createBody, fails, getInstance, head, ok, run, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";

describe("instance modification", () => {
  let c: InstanceCluster;
  let port: number;
  const snapInst = (name: string) => [...c.master.store.snapshot().instances.values()].find((i) => i.name === `${name}.corral.test`);
  before(async () => {
    c = await startInstanceCluster();
    port = c.port;
    await ok(port, "POST", "/2/instances", createBody("mod1", { start: false, nics: [{ mac: "aa:00:00:11:22:33" }] }));
  });
  after(() => c.close());

  it("adds, changes and removes NICs (new and deprecated forms), describing each change", async () => {
    let result = await ok(port, "PUT", "/2/instances/mod1/modify", { nics: [["add", -1, { link: "br1", name: "second" }]] }) as [string, string][];
    assert.equal(result.length, 1);
    assert.match(result[0][1], /^add:mac=aa:00:00:[0-9a-f:]{8},ip=None,mode=bridged,link=br1,network=None$/);
    assert.equal(result[0][0], "nic.1");
    let inst = await getInstance(port, "mod1");
    assert.deepEqual(inst["nic.links"], ["br0", "br1"]);
    assert.deepEqual(inst["nic.names"], [null, "second"]);
    assert.equal((inst["nic.macs"] as string[])[0], "aa:00:00:11:22:33");

    result = await ok(port, "PUT", "/2/instances/mod1/modify", { nics: [[1, { mode: "routed", ip: "192.0.2.7" }]] }) as [string, string][];
    assert.deepEqual(result, [["nic.ip/1", "192.0.2.7"], ["nic.mode/1", "routed"], ["nic.link/1", "br1"], ["nic.vlan/1", ""]]);
    inst = await getInstance(port, "mod1");
    assert.deepEqual(inst["nic.modes"], ["bridged", "routed"]);
    assert.deepEqual(inst["custom_nicparams"], [{}, { link: "br1", mode: "routed" }]);

    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { nics: [["modify", "second", { ip: "none" }]] }),
      ["OpPrereqError", ["Cannot set the NIC IP address to None on a routed NIC if not attached to a network", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { nics: [["add", -1, { mac: "aa:00:00:11:22:33" }]] }),
      ["OpPrereqError", ["MAC address 'aa:00:00:11:22:33' already in use in cluster", "resource_not_unique"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { nics: [["add", {}], ["remove", {}]] }),
      ["OpPrereqError", ["Only one NIC add/attach/remove/detach operation is supported at a time", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { nics: [["attach", -1, {}]] }),
      ["OpPrereqError", ["Attach operation is not supported for NICs", "wrong_input"]]);

    result = await ok(port, "PUT", "/2/instances/mod1/modify", { nics: [["remove", {}]] }) as [string, string][];
    assert.deepEqual(result, [["nic/1", "remove"]]);
    assert.deepEqual((await getInstance(port, "mod1"))["nic.links"], ["br0"]);
  });

  it("adds a disk (a new sparse file), renames and re-modes one, and removes one", async () => {
    const result = await ok(port, "PUT", "/2/instances/mod1/modify", { disks: [["add", -1, { size: 2048, name: "data" }]] });
    assert.deepEqual(result, [["disk/1", "add:size=2048,mode=rw"]]);
    let inst = snapInst("mod1")!;
    const path = String(inst.disks[1].logical_id[1]);
    assert.match(path, /mod1\.corral\.test\/[0-9a-f-]{36}\.file\.disk1$/);
    assert.equal(statSync(path).size, 2048 * 1024 * 1024);
    assert.deepEqual((await getInstance(port, "mod1"))["disk.names"], [null, "data"]);

    assert.deepEqual(await ok(port, "PUT", "/2/instances/mod1/modify", { disks: [["modify", "data", { mode: "ro", name: "archive" }]] }),
      [["disk.mode/1", "ro"], ["disk.name/1", "archive"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disks: [[1, { size: 4096 }]] }),
      ["OpPrereqError", ["Disk size change not possible, use grow-disk", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disks: [["add", -1, {}]] }),
      ["OpPrereqError", ["Required disk parameter 'size' missing", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disks: [["modify", "nosuch", { mode: "rw" }]] }),
      ["OpPrereqError", ["Cannot find disk with identifier nosuch", "unknown_entity"]]);

    assert.deepEqual(await ok(port, "PUT", "/2/instances/mod1/modify", { disks: [["remove", "archive", {}]] }), [["disk/1", "remove"]]);
    assert.equal(existsSync(path), false);
    inst = snapInst("mod1")!;
    assert.equal(inst.disks.length, 1);
  });

  it("refuses to remove a disk from a running instance (no hotplug on the fake hypervisor)", async () => {
    await ok(port, "PUT", "/2/instances/mod1/startup");
    const job = await run(port, "PUT", "/2/instances/mod1/modify", { disks: [["remove", -1, {}]] });
    assert.equal(job.status, "error");
    assert.deepEqual((job.opresult as unknown[])[0], ["OpPrereqError", [
      "Instance 'mod1.corral.test' is marked to be up, can't remove volume from a running instance without using hotplug", "wrong_state"]]);
    const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
    assert.deepEqual(log, [" - WARNING: Hotplug is not supported by the fake hypervisor", " - INFO: Modification will take place without hotplugging."]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { offline: true }),
      ["OpPrereqError", ["Instance 'mod1.corral.test' is marked to be up, can't change to offline without being down first", "wrong_state"]]);
    await ok(port, "PUT", "/2/instances/mod1/shutdown");
  });

  it("converts file → sharedfile → ext (filestore) → file, carrying the data", async () => {
    const marker = () => head(String(snapInst("mod1")!.disks[0].logical_id[1]), 40);
    const before = marker();
    assert.match(before, /^CORRAL-MARKER v1 name=mod1/);
    let result = await ok(port, "PUT", "/2/instances/mod1/modify", { disk_template: "sharedfile" });
    assert.deepEqual(result, [["disk_template", "sharedfile"]]);
    let inst = snapInst("mod1")!;
    assert.equal(inst.disks[0].dev_type, "sharedfile");
    assert.ok(String(inst.disks[0].logical_id[1]).startsWith(c.sharedDir));
    assert.equal(marker(), before);
    assert.equal((await getInstance(port, "mod1")).disk_template, "sharedfile");

    const extDir = `${c.dataDir}/ext-volumes`;
    result = await ok(port, "PUT", "/2/instances/mod1/modify", { disk_template: "ext", ext_params: { provider: "filestore", dir: extDir } });
    assert.deepEqual(result, [["disk_template", "ext"]]);
    inst = snapInst("mod1")!;
    assert.deepEqual([inst.disks[0].dev_type, inst.disks[0].params], ["ext", { provider: "filestore", dir: extDir }]);
    const volume = `${extDir}/${String(inst.disks[0].logical_id[1])}`;
    assert.equal(head(volume, 40), before);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disk_template: "ext", ext_params: { provider: "filestore" } }),
      ["OpPrereqError", ["Not converting, 'disk/0' of type ExtStorage already using provider 'filestore'", "wrong_input"]]);

    result = await ok(port, "PUT", "/2/instances/mod1/modify", { disk_template: "file" });
    assert.deepEqual(result, [["disk_template", "file"]]);
    assert.equal(existsSync(volume), false, "the old volume is gone");
    assert.equal(marker(), before);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disk_template: "file" }),
      ["OpPrereqError", ["Instance already has disk template file", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disk_template: "diskless" }),
      ["OpPrereqError", ["Conversion to the 'diskless' disk template is not supported", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { disk_template: "plain" }),
      ["OpPrereqError", ["Disk template 'plain' is not enabled for this cluster (enabled templates: diskless, file, sharedfile, ext)", "wrong_state"]]);
  });

  it("marks the instance offline and back (status ADMIN_offline), and refuses to start it offline", async () => {
    assert.deepEqual(await ok(port, "PUT", "/2/instances/mod1/modify", { offline: true }), [["admin_state", "offline"]]);
    assert.equal((await getInstance(port, "mod1")).status, "ADMIN_offline");
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/startup"),
      ["OpPrereqError", ["Instance 'mod1.corral.test' is marked to be offline, can't use instance from outside down, up states", "wrong_state"]]);
    assert.deepEqual(await ok(port, "PUT", "/2/instances/mod1/modify", { offline: false }), [["admin_state", "down"]]);
    assert.equal((await getInstance(port, "mod1")).status, "ADMIN_down");
  });

  it("checks OS parameters on the node and hypervisor parameters locally", async () => {
    assert.deepEqual(await ok(port, "PUT", "/2/instances/mod1/modify", { osparams: { marker_text: "hello" } }), [["os/marker_text", "hello"]]);
    assert.deepEqual((await getInstance(port, "mod1")).custom_osparams, { marker_text: "hello" });
    const err = await fails(port, "PUT", "/2/instances/mod1/modify", { osparams: { nonsense: "1" } });
    assert.deepEqual(err, ["OpExecError", ["OS Parameters validation failed on node node1.corral.test: The following parameters are not supported by the OS corral-marker: nonsense"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { hvparams: { migration_mode: "live" } }),
      ["OpPrereqError", ["The following hypervisor parameters are global and cannot be customized at instance level, please modify them at cluster level: migration_mode", "wrong_input"]]);
    assert.deepEqual(await fails(port, "PUT", "/2/instances/mod1/modify", { hvparams: { bogus: 1 } }), ["TypeEnforcementError", ["Unknown parameter 'bogus'"]]);
    const r = await call(port, "PUT", "/2/instances/mod1/modify", { user: "writer", body: { beparams: {}, custom_beparams: {} } });
    assert.equal(r.status, 400);
  });

  it("takes NIC addresses from a network's pool and gives them back on removal", async () => {
    const net = await ok(port, "POST", "/2/networks", { network_name: "pool1", network: "10.10.0.0/29", gateway: "10.10.0.1" });
    assert.equal(net, null);
    await ok(port, "PUT", "/2/networks/pool1/connect", { group_name: "default", network_mode: "routed", network_link: "rt1" });
    const job = await run(port, "POST", "/2/instances", createBody("pooled", {
      disk_template: "diskless", disks: [], start: false, nics: [{ network: "pool1", ip: "pool" }],
    }));
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    const inst = await getInstance(port, "pooled");
    assert.deepEqual([inst["nic.ips"], inst["nic.modes"], inst["nic.links"], inst["nic.networks.names"]], [["10.10.0.2"], ["routed"], ["rt1"], ["pool1"]]);
    const netInfo = (await call(port, "GET", "/2/networks/pool1")).json as Record<string, unknown>;
    assert.equal(netInfo.map, "XXX....X");
    assert.deepEqual(await fails(port, "POST", "/2/instances", createBody("clash", {
      disk_template: "diskless", disks: [], start: false, nics: [{ network: "pool1", ip: "10.10.0.2" }],
    })), ["OpPrereqError", ["IP address 10.10.0.2 already in use or does not belong to network pool1", "resource_not_unique"]]);
    await ok(port, "DELETE", "/2/instances/pooled", {});
    assert.equal(((await call(port, "GET", "/2/networks/pool1")).json as Record<string, unknown>).map, "XX.....X");
  });
});

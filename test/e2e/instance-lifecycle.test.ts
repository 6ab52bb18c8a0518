// An instance's whole life over RAPI on a two-node cluster (node1 the master's own agent,
// node2 an agent over HTTPS), checked in the RAPI answers and in the files on the nodes:
// create (by the allocator and on a named node), start, reboot, migrate, fail over,
// modify, grow a disk, rename, export and import as a new instance, reinstall, tags, remove.

import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { call } from "../support/cluster.ts";
import { createBody, getInstance, head, ok, run, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";

const MiB = 1024 * 1024;
/** The instances' disk, MiB, and what a grow adds. */
const DISK_MIB = 128;
const GROW_MIB = 64;

describe("an instance's life, end to end", () => {
  let c: InstanceCluster;
  let port: number;
  const config = (name: string) => [...c.master.store.snapshot().instances.values()].find((i) => i.name === `${name}.corral.test`);
  const diskFile = (name: string, i = 0) => String(config(name)!.disks[i].logical_id[1]);
  const marker = (path: string) => head(path, 160).split("\n")[0];
  /** What each node's hypervisor runs. */
  const running = async () => {
    const out: Record<string, string[]> = {};
    for (const node of c.master.store.snapshot().nodes.values()) {
      out[node.name.split(".")[0]] = (await c.master.connections.client(node).instanceList({})).map((r) => r.name.split(".")[0]).sort();
    }
    return out;
  };
  const sparse = (path: string, mib: number) => {
    const st = statSync(path);
    assert.equal(st.size, mib * MiB, `${path} is ${mib} MiB`);
    assert.ok(st.blocks * 512 < 8 * MiB, `${path} is sparse (${st.blocks} blocks)`);
  };

  before(async () => {
    c = await startInstanceCluster({ extraNodes: 1 });
    port = c.port;
    // Small disks: export and import copy every byte, and a big copy belongs in the bench.
    const info = (await call(port, "GET", "/2/info")).json as { ipolicy: { minmax: { min: Record<string, number>; max: Record<string, number> }[] } & Record<string, unknown> };
    const minmax = info.ipolicy.minmax.map((mm) => ({ min: { ...mm.min, "disk-size": DISK_MIB }, max: mm.max }));
    await ok(port, "PUT", "/2/modify", { ipolicy: { ...info.ipolicy, minmax } });
  });
  after(() => c.close());

  it("creates a sharedfile instance where the allocator says and a file instance on node2", async () => {
    const job = await run(port, "POST", "/2/instances", createBody("life1", { disk_template: "sharedfile", pnode: null, iallocator: "hail", disks: [{ size: DISK_MIB }] }));
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    const placed = (job.opresult as string[][])[0][0];
    assert.ok(["node1.corral.test", "node2.corral.test"].includes(placed));
    const shared = diskFile("life1");
    assert.ok(shared.startsWith(join(c.sharedDir, "life1.corral.test")));
    sparse(shared, DISK_MIB);
    assert.match(marker(shared), /^CORRAL-MARKER v1 name=life1\.corral\.test os=corral-marker\+default variant=default hypervisor=fake disks=1 nics=1$/);

    await ok(port, "POST", "/2/instances", createBody("life2", { pnode: "node2", start: false, disks: [{ size: DISK_MIB, name: "root" }] }));
    const local = diskFile("life2");
    assert.ok(local.startsWith(join(c.extra[0].stateDir, "file-storage", "life2.corral.test")), local);
    sparse(local, DISK_MIB);
    assert.match(marker(local), /name=life2\.corral\.test/);
    const got = await getInstance(port, "life2");
    assert.deepEqual([got.pnode, got.status, got["disk.names"], got.disk_template], ["node2.corral.test", "ADMIN_down", ["root"], "file"]);
    assert.deepEqual((await running())[placed.split(".")[0]], ["life1"]);
  });

  it("starts, reboots and moves life1 between the nodes, live and by failover", async () => {
    await ok(port, "PUT", "/2/instances/life2/startup");
    assert.equal((await getInstance(port, "life2")).status, "running");
    await ok(port, "POST", "/2/instances/life1/reboot?type=hard");
    assert.equal((await getInstance(port, "life1")).status, "running");

    const from = (await getInstance(port, "life1")).pnode as string;
    const to = from === "node1.corral.test" ? "node2.corral.test" : "node1.corral.test";
    await ok(port, "PUT", "/2/instances/life1/migrate", { target_node: to });
    let got = await getInstance(port, "life1");
    assert.deepEqual([got.pnode, got.status], [to, "running"]);
    assert.ok((await running())[to.split(".")[0]].includes("life1"));
    assert.ok(!(await running())[from.split(".")[0]].includes("life1"));

    await ok(port, "PUT", "/2/instances/life1/failover", { iallocator: "hail" });
    got = await getInstance(port, "life1");
    assert.deepEqual([got.pnode, got.status], [from, "running"]);
    assert.ok((await running())[from.split(".")[0]].includes("life1"));
  });

  it("modifies life1 and grows its disk (the shared file follows)", async () => {
    const changes = await ok(port, "PUT", "/2/instances/life1/modify", {
      beparams: { maxmem: 256 }, nics: [["add", -1, { link: "br1" }]], osparams: { marker_text: "lifecycle" },
    }) as [string, unknown][];
    assert.deepEqual(changes.map(([k]) => k), ["nic.1", "be/maxmem", "os/marker_text"]);
    await ok(port, "POST", "/2/instances/life1/disk/0/grow", { amount: GROW_MIB });
    sparse(diskFile("life1"), DISK_MIB + GROW_MIB);
    const got = await getInstance(port, "life1");
    assert.deepEqual([got["disk.sizes"], got["nic.links"], (got.beparams as Record<string, unknown>).maxmem], [[DISK_MIB + GROW_MIB], ["br0", "br1"], 256]);
  });

  it("renames life1 once it is down: the shared directory and the marker follow", async () => {
    await ok(port, "PUT", "/2/instances/life1/shutdown");
    const old = diskFile("life1");
    assert.equal(await ok(port, "PUT", "/2/instances/life1/rename", { new_name: "life9.corral.test" }), "life9.corral.test");
    const now = diskFile("life9");
    assert.ok(now.startsWith(join(c.sharedDir, "life9.corral.test")), now);
    assert.equal(existsSync(old), false);
    assert.equal(existsSync(join(c.sharedDir, "life1.corral.test")), false, "the old directory is gone");
    assert.match(marker(now), /^CORRAL-MARKER v1 name=life9\.corral\.test/);
    sparse(now, DISK_MIB + GROW_MIB);
  });

  it("exports life9 to node2 and imports it as life3 on node1, data and all", async () => {
    const exported = await ok(port, "PUT", "/2/instances/life9/export", { mode: "local", destination: "node2.corral.test" });
    assert.deepEqual(exported, [true, [true]]);
    const dir = join(c.extra[0].stateDir, "export", "life9.corral.test");
    assert.ok(existsSync(join(dir, "config.ini")));
    const ini = readFileSync(join(dir, "config.ini"), "utf8");
    assert.match(ini, /\nname = life9\.corral\.test\n/);
    assert.match(ini, new RegExp(`\\ndisk0_size = ${DISK_MIB + GROW_MIB}\\n`));

    const job = await run(port, "POST", "/2/instances", {
      __version__: 1, mode: "import", name: "life3.corral.test", disk_template: "file", disks: [], nics: [],
      pnode: "node1.corral.test", src_node: "node2.corral.test", src_path: "life9.corral.test",
    });
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    const copy = diskFile("life3");
    sparse(copy, DISK_MIB + GROW_MIB);
    assert.match(marker(copy), /^CORRAL-MARKER v1 name=life9\.corral\.test .* text=lifecycle$/, "life9's data");
    const got = await getInstance(port, "life3");
    assert.deepEqual([got.pnode, got.status, got["nic.links"], got.custom_osparams], ["node1.corral.test", "running", ["br0", "br1"], { marker_text: "lifecycle" }]);
  });

  it("reinstalls life3 with another variant: the marker is its own again", async () => {
    const job = await run(port, "POST", "/2/instances/life3/reinstall", { os: "corral-marker+minimal", start: true });
    assert.deepEqual([job.status, job.opresult], ["success", [null, null, null]]);
    assert.equal(marker(diskFile("life3")).trim(), "CORRAL-MARKER v1 name=life3.corral.test os=corral-marker+minimal variant=minimal");
    const got = await getInstance(port, "life3");
    assert.deepEqual([got.os, got.status], ["corral-marker+minimal", "running"]);
  });

  it("tags life3", async () => {
    await ok(port, "PUT", "/2/instances/life3/tags?tag=env%3Ae2e&tag=golden");
    assert.deepEqual((await call(port, "GET", "/2/instances/life3/tags")).json, ["env:e2e", "golden"]);
    await ok(port, "DELETE", "/2/instances/life3/tags?tag=golden");
    assert.deepEqual((await getInstance(port, "life3")).tags, ["env:e2e"]);
  });

  it("removes everything: instances, disk files, the export", async () => {
    const files = ["life9", "life2", "life3"].map((n) => diskFile(n));
    for (const n of ["life9", "life2", "life3"]) await ok(port, "DELETE", `/2/instances/${n}`, {});
    for (const f of files) assert.equal(existsSync(f), false, f);
    assert.equal(existsSync(join(c.sharedDir, "life9.corral.test")), false);
    assert.deepEqual((await call(port, "GET", "/2/instances")).json, []);
    assert.deepEqual(await running(), { node1: [], node2: [] });
    await ok(port, "DELETE", "/2/instances/life9.corral.test/export", {});
    assert.equal(existsSync(join(c.extra[0].stateDir, "export", "life9.corral.test")), false);
  });
});

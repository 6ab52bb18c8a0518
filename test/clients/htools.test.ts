// Ganeti's htools (Debian's ganeti-htools-3.0: hscan, hinfo, hbal, hspace) reading a
// three-node Corral cluster over RAPI. Their RAPI backend fetches, without credentials and
// without checking the certificate, https://HOST:PORT/2/groups?bulk=1, /2/nodes?bulk=1,
// /2/instances?bulk=1 and /2/info, and needs specific fields of each: live node memory and
// CPUs as numbers for every online vm_capable node, ndparams.exclusive_storage and
// spindle_count, the group ipolicy, instance beparams, disk sizes, status and pnode.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";
import { requireTools } from "../support/tools.ts";

const htools = requireTools({ tools: ["hscan", "hinfo", "hbal", "hspace"] });

/** Runs a tool asynchronously: the master it reads runs in this process. */
function htool(tool: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(htools.path(tool), args, { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, out: stdout + stderr });
    });
  });
}

htools.describe("htools against a three-node cluster", () => {
  let c: MultiNodeCluster;
  let dir: string;
  let url: string;
  /** Submits as "writer" and waits; the job must succeed. */
  const run = async (method: string, uri: string, body?: unknown) => {
    const client = c.client();
    const job = await client.waitForJob((await client.request(method, uri, body)) as number);
    assert.equal(job.status, "success", `${method} ${uri}: ${JSON.stringify(job.opresult)}`);
  };
  const createInstance = (name: string, pnode: string, template: string) =>
    run("POST", "/2/instances", {
      __version__: 1, mode: "create", name: `${name}.corral.test`, os: "corral-marker+default", pnode: `${pnode}.corral.test`,
      disk_template: template, disks: template === "diskless" ? [] : [{ size: 1024 }], nics: [{}],
      beparams: { maxmem: 512, minmem: 512, vcpus: 1 },
    });

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 8192, master: { ssl: true }, templates: ["diskless", "file", "sharedfile"] });
    dir = mkdtempSync(join(tmpdir(), "corral-htools-"));
    url = `https://127.0.0.1:${c.master.port}`;
    await createInstance("web1", "node2", "file");
    await createInstance("web2", "node3", "sharedfile");
    await createInstance("db1", "node1", "diskless");
  });
  after(async () => {
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("hscan reads the cluster and prints every node", async () => {
    const r = await htool("hscan", ["-p", "-d", dir, url]);
    assert.equal(r.code, 0, r.out);
    const summary = r.out.split("\n").find((l) => l.startsWith(url.replace(/\/$/, "")));
    assert.ok(summary, r.out);
    const [, nodes, inst, bnode, binst, tMem, fMem] = summary.trim().split(/\s+/);
    assert.deepEqual([nodes, inst, bnode, binst], ["3", "3", "0", "0"], r.out);
    assert.equal(tMem, String(3 * 8192), "t_mem is the agents' memory");
    assert.equal(fMem, String(3 * (8192 - 1024 - 512)), "f_mem: one running 512 MiB instance per node");
    // F Name t_mem n_mem i_mem x_mem f_mem ...: each node's row, with its instance's memory.
    for (const n of ["node1", "node2", "node3"]) assert.match(r.out, new RegExp(`^\\s+${n}\\s+8192\\s+1024\\s+512\\s+0\\s+6656\\s`, "m"), `${n} row`);
  });

  it("hinfo shows the nodes, instances and node group", async () => {
    const r = await htool("hinfo", ["-m", url]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Loaded 3 nodes, 3 instances, 1 node group/);
    assert.match(r.out, /Cluster score: \d/);
  });

  it("hbal -m loads the cluster and computes a balancing solution", async () => {
    const r = await htool("hbal", ["-m", url]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Loaded 3 nodes, 3 instances/);
    assert.match(r.out, /Selected node group: default/);
    assert.match(r.out, /Initial check done: 0 bad nodes, 0 bad instances/);
  });

  it("hspace -m computes capacity from the nodes' free memory", async () => {
    const r = await htool("hspace", ["-m", url]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /The cluster has 3 nodes and the following resources:\n\s+MEM 24576, DSK \d+, CPU \d+, VCPU \d+\./);
    assert.match(r.out, /There are 3 initial instances on the cluster\./);
    assert.match(r.out, /Normal \(fixed-size\) allocation results:\n\s+-\s+\d+ instances allocated/);
  });

  it("follows node groups and drained nodes: hinfo sees two groups, hbal balances one", async () => {
    await run("POST", "/2/groups", { name: "rack2" });
    await run("PUT", "/2/groups/rack2/assign-nodes?force=1", { nodes: ["node3.corral.test"] });
    await run("PUT", "/2/nodes/node2/role?auto-promote=1", "drained");
    const info = await htool("hinfo", ["-m", url]);
    assert.equal(info.code, 0, info.out);
    assert.match(info.out, /Loaded 3 nodes, 3 instances, 2 node groups/);
    const bal = await htool("hbal", ["-G", "rack2", "-m", url]);
    assert.equal(bal.code, 0, bal.out);
    assert.match(bal.out, /Selected node group: rack2/);
    const scan = await htool("hscan", ["-p", "-d", dir, url]);
    assert.match(scan.out, /^ -?D?\s*node2\s/m, "a drained node is flagged offline-for-allocation");
  });
});

// Building a multi-node cluster by hand, as README.md describes it: a master, node agents
// started with `corral node-agent` from a copy of the cluster certificate, joined with
// `corral node add` over HTTPS (trusting the master's rapi.pem), listed and removed again.
// And what the join refuses: agents without the cluster certificate, serving another
// node name, or not there at all; names and addresses already in use.

import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { addNode, JobFailedError } from "../../src/client/nodes.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { runNodeAgent } from "../../src/node/index.ts";
import { generateClusterCert, saveClusterCert } from "../../src/rpc/index.ts";
import { call, startTestMaster, USERS, type TestMaster } from "../support/cluster.ts";
import { startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";
import { startAgentProcess } from "../support/process.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));

function corral(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(CORRAL, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, out: stdout + stderr });
    });
  });
}


describe("a cluster built by hand with the corral command", () => {
  let t: TestMaster;
  let dir: string;
  let agent: { child: ChildProcess; endpoint: string };
  let conn: string[];
  before(async () => {
    t = await startTestMaster({ ssl: true, nodeName: "node1.corral.test" });
    dir = mkdtempSync(join(tmpdir(), "corral-e2e-node-"));
    const passwordFile = join(dir, "password");
    writeFileSync(passwordFile, `${USERS.writer}\n`);
    conn = ["--rapi", `https://127.0.0.1:${t.master.port}`, "--user", "writer", "--password-file", passwordFile, "--ca", join(t.dataDir, "rapi.pem")];
    const cert = clusterCertPaths(t.dataDir);
    agent = await startAgentProcess([
      "--bind", "127.0.0.1", "--port", "0", "--state-dir", join(dir, "node2"), "--node-name", "node2.corral.test",
      "--cluster-cert", cert.cert, "--cluster-key", cert.key, "--memory", "4096",
    ]);
  });
  after(async () => {
    agent?.child.kill("SIGTERM");
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("joins the agent with `corral node add`, following the job's log", async () => {
    const r = await corral(["node", "add", "node2.corral.test", "--endpoint", agent.endpoint, "--primary-ip", "127.0.1.2", ...conn]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Node will be a master candidate/);
    assert.match(r.out, /node node2\.corral\.test joined the cluster/);
    const node = (await call(t.master.port, "GET", "/2/nodes/node2", {}, true)).json as Record<string, unknown>;
    assert.equal(node.pip, "127.0.1.2");
    assert.equal(node.role, "C");
    assert.equal(node.mtotal, 4096, "live data comes from the new agent");
  });

  it("lists the nodes with `corral node list`", async () => {
    const r = await corral(["node", "list", ...conn]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^Node\s+DTotal\s+DFree\s+MTotal\s+MNode\s+MFree\s+Pinst\s+Sinst$/m, "gnt-node list's columns");
    const fields = await corral(["node", "list", "-o", "name,role,pip,mtotal", "--units", "m", ...conn]);
    assert.match(fields.out, /^Node\s+Role\s+PrimaryIP\s+MTotal$/m);
    assert.match(fields.out, /^node2\.corral\.test\s+C\s+127\.0\.1\.2\s+4096$/m);
  });

  it("reports a refused join with the job's error and a non-zero exit", async () => {
    const r = await corral(["node", "add", "node2.corral.test", "--endpoint", agent.endpoint, ...conn]);
    assert.equal(r.code, 1);
    assert.match(r.out, /Failure: prerequisites not met for this operation:\nerror type: already_exists, error details:\nNode node2\.corral\.test is already in the configuration/);
    const noEndpoint = await corral(["node", "add", "node9", ...conn]);
    assert.equal(noEndpoint.code, 2, "a usage error");
    assert.match(noEndpoint.out, /needs --endpoint/);
    const wrong = join(dir, "wrong-password");
    writeFileSync(wrong, "wrong\n");
    const badPassword = await corral(["node", "list", "--rapi", `https://127.0.0.1:${t.master.port}`, "--user", "writer", "--password-file", wrong, "--insecure"]);
    assert.equal(badPassword.code, 1);
    assert.match(badPassword.out, /Unauthorized/);
  });

  it("re-adds a known node, keeping its agent endpoint", async () => {
    const r = await corral(["node", "add", "node2.corral.test", "--readd", ...conn]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Readding a node, the offline\/drained flags were reset/);
  });

  it("removes the node with `corral node remove`", async () => {
    const r = await corral(["node", "remove", "node2", ...conn]);
    assert.equal(r.code, 0, r.out);
    const nodes = (await call(t.master.port, "GET", "/2/nodes", {}, true)).json as { id: string }[];
    assert.deepEqual(nodes.map((n) => n.id), ["node1.corral.test"]);
    const master = await corral(["node", "remove", "node1.corral.test", ...conn]);
    assert.equal(master.code, 1);
    assert.match(master.out, /Node is the master node, failover to another node is required/);
  });
});

describe("joining checks the agent before the config changes", () => {
  let c: MultiNodeCluster;
  const dirs: string[] = [];
  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2 });
  });
  after(async () => {
    await c?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const nodeNames = async () => ((await call(c.master.port, "GET", "/2/nodes")).json as { id: string }[]).map((n) => n.id);
  const refused = async (p: Promise<unknown>, pattern: RegExp) => {
    await assert.rejects(p, (err: unknown) => err instanceof JobFailedError && pattern.test(err.message));
  };

  it("has joined three nodes through the real path", async () => {
    assert.deepEqual(await nodeNames(), ["node1.corral.test", "node2.corral.test", "node3.corral.test"]);
    const jobs = (await call(c.master.port, "GET", "/2/jobs?bulk=1")).json as { summary: string[] }[];
    assert.deepEqual(jobs.map((j) => j.summary[0]), ["NODE_ADD(node2.corral.test)", "NODE_ADD(node3.corral.test)"]);
  });

  it("refuses an agent holding another cluster's certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-stranger-"));
    dirs.push(dir);
    await saveClusterCert(await generateClusterCert({ commonName: "other-cluster" }), join(dir, "c.pem"), join(dir, "c.key"));
    const stranger = await runNodeAgent({
      bind: "127.0.0.1", port: 0, certFile: join(dir, "c.pem"), keyFile: join(dir, "c.key"), stateDir: dir, nodeName: "node9.corral.test",
    });
    try {
      await refused(addNode(c.client(), { name: "node9.corral.test", endpoint: stranger.endpoint, primaryIp: "127.0.1.9" }),
        /^OpPrereqError: Can't get version information from node node9\.corral\.test: .*\(environment_error\)$/);
    } finally {
      await stranger.close();
    }
    assert.deepEqual(await nodeNames(), ["node1.corral.test", "node2.corral.test", "node3.corral.test"]);
  });

  it("refuses an agent serving another node name, or none at all", async () => {
    const extra = await c.addAgent({ join: false });
    await refused(addNode(c.client(), { name: "other.corral.test", endpoint: extra.endpoint, primaryIp: "127.0.1.20" }),
      /serves node 'node4\.corral\.test', not 'other\.corral\.test' \(start it with --node-name other\.corral\.test\)/);
    await refused(addNode(c.client(), { name: "node5.corral.test", endpoint: "https://127.0.0.1:1", primaryIp: "127.0.1.21" }),
      /^OpPrereqError: Can't get version information from node node5\.corral\.test/);
    await refused(addNode(c.client(), { name: "node5.corral.test", endpoint: "http://127.0.0.1:1" }),
      /Invalid node agent endpoint 'http:\/\/127\.0\.0\.1:1': expected https:\/\/host:port/);
    // The same agent, under its own name, joins fine; its address may not be reused.
    await refused(addNode(c.client(), { name: extra.name, endpoint: extra.endpoint, primaryIp: "127.0.1.2" }),
      /New node ip address\(es\) conflict with existing node node2\.corral\.test/);
    await refused(addNode(c.client(), { name: extra.name, endpoint: extra.endpoint, primaryIp: extra.primaryIp, group: "nosuch" }),
      /Node group 'nosuch' not found/);
    await addNode(c.client(), { name: extra.name, endpoint: extra.endpoint, primaryIp: extra.primaryIp });
    assert.deepEqual(await nodeNames(), ["node1.corral.test", "node2.corral.test", "node3.corral.test", "node4.corral.test"]);
  });

  it("needs write access to join", async () => {
    const r = await call(c.master.port, "POST", "/corral/1/nodes", { user: "reader", body: { name: "x", endpoint: "https://127.0.0.1:1" } });
    assert.equal(r.status, 403);
    const bad = await call(c.master.port, "POST", "/corral/1/nodes", { user: "writer", body: { endpoint: "https://127.0.0.1:1" } });
    assert.equal(bad.status, 400, "node_name is required");
  });
});

describe("moving instances off a node of a three-node cluster", () => {
  let c: MultiNodeCluster;
  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 4096, templates: ["diskless", "file", "sharedfile"] });
  });
  after(() => c?.close());
  const job = async (method: string, path: string, body?: unknown) => {
    const client = c.client();
    return client.waitForJob((await client.request(method, path, body)) as number);
  };
  const instance = async (name: string) => (await call(c.master.port, "GET", `/2/instances/${name}`)).json as Record<string, unknown>;
  const create = async (name: string, pnode: string, template: string) => {
    const j = await job("POST", "/2/instances", {
      __version__: 1, mode: "create", name: `${name}.corral.test`, os: "corral-marker+default", pnode: `${pnode}.corral.test`,
      disk_template: template, disks: [{ size: 1024 }], nics: [{}], beparams: { maxmem: 256, minmem: 256, vcpus: 1 },
    });
    assert.equal(j.status, "success", JSON.stringify(j.opresult));
  };

  it("migrates a running shared-storage instance away with node migrate", async () => {
    await create("mig1", "node2", "sharedfile");
    assert.equal((await instance("mig1")).oper_state, true);
    const parent = await job("POST", "/2/nodes/node2/migrate", { iallocator: "hail" });
    assert.equal(parent.status, "success");
    const [[ok, id]] = (parent.opresult as { jobs: [boolean, number][] }[])[0].jobs;
    assert.equal(ok, true);
    const child = await c.client().waitForJob(id);
    assert.equal(child.status, "success", JSON.stringify(child.opresult));
    const moved = await instance("mig1");
    assert.notEqual(moved.pnode, "node2.corral.test");
    assert.equal(moved.oper_state, true, "still running, on its new node");
    const node2 = (await call(c.master.port, "GET", "/2/nodes/node2")).json as Record<string, unknown>;
    assert.deepEqual(node2.pinst_list, []);
  });

  it("cannot evacuate an instance whose disk lives on the node, nor remove the node under it", async () => {
    await create("local1", "node2", "file");
    let j = await job("POST", "/2/nodes/node2/evacuate", { mode: "primary-only", iallocator: "hail" });
    assert.deepEqual((j.opresult as unknown[])[0], ["OpExecError", ["Unable to evacuate instances local1.corral.test (Instances of type file cannot be relocated)"]]);
    j = await job("DELETE", "/corral/1/nodes/node2");
    assert.deepEqual((j.opresult as unknown[])[0], ["OpPrereqError", ["Instance local1.corral.test is still running on the node, please remove first", "wrong_input"]]);
    j = await job("DELETE", "/2/instances/local1");
    assert.equal(j.status, "success", JSON.stringify(j.opresult));
    j = await job("DELETE", "/corral/1/nodes/node2");
    assert.equal(j.status, "success", JSON.stringify(j.opresult));
    const nodes = ((await call(c.master.port, "GET", "/2/nodes")).json as { id: string }[]).map((n) => n.id);
    assert.deepEqual(nodes, ["node1.corral.test", "node3.corral.test"]);
  });

  it("power-cycling a node stops its (fake) instances", async () => {
    const where = String((await instance("mig1")).pnode).split(".")[0];
    const j = await job("POST", `/2/nodes/${where}/powercycle?force=1`);
    assert.equal(j.status, "success");
    assert.match(String((j.opresult as unknown[])[0]), /^Simulated power-cycle done: 1 fake instance\(s\) stopped$/);
    const after = await instance("mig1");
    assert.deepEqual([after.oper_state, after.status], [false, "ERROR_down"]);
  });
});

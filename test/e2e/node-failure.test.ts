// A node agent that stops answering fails only the jobs that need its node. Agents run as
// real processes (so one can be frozen with SIGSTOP, as a hung machine behaves: it accepts
// TCP but never answers, or killed); the master runs in this process with node RPC
// deadlines capped at a few seconds. While a job waits on the frozen node, PUT /2/tags and
// a job on a healthy node finish at once; the waiting job fails at its deadline with
// ECODE_ENVIRON and a message naming the node. A killed agent's job fails the same way.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { addNode } from "../../src/client/nodes.ts";
import { RapiClient } from "../../src/client/rapi.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { callTimeoutMs, type RpcCall } from "../../src/rpc/index.ts";
import { call, startTestMaster, USERS, waitJob, type TestMaster } from "../support/cluster.ts";
import { injectInstance } from "../support/multinode.ts";
import { startAgentProcess } from "../support/process.ts";

/** The test's cap on every node call's deadline: long enough for a loaded machine, short enough to wait for. */
const DEADLINE_MS = 3_000;
/** What "promptly" means for jobs that do not need the frozen node. */
const PROMPT_MS = 2_000;

/** Starts `corral node-agent` for `name`; resolves with the process and its endpoint. */
function startAgent(name: string, stateDir: string, dataDir: string): Promise<{ child: ChildProcess; endpoint: string }> {
  const { cert, key } = clusterCertPaths(dataDir);
  return startAgentProcess([
    "-b", "127.0.0.1", "-p", "0", "--state-dir", stateDir, "--node-name", name, "--cluster-cert", cert, "--cluster-key", key, "--memory", "8192",
  ]);
}

/** Ends a process this test started, thawing it first if it is frozen. */
function stopAgent(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    child.once("exit", () => resolve());
    process.kill(child.pid, "SIGCONT");
    process.kill(child.pid, "SIGKILL");
  });
}

describe("a frozen or killed node agent", () => {
  let t: TestMaster;
  let port: number;
  let dir: string;
  const agents = new Map<string, ChildProcess>();

  const submit = async (method: string, path: string, body?: unknown): Promise<number> => {
    const r = await call(port, method, path, { user: "writer", body });
    assert.equal(r.status, 200, r.text);
    return r.json as number;
  };
  const opStatus = async (id: number): Promise<string> =>
    ((await call(port, "GET", `/2/jobs/${id}`)).json as { opstatus: string[] }).opstatus[0];

  before(async () => {
    t = await startTestMaster({
      nodeRpcDeadlineMs: (c: RpcCall, args: unknown) => Math.min(callTimeoutMs(c, args), DEADLINE_MS),
      // The background refresh must not be what fails the jobs first: it runs rarely here.
      liveRefreshMs: 600_000,
    });
    port = t.master.port;
    dir = mkdtempSync(join(tmpdir(), "corral-node-failure-"));
    const client = new RapiClient({ url: `http://127.0.0.1:${port}`, user: "writer", password: USERS.writer });
    for (const n of [2, 3]) {
      const name = `node${n}.corral.test`;
      const { child, endpoint } = await startAgent(name, join(dir, `node${n}`), t.dataDir);
      agents.set(name, child);
      const joined = await addNode(client, { name, endpoint, primaryIp: `127.0.1.${n}` });
      assert.equal(joined.status, "success", JSON.stringify(joined.opresult));
    }
    await injectInstance(t.master.store, { name: "frozen1", primary: "node2" });
    await injectInstance(t.master.store, { name: "healthy1", primary: "node3" });
  });

  after(async () => {
    for (const child of agents.values()) await stopAgent(child);
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("fails the job that needs the frozen node, and only that one, classified", async () => {
    const frozen = agents.get("node2.corral.test")!;
    process.kill(frozen.pid!, "SIGSTOP");
    try {
      const started = Date.now();
      const stuck = await submit("PUT", "/2/instances/frozen1.corral.test/startup");
      // Wait until it runs (it holds its locks and waits on node2's agent).
      for (let i = 0; i < 100 && (await opStatus(stuck)) !== "running"; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await opStatus(stuck), "running");

      const tagStart = Date.now();
      const tag = await waitJob(port, await submit("PUT", "/2/tags?tag=while-frozen"), PROMPT_MS);
      assert.equal(tag.status, "success", JSON.stringify(tag.opresult));
      assert.ok(Date.now() - tagStart < PROMPT_MS, `PUT /2/tags took ${Date.now() - tagStart} ms`);

      const healthyStart = Date.now();
      const healthy = await waitJob(port, await submit("PUT", "/2/instances/healthy1.corral.test/startup"), PROMPT_MS);
      assert.equal(healthy.status, "success", JSON.stringify(healthy.opresult));
      assert.ok(Date.now() - healthyStart < PROMPT_MS, `the job on node3 took ${Date.now() - healthyStart} ms`);

      const listStart = Date.now();
      assert.equal((await call(port, "GET", "/2/nodes?bulk=1")).status, 200);
      assert.ok(Date.now() - listStart < PROMPT_MS, `GET /2/nodes?bulk=1 took ${Date.now() - listStart} ms`);

      const failed = await waitJob(port, stuck, DEADLINE_MS + 10_000);
      const elapsed = Date.now() - started;
      assert.equal(failed.status, "error");
      const [[cls, [message, ecode]]] = failed.opresult as [string, [string, string]][];
      assert.equal(cls, "OpExecError");
      assert.equal(ecode, "environment_error");
      assert.match(message, /node2\.corral\.test did not answer instanceStart within 3 s/);
      assert.doesNotMatch(message, /certificate/);
      assert.ok(elapsed >= DEADLINE_MS - 100, `failed after ${elapsed} ms, before its deadline`);
    } finally {
      process.kill(frozen.pid!, "SIGCONT");
    }
  });

  it("fails a job on a killed agent's node with an honest message", async () => {
    const killed = agents.get("node3.corral.test")!;
    await stopAgent(killed);
    const job = await waitJob(port, await submit("PUT", "/2/instances/healthy1.corral.test/shutdown"), DEADLINE_MS + 10_000);
    assert.equal(job.status, "error");
    const [[cls, [message, ecode]]] = job.opresult as [string, [string, string]][];
    assert.equal(cls, "OpExecError");
    assert.equal(ecode, "environment_error");
    // A fresh connection is refused; one kept alive from before reads as closed or reset.
    assert.match(message, /node3\.corral\.test: (connection refused|the agent at \S+ closed the connection without answering|connection to \S+ reset)/);
    assert.doesNotMatch(message, /certificate|TLS/);
  });
});

// Jobs over RAPI: status flow, results and errors as Ganeti encodes them, wait-for-change,
// cancel, dependencies, dry-run — using tag jobs, the simplest real jobs.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, suiteMaster, waitJob } from "../support/cluster.ts";

describe("jobs", () => {
  const m = suiteMaster();

  const submit = async (path: string, method = "PUT", body?: unknown): Promise<number> => {
    const r = await call(m.port, method, path, { user: "writer", body });
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json, "number", "a job id is a bare JSON integer");
    return r.json as number;
  };

  it("runs a tag job to success and shows every J_FIELDS key", async () => {
    const id = await submit("/2/tags?tag=golden-a&tag=golden-b&tag=env%3Atest&reason=because");
    const job = await waitJob(m.port, id);
    assert.deepEqual(Object.keys(job), ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts", "oplog", "opresult"]);
    assert.equal(job.id, id);
    assert.equal(job.status, "success");
    assert.deepEqual(job.opstatus, ["success"]);
    assert.deepEqual(job.opresult, [null]);
    assert.deepEqual(job.summary, ["TAGS_SET"]);
    const [op] = job.ops as Record<string, unknown>[];
    assert.equal(op.OP_ID, "OP_TAGS_SET");
    assert.deepEqual(op.tags, ["golden-a", "golden-b", "env:test"]);
    assert.equal(op.kind, "cluster");
    assert.equal("name" in op, false, "unset optional params are left out");
    const reason = op.reason as [string, string, number][];
    assert.deepEqual(reason.map((r) => r.slice(0, 2)), [
      ["gnt:user", "because"],
      ["gnt:library:rlib2:tags", ""],
      ["gnt:opcode:tags_set", `job=${id};index=0`],
    ]);
    for (const ts of [job.received_ts, job.start_ts, job.end_ts]) {
      assert.ok(Array.isArray(ts) && ts.length === 2 && ts.every(Number.isInteger));
    }
    assert.deepEqual((await call(m.port, "GET", "/2/tags")).json, ["env:test", "golden-a", "golden-b"]);
  });

  it("encodes failed opcodes as [ErrorClass, [message, classification]]", async () => {
    let job = await waitJob(m.port, await submit("/2/tags?tag=bad+tag%21"));
    assert.equal(job.status, "error");
    assert.deepEqual(job.opresult, [["TagError", ["Tag contains invalid characters"]]]);
    job = await waitJob(m.port, await submit(`/2/tags?tag=${"x".repeat(129)}`));
    assert.deepEqual(job.opresult, [["TagError", ["Tag too long (>128 characters)"]]]);
    job = await waitJob(m.port, await submit("/2/tags?tag=never-there", "DELETE"));
    assert.deepEqual(job.opresult, [["OpPrereqError", ["Tag(s) 'never-there' not found", "unknown_entity"]]]);
    job = await waitJob(m.port, await submit("/2/instances/nosuch.corral.test/tags?tag=a"));
    assert.deepEqual(job.opresult, [["OpPrereqError", ["Instance 'nosuch.corral.test' not known", "unknown_entity"]]]);
  });

  it("dry-run checks without changing anything", async () => {
    const job = await waitJob(m.port, await submit("/2/tags?tag=dry-only&dry-run=1"));
    assert.equal(job.status, "success");
    assert.equal((job.ops as Record<string, unknown>[])[0].dry_run, true);
    const [[entry]] = job.oplog as [number, unknown, string, string][][];
    assert.equal(entry[3], " - INFO: dry-run mode requested, not actually executing the operation");
    assert.ok(!((await call(m.port, "GET", "/2/tags")).json as string[]).includes("dry-only"));
  });

  it("tags nodes and groups by short name and lists them sorted", async () => {
    await waitJob(m.port, await submit("/2/nodes/node1/tags?tag=zz&tag=aa"));
    assert.deepEqual((await call(m.port, "GET", "/2/nodes/node1.corral.test/tags")).json, ["aa", "zz"]);
    await waitJob(m.port, await submit("/2/groups/default/tags?tag=g1"));
    assert.deepEqual((await call(m.port, "GET", "/2/groups/default/tags")).json, ["g1"]);
    const r = await call(m.port, "GET", "/2/instances/nosuch.corral.test/tags");
    assert.equal(r.status, 500);
    assert.match((r.json as { message: string }).message, /Instance name nosuch.corral.test not found/);
  });

  it("lists jobs sorted, bulk and not", async () => {
    const list = (await call(m.port, "GET", "/2/jobs")).json as { id: number; uri: string }[];
    assert.ok(list.length > 0);
    assert.deepEqual(list.map((j) => j.id), [...list.map((j) => j.id)].sort((a, b) => a - b));
    assert.equal(list[0].uri, `/2/jobs/${list[0].id}`);
    const bulk = (await call(m.port, "GET", "/2/jobs?bulk=1")).json as Record<string, unknown>[];
    assert.deepEqual(Object.keys(bulk[0]), ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"]);
  });

  it("answers an unknown job with null fields, as Ganeti does", async () => {
    const r = await call(m.port, "GET", "/2/jobs/999999");
    assert.equal(r.status, 200);
    const job = r.json as Record<string, unknown>;
    assert.equal(job.id, 999999);
    assert.equal(job.status, null);
    assert.equal(job.opresult, null);
  });

  it("wait returns at once when the client is behind, and validates its body", async () => {
    const id = await submit("/2/tags?tag=w1");
    await waitJob(m.port, id);
    let r = await call(m.port, "GET", `/2/jobs/${id}/wait`, { user: "writer", body: { fields: ["status", "opstatus"], previous_job_info: null, previous_log_serial: null } });
    assert.deepEqual(r.json, { job_info: ["success", ["success"]], log_entries: [] });
    r = await call(m.port, "GET", `/2/jobs/${id}/wait`, { user: "writer", body: { fields: ["status"], previous_job_info: ["success"], previous_log_serial: 0 } });
    assert.deepEqual(r.json, { job_info: ["success"], log_entries: [] });
    r = await call(m.port, "GET", `/2/jobs/${id}/wait`, { user: "writer", body: { fields: "status" } });
    assert.equal(r.status, 400);
    assert.equal((r.json as { message: string }).message, "The &#x27;fields&#x27; parameter should be a list");
    r = await call(m.port, "GET", `/2/jobs/${id}/wait`, { user: "writer", body: {} });
    assert.equal((r.json as { message: string }).message, "Required parameter &#x27;fields&#x27; is missing");
    r = await call(m.port, "GET", "/2/jobs/999999/wait", { user: "writer", body: { fields: ["status"] } });
    assert.equal(r.status, 404);
  });

  it("cancels a queued job, refuses a finished one, and wait wakes on the change", async () => {
    // Hold the cluster lock and allow one running job: the first job waits for the lock,
    // the second stays queued.
    await m.t.master.store.transact((tx) => tx.updateCluster((c) => void (c.max_running_jobs = 1)));
    await m.t.master.locks.acquire(-1, { cluster: { names: "all", mode: "exclusive" } });
    try {
      const blocked = await submit("/2/tags?tag=blocked");
      const queued = await submit("/2/tags?tag=queued");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(((await call(m.port, "GET", `/2/jobs/${blocked}`)).json as { status: string }).status, "waiting");
      const waitReply = call(m.port, "GET", `/2/jobs/${queued}/wait`, {
        user: "writer",
        body: { fields: ["status"], previous_job_info: ["queued"], previous_log_serial: null },
      });
      const cancel = await call(m.port, "DELETE", `/2/jobs/${queued}`, { user: "writer" });
      assert.deepEqual(cancel.json, [true, `Dequeued job ${queued}`]);
      assert.deepEqual((await waitReply).json, { job_info: ["canceled"], log_entries: [] });
      const job = (await call(m.port, "GET", `/2/jobs/${queued}`)).json as Record<string, unknown>;
      assert.equal(job.status, "canceled");
      assert.deepEqual(job.opstatus, ["canceled"]);
      assert.deepEqual(job.opresult, [null]);
      assert.deepEqual((await call(m.port, "DELETE", `/2/jobs/${queued}`, { user: "writer" })).json, [false, `Job ${queued} not found in queue`]);
      // Canceling a job that waits for locks ends it canceled too.
      const c2 = await call(m.port, "DELETE", `/2/jobs/${blocked}`, { user: "writer" });
      assert.equal((c2.json as [boolean])[0], true);
      assert.equal((await waitJob(m.port, blocked)).status, "canceled");
      assert.equal((await call(m.port, "DELETE", "/2/jobs/1", { user: "reader" })).status, 403);
    } finally {
      m.t.master.locks.releaseAll(-1);
      await m.t.master.store.transact((tx) => tx.updateCluster((c) => void (c.max_running_jobs = 20)));
    }
    assert.ok(!((await call(m.port, "GET", "/2/tags")).json as string[]).includes("queued"));
  });

  it("honours job dependencies from the body", async () => {
    const failing = await submit("/2/tags?tag=never", "DELETE");
    await waitJob(m.port, failing);
    const dependent = await submit("/2/redistribute-config", "PUT", { depends: [[failing, ["success"]]] });
    const job = await waitJob(m.port, dependent);
    assert.equal(job.status, "error");
    assert.equal((job.opresult as [string, unknown[]][])[0][0], "OpPrereqError");
    const ok = await submit("/2/redistribute-config", "PUT", { depends: [[failing, ["error"]]] });
    assert.equal((await waitJob(m.port, ok)).status, "success");
    // The tags resource ignores its body but keeps `depends`.
    const tagged = await submit("/2/tags?tag=dep", "PUT", { depends: [[failing, ["success", "error"]]], tags: ["ignored"] });
    const tj = await waitJob(m.port, tagged);
    assert.deepEqual((tj.ops as Record<string, unknown>[])[0].depends, [[failing, ["success", "error"]]]);
    assert.deepEqual((tj.ops as Record<string, unknown>[])[0].tags, ["dep"]);
  });

  it("redistribute-config logs its push in the job log", async () => {
    const job = await waitJob(m.port, await submit("/2/redistribute-config"));
    assert.equal(job.status, "success");
    const log = (job.oplog as unknown[][])[0] as [number, [number, number], string, string][];
    assert.equal(log[0][2], "message");
    assert.match(log[0][3], /distributed to 1 online node/);
  });

  it("archives finished jobs: gone from the list, still readable by id", async () => {
    const id = await submit("/2/tags?tag=archived-one");
    await waitJob(m.port, id);
    // Not a second old yet: it stays. Seen from two seconds later (an injected clock, not a sleep): archived.
    m.t.master.queue.archiveOld(1);
    assert.ok(((await call(m.port, "GET", "/2/jobs")).json as { id: number }[]).some((j) => j.id === id));
    assert.ok(m.t.master.queue.archiveOld(1, Date.now() + 2000) >= 1);
    const list = (await call(m.port, "GET", "/2/jobs")).json as { id: number }[];
    assert.equal(list.some((j) => j.id === id), false);
    const job = (await call(m.port, "GET", `/2/jobs/${id}`)).json as Record<string, unknown>;
    assert.equal(job.id, id);
    assert.equal(job.status, "success");
  });
});

// Version stamps: every object GET sends a strong ETag "<uuid>-<serial_no>" (a filter rule,
// which has no serial_no, a digest of itself); If-None-Match answers 304; a write sent with
// an If-Match that no longer holds answers 412 and submits nothing, and one that held at the
// HTTP check still fails cleanly if the object changed before its job started. And Accept:
// JSON in any form a client sends is served; an Accept that excludes it gets 406.

import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { buildOpcode } from "../../src/model/opcode.ts";
import { OpTagsSet } from "../../src/model/opcodes/tags.ts";
import { call, startTestMaster, waitJob, type Reply, type TestMaster } from "../support/cluster.ts";
import { createBody, ok, startInstanceCluster, submit, type InstanceCluster } from "../support/instances.ts";

const INST = "etag1.corral.test";
const NODE = "node1.corral.test";

describe("version stamps (ETag, If-None-Match, If-Match)", () => {
  let c: InstanceCluster;
  let port: number;
  let groupName: string;
  let filterUuid: string;

  before(async () => {
    c = await startInstanceCluster();
    port = c.port;
    await ok(port, "POST", "/2/instances", createBody("etag1", { start: false }));
    await ok(port, "POST", "/2/networks", { network_name: "net1", network: "192.0.2.0/24" });
    groupName = [...c.master.store.snapshot().groups.values()][0].name;
    filterUuid = (await call(port, "POST", "/2/filters", { user: "writer", body: { priority: 5, predicates: [["reason", ["=", "reason", "nothing"]]], action: "ACCEPT" } })).json as string;
  });
  after(() => c.close());

  const jobCount = () => c.master.queue.highestJobId();
  const get = (path: string, headers: Record<string, string> = {}) => call(port, "GET", path, { headers });
  const etagOf = (r: Reply) => r.headers.etag as string;

  /** Path of each object kind's GET, and the tag write that changes it. */
  const objects = () => [
    { path: `/2/instances/${INST}`, tags: `/2/instances/${INST}/tags` },
    { path: `/2/nodes/${NODE}`, tags: `/2/nodes/${NODE}/tags` },
    { path: `/2/groups/${groupName}`, tags: `/2/groups/${groupName}/tags` },
    { path: "/2/networks/net1", tags: "/2/networks/net1/tags" },
    { path: "/2/info", tags: "/2/tags" },
  ];

  it("sends \"<uuid>-<serial_no>\" on every object GET and on /2/info, and a new one when serial_no changes", async () => {
    for (const { path, tags } of objects()) {
      // /2/info shows the cluster's uuid but, as in Ganeti, not its serial_no.
      const serialOf = (r: Reply) => (r.json as { serial_no?: number }).serial_no ?? c.master.store.snapshot().cluster.serial_no;
      const before = await get(path);
      assert.equal(before.status, 200, path);
      const serialBefore = serialOf(before);
      const { uuid } = before.json as { uuid: string };
      assert.equal(etagOf(before), `"${uuid}-${serialBefore}"`, path);
      const job = await waitJob(port, await submit(port, "PUT", `${tags}?tag=stamp`));
      assert.equal(job.status, "success", path);
      const after = await get(path);
      const serialAfter = serialOf(after);
      assert.ok(serialAfter > serialBefore, path);
      assert.equal(etagOf(after), `"${uuid}-${serialAfter}"`, path);
    }
  });

  it("sends a filter rule's ETag, which changes when the rule is replaced", async () => {
    const first = await get(`/2/filters/${filterUuid}`);
    assert.match(etagOf(first), new RegExp(`^"${filterUuid}-[0-9a-f]{20}"$`));
    assert.equal((await get(`/2/filters/${filterUuid}`)).headers.etag, etagOf(first));
    const put = await call(port, "PUT", `/2/filters/${filterUuid}`, { user: "writer", body: { priority: 6, predicates: [], action: "ACCEPT" } });
    assert.equal(put.status, 200, put.text);
    assert.notEqual(etagOf(await get(`/2/filters/${filterUuid}`)), etagOf(first));
  });

  it("sends no ETag on collections, sub-resources or unknown objects", async () => {
    for (const path of ["/2/instances", "/2/nodes", `/2/instances/${INST}/tags`, `/2/nodes/${NODE}/role`, "/2/instances/nosuch"]) {
      assert.equal((await get(path)).headers.etag, undefined, path);
    }
  });

  it("answers 304 without a body when If-None-Match names the current version (alone, in a list, weak, or *)", async () => {
    for (const { path } of [...objects(), { path: `/2/filters/${filterUuid}` }]) {
      const etag = etagOf(await get(path));
      for (const header of [etag, `"other", ${etag}`, `W/${etag}`, "*"]) {
        const r = await get(path, { "If-None-Match": header });
        assert.equal(r.status, 304, `${path} ${header}`);
        assert.equal(r.text, "");
        assert.equal(r.headers.etag, etag);
      }
      const stale = await get(path, { "If-None-Match": `"${etag.slice(1, -1)}0"` });
      assert.equal(stale.status, 200);
      assert.equal(stale.headers.etag, etag);
      assert.equal((await get(path, { "If-None-Match": "not-a-tag" })).status, 200);
    }
  });

  it("refuses a write whose If-Match no longer holds with 412 in Ganeti's error shape, submitting no job", async () => {
    const stale = etagOf(await get(`/2/instances/${INST}`));
    await ok(port, "PUT", `/2/instances/${INST}/tags?tag=moved`);
    const node = etagOf(await get(`/2/nodes/${NODE}`));
    await ok(port, "PUT", `/2/nodes/${NODE}/tags?tag=moved`);
    const cluster = etagOf(await get("/2/info"));
    await ok(port, "PUT", "/2/tags?tag=moved");
    const group = etagOf(await get(`/2/groups/${groupName}`));
    await ok(port, "PUT", `/2/groups/${groupName}/tags?tag=moved`);
    const network = etagOf(await get("/2/networks/net1"));
    await ok(port, "PUT", "/2/networks/net1/tags?tag=moved");

    const writes: [string, string, string, unknown?][] = [
      ["PUT", `/2/instances/${INST}/modify`, stale, { beparams: { vcpus: 2 } }],
      ["PUT", `/2/instances/${INST}/startup`, stale],
      ["PUT", `/2/instances/${INST}/shutdown`, stale],
      ["POST", `/2/instances/${INST}/reboot`, stale],
      ["PUT", `/2/instances/${INST}/migrate`, stale, {}],
      ["PUT", `/2/instances/${INST}/rename`, stale, { new_name: "renamed.corral.test" }],
      ["PUT", `/2/instances/${INST}/tags?tag=x`, stale],
      ["DELETE", `/2/instances/${INST}`, stale],
      ["POST", `/2/nodes/${NODE}/modify`, node, { drained: false }],
      ["PUT", `/2/nodes/${NODE}/role`, node, "regular"],
      ["PUT", `/2/nodes/${NODE}/tags?tag=x`, node],
      ["PUT", "/2/modify", cluster, { candidate_pool_size: 9 }],
      ["PUT", "/2/tags?tag=x", cluster],
      ["PUT", `/2/groups/${groupName}/modify`, group, { alloc_policy: "preferred" }],
      ["DELETE", `/2/groups/${groupName}`, group],
      ["PUT", "/2/networks/net1/modify", network, { gateway: "192.0.2.1" }],
      ["DELETE", "/2/networks/net1", network],
    ];
    const jobsBefore = jobCount();
    for (const [method, path, etag, body] of writes) {
      const r = await call(port, method, path, { user: "writer", body, headers: { "If-Match": etag } });
      assert.equal(r.status, 412, `${method} ${path}: ${r.text}`);
      const error = r.json as { code: number; message: string; explain: string };
      assert.deepEqual(Object.keys(error).sort(), ["code", "explain", "message"]);
      assert.equal(error.code, 412);
      assert.equal(error.explain, "Precondition in headers is false");
      assert.match(error.message, /was modified: its version is now [0-9a-f-]+-\d+, not one If-Match names$/);
    }
    assert.equal(jobCount(), jobsBefore, "no job was submitted");

    const rule = etagOf(await get(`/2/filters/${filterUuid}`));
    await call(port, "PUT", `/2/filters/${filterUuid}`, { user: "writer", body: { priority: 7, predicates: [], action: "ACCEPT" } });
    const refused = await call(port, "DELETE", `/2/filters/${filterUuid}`, { user: "writer", headers: { "If-Match": rule } });
    assert.equal(refused.status, 412);
    assert.ok(c.master.store.snapshot().filters.has(filterUuid), "the rule is still there");
    assert.equal((await call(port, "PUT", "/2/instances/nosuch/startup", { user: "writer", headers: { "If-Match": "*" } })).status, 412);
  });

  it("runs a write whose If-Match holds (the exact tag, one of a list, or *)", async () => {
    const forms = [(etag: string) => etag, (etag: string) => `"other", ${etag}`, () => "*"];
    for (const [i, form] of forms.entries()) {
      const etag = etagOf(await get(`/2/instances/${INST}`));
      const r = await call(port, "PUT", `/2/instances/${INST}/tags?tag=held${i}`, { user: "writer", headers: { "If-Match": form(etag) } });
      assert.equal(r.status, 200, r.text);
      assert.equal((await waitJob(port, r.json as number)).status, "success");
    }
    const tags = (await get(`/2/instances/${INST}/tags`)).json as string[];
    assert.ok(["held0", "held1", "held2"].every((t) => tags.includes(t)));
    const rule = etagOf(await get(`/2/filters/${filterUuid}`));
    const r = await call(port, "PUT", `/2/filters/${filterUuid}`, { user: "writer", body: { priority: 8, predicates: [], action: "ACCEPT" }, headers: { "If-Match": rule } });
    assert.equal(r.status, 200, r.text);
    assert.equal(c.master.store.snapshot().filters.get(filterUuid)?.priority, 8);
  });

  it("lets exactly one of two clients modifying the instance with the same If-Match win, round after round", async () => {
    const inst = () => [...c.master.store.snapshot().instances.values()].find((i) => i.name === INST)!;
    const losses = { refused: 0, failed: 0 };
    for (let round = 0; round < 20; round++) {
      const etag = etagOf(await get(`/2/instances/${INST}`));
      // Values the instance does not have yet (the last round set 1 or 2, or 3 or 4).
      const vcpus = round % 2 === 0 ? [3, 4] : [1, 2];
      // Every other round a PAUSE rule holds the jobs until both requests passed their HTTP
      // check, so the two jobs race for the instance in the executor; the other rounds race
      // freely (the first job often ends before the second request is checked).
      const pause = round % 2 === 1
        ? (await call(port, "POST", "/2/filters", { user: "writer", body: { predicates: [], action: "PAUSE" } })).json as string
        : undefined;
      const replies = await Promise.all(vcpus.map((v) =>
        call(port, "PUT", `/2/instances/${INST}/modify`, { user: "writer", body: { beparams: { vcpus: v } }, headers: { "If-Match": etag } })));
      if (pause) assert.equal((await call(port, "DELETE", `/2/filters/${pause}`, { user: "writer" })).status, 200);
      const outcomes = await Promise.all(replies.map(async (r) => {
        if (r.status === 412) return "refused";
        assert.equal(r.status, 200, r.text);
        const job = await waitJob(port, r.json as number);
        if (job.status === "success") return "won";
        assert.equal(job.status, "error");
        const [cls, [message, code]] = (job.opresult as [string, [string, string]][])[0];
        assert.equal(cls, "OpPrereqError");
        assert.equal(code, "wrong_state");
        assert.match(message, new RegExp(`^Instance ${INST} was modified: serial_no \\d+, expected \\d+$`));
        return "failed";
      }));
      const winner = outcomes.indexOf("won");
      assert.equal(outcomes.filter((o) => o === "won").length, 1, `round ${round}: ${outcomes.join(", ")}`);
      if (outcomes.includes("refused")) losses.refused++;
      else losses.failed++;
      assert.equal(inst().beparams.vcpus, vcpus[winner], `round ${round}: the winner's change only`);
      assert.equal(inst().serial_no, Number(/-(\d+)"$/.exec(etag)![1]) + 1, `round ${round}: one change`);
    }
    // The held rounds at least lose by a failed job: both ways of losing were exercised.
    assert.ok(losses.failed >= 10, JSON.stringify(losses));
  });

  it("fails the job, changing nothing, when the object changed between the HTTP check and the job's start", async () => {
    // A PAUSE rule holds both jobs queued: the If-Match job passes its HTTP check before
    // the other job, submitted first, changes the instance.
    const pause = (await call(port, "POST", "/2/filters", { user: "writer", body: { predicates: [], action: "PAUSE" } })).json as string;
    const etag = etagOf(await get(`/2/instances/${INST}`));
    const first = await submit(port, "PUT", `/2/instances/${INST}/tags?tag=slipped-in`);
    const r = await call(port, "PUT", `/2/instances/${INST}/modify`, {
      user: "writer", body: { beparams: { vcpus: 3 }, depends: [[first, []]] }, headers: { "If-Match": etag },
    });
    assert.equal(r.status, 200, r.text);
    const before = [...c.master.store.snapshot().instances.values()].find((i) => i.name === INST)!;
    assert.equal((await call(port, "DELETE", `/2/filters/${pause}`, { user: "writer" })).status, 200);
    assert.equal((await waitJob(port, first)).status, "success");
    const job = await waitJob(port, r.json as number);
    assert.equal(job.status, "error");
    assert.deepEqual((job.opresult as unknown[])[0], [
      "OpPrereqError", [`Instance ${INST} was modified: serial_no ${before.serial_no + 1}, expected ${before.serial_no}`, "wrong_state"],
    ]);
    const afterwards = [...c.master.store.snapshot().instances.values()].find((i) => i.name === INST)!;
    assert.equal(afterwards.beparams.vcpus, before.beparams.vcpus);
    assert.equal(afterwards.serial_no, before.serial_no + 1);
    // The precondition is the job's, not an opcode parameter a Ganeti client would see.
    assert.ok(!JSON.stringify(job.ops).includes("precondition"));
  });

  it("checks the precondition in the executor, before the first opcode only, and stores it with the job", async () => {
    const { store, queue } = c.master;
    const cluster = () => store.snapshot().cluster;
    const tagOp = (tag: string) => buildOpcode(OpTagsSet, { kind: "cluster", name: null, tags: [tag] });
    const seen = { kind: "cluster" as const, uuid: cluster().uuid, serial_no: cluster().serial_no };
    // The change slips in after the (simulated) HTTP check, before submission.
    await store.transact((tx) => tx.updateCluster((cl) => void (cl.candidate_pool_size += 0)));
    const [failed] = await queue.submitJobs([[tagOp("late")]], { precondition: seen });
    const failedJob = await waitJob(port, failed);
    assert.deepEqual((failedJob.opresult as unknown[])[0], [
      "OpPrereqError", [`Cluster ${cluster().name} was modified: serial_no ${seen.serial_no + 1}, expected ${seen.serial_no}`, "wrong_state"],
    ]);
    assert.ok(!cluster().tags.includes("late"));
    assert.deepEqual(c.master.queue.get(failed)?.precondition, seen);

    // Two opcodes: the first bumps serial_no, the second must not be held to the old one.
    const current = { kind: "cluster" as const, uuid: cluster().uuid, serial_no: cluster().serial_no };
    const [okId] = await queue.submitJobs([[tagOp("one"), tagOp("two")]], { precondition: current });
    assert.equal((await waitJob(port, okId)).status, "success");
    assert.ok(cluster().tags.includes("one") && cluster().tags.includes("two"));

    const [gone] = await queue.submitJobs([[tagOp("x")]], { precondition: { kind: "instance", uuid: "no-such-uuid", serial_no: 1 } });
    assert.deepEqual(((await waitJob(port, gone)).opresult as unknown[])[0], ["OpPrereqError", ["Instance no-such-uuid no longer exists", "unknown_entity"]]);
  });

  it("changes nothing for requests without the headers (Ganeti's clients)", async () => {
    const jobsBefore = jobCount();
    const r = await call(port, "PUT", `/2/instances/${INST}/tags?tag=plain`, { user: "writer" });
    assert.equal(r.status, 200);
    assert.equal(r.headers.etag, undefined);
    assert.equal(jobCount(), jobsBefore + 1);
  });
});

describe("a job's precondition across a master restart", () => {
  it("is stored with the queued job and checked when the restarted master runs it", async () => {
    const first = await startTestMaster();
    const dirs = [first.dataDir];
    let second: TestMaster | undefined;
    try {
      let port = first.master.port;
      // PAUSE keeps the job queued through the restart.
      const pause = (await call(port, "POST", "/2/filters", { user: "writer", body: { predicates: [], action: "PAUSE" } })).json as string;
      const etag = (await call(port, "GET", "/2/info")).headers.etag as string;
      const held = await call(port, "PUT", "/2/tags?tag=held", { user: "writer", headers: { "If-Match": etag } });
      assert.equal(held.status, 200, held.text);
      const id = held.json as number;
      await first.master.close();

      second = await startTestMaster({ dataDir: first.dataDir });
      port = second.master.port;
      const recovered = second.master.queue.get(id);
      assert.equal(recovered?.ops[0].status, "queued");
      const { cluster } = second.master.store.snapshot();
      assert.deepEqual(recovered?.precondition, { kind: "cluster", uuid: cluster.uuid, serial_no: cluster.serial_no });
      await second.master.store.transact((tx) => tx.updateCluster((cl) => void cl.tags.push("meanwhile")));
      assert.equal((await call(port, "DELETE", `/2/filters/${pause}`, { user: "writer" })).status, 200);
      const job = await waitJob(port, id);
      assert.deepEqual((job.opresult as unknown[])[0], [
        "OpPrereqError", [`Cluster ${cluster.name} was modified: serial_no ${cluster.serial_no + 1}, expected ${cluster.serial_no}`, "wrong_state"],
      ]);
      assert.ok(!second.master.store.snapshot().cluster.tags.includes("held"));
    } finally {
      await second?.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Accept", () => {
  let c: InstanceCluster;
  before(async () => {
    c = await startInstanceCluster();
  });
  after(() => c.close());

  const withAccept = (path: string, accept: string | undefined) =>
    call(c.port, "GET", path, accept === undefined ? {} : { headers: { Accept: accept } });

  it("serves JSON to every Accept that takes it", async () => {
    const accepted = [
      undefined, "", "application/json", "*/*", "application/*", "APPLICATION/JSON", "application/json; charset=utf-8",
      "text/html, application/json", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
      "application/json;q=0.1, text/html", "text/plain;q=0.5, application/json;q=0.001", "application/json;q=1.000",
      "text/*, application/*;q=0.2", "application/json;q=0, application/json", "*/*;q=0.1, text/html;q=0",
      "application/json;q=bogus, */*",
    ];
    for (const accept of accepted) {
      const r = await withAccept("/2/info", accept);
      assert.equal(r.status, 200, `Accept: ${accept}`);
    }
  });

  it("answers 406 in Ganeti's error shape when Accept excludes JSON", async () => {
    const refused = [
      "text/html", "application/json;q=0", "application/json;q=0.000", "text/html;q=0.9, application/xml", "*/*;q=0",
      "application/*;q=0, */*", "text/*", "application/json;q=2", "application/json;q=bogus", "image/png, */*;q=0",
      "garbage", "application/json;q=0, */*",
    ];
    for (const accept of refused) {
      const r = await withAccept("/2/info", accept);
      assert.equal(r.status, 406, `Accept: ${accept}`);
      assert.deepEqual(r.json, {
        code: 406,
        message: "This resource answers application/json, which the request&#x27;s Accept excludes",
        explain: "URI not available in preferred format",
      });
    }
    // Refused before anything runs: no job.
    const jobs = c.master.queue.highestJobId();
    const w = await call(c.port, "PUT", "/2/tags?tag=x", { user: "writer", headers: { Accept: "text/html" } });
    assert.equal(w.status, 406);
    assert.equal(c.master.queue.highestJobId(), jobs);
  });

  it("bounds the header: a huge or hostile Accept is answered at once", async () => {
    const long = await withAccept("/2/info", "a".repeat(5000));
    assert.equal(long.status, 400);
    const hostile = ";".repeat(4000);
    const started = performance.now();
    assert.equal((await withAccept("/2/info", hostile)).status, 406);
    assert.equal((await withAccept("/2/info", `${",".repeat(2000)}application/json`)).status, 200);
    assert.ok(performance.now() - started < 1000);
  });

  it("serves the event stream to EventSource's Accept, and the web console's HTML whatever it asks", async () => {
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${c.port}/corral/1/events`, { headers: { Accept: "text/event-stream" }, signal: controller.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    controller.abort();
    await res.body?.cancel().catch(() => undefined);
    assert.equal((await withAccept("/corral/1/events", "application/json")).status, 406);
    const ui = await withAccept("/ui/", "text/html");
    assert.notEqual(ui.status, 406);
  });
});

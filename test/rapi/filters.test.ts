// Job filter rules over RAPI: the synchronous /2/filters calls answer as Ganeti 3.0.2 does,
// and the queue really applies the rules: REJECT cancels, PAUSE holds a job queued until
// the rule goes, RATE_LIMIT n lets at most n of the jobs it applies to run.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, runJob, suiteMaster, waitJob } from "../support/cluster.ts";
import { golden, haveGolden, replay } from "../support/golden.ts";

type Dict = Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("job filter rules", () => {
  const m = suiteMaster();
  const post = (body: unknown) => call(m.port, "POST", "/2/filters", { user: "writer", body });
  const addRule = async (body: unknown): Promise<string> => {
    const r = await post(body);
    assert.equal(r.status, 200, r.text);
    assert.match(r.json as string, UUID);
    return r.json as string;
  };
  const removeRule = async (uuid: string) => assert.equal((await call(m.port, "DELETE", `/2/filters/${uuid}`, { user: "writer" })).json, null);
  const getRule = async (uuid: string) => (await call(m.port, "GET", `/2/filters/${uuid}`)).json as Dict;
  const submit = async (path: string): Promise<number> => (await call(m.port, "PUT", path, { user: "writer" })).json as number;
  const status = async (id: number) => ((await call(m.port, "GET", `/2/jobs/${id}`)).json as Dict).status;
  /** Resolves once the job's status is `wanted` (20 ms polls, 10 s at most). */
  const becomes = async (id: number, wanted: string) => {
    for (const deadline = Date.now() + 10_000; ; await sleep(20)) {
      const now = await status(id);
      if (now === wanted) return;
      if (Date.now() > deadline) assert.fail(`job ${id} is ${String(now)}, not ${wanted}, after 10 s`);
    }
  };
  const clusterTags = async () => (await call(m.port, "GET", "/2/tags")).json as string[];

  it("lists no rules at first", async () => {
    assert.deepEqual((await call(m.port, "GET", "/2/filters")).json, []);
    assert.deepEqual((await call(m.port, "GET", "/2/filters?bulk=1")).json, []);
    const r = await call(m.port, "GET", "/2/filters/00000000-0000-0000-0000-000000000000");
    assert.equal(r.status, 404);
    if (haveGolden) assert.deepEqual(r.json, golden("0061-404-unknown-filter.json").response.body_json);
  });

  it("refuses bodies RAPI checks itself with 400", async () => {
    if (haveGolden) {
      for (const file of ["0086-400-filter-unknown-param.json", "0087-400-filter-body-not-dict.json"]) {
        const ex = golden(file);
        const r = await replay(m.port, ex);
        assert.equal(r.status, 400, file);
        assert.deepEqual(r.json, ex.response.body_json, file);
      }
    }
    const typed = await post({ priority: "high" });
    assert.equal(typed.status, 400);
    assert.equal((typed.json as Dict).message, "&#x27;priority&#x27; parameter: Type is &#x27;str&#x27;, but &#x27;int&#x27; is expected");
    assert.equal((await post({ predicates: {} })).status, 400);
    assert.equal((await call(m.port, "POST", "/2/filters", { user: "writer" })).status, 400);
    assert.equal((await call(m.port, "POST", "/2/filters", { user: "reader", body: {} })).status, 403);
  });

  it("answers what luxid cannot decode with 502 and its message", async () => {
    if (haveGolden) {
      for (const file of ["0393-filter-add-bad-action.json", "0394-filter-add-bad-predicate.json"]) {
        const ex = golden(file);
        const r = await replay(m.port, ex);
        assert.equal(r.status, 502, file);
        assert.deepEqual(r.json, ex.response.body_json, file);
      }
    }
    const cases: [Dict, string][] = [
      [{ priority: -1 }, "Invalid value for non-negative type &#x27;-1&#x27;"],
      [{ action: ["RATE_LIMIT", 0] }, "RATE_LIMIT argument must be a positive integer"],
      [{ predicates: [["opcode", ["bogus", "OP_ID"]]] }, "Unknown filter operand &#x27;bogus&#x27;"],
      [{ predicates: ["jobid"] }, "malformed FilterPredicate: must be a list with the first entry being a string describing the predicate type"],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      assert.equal(r.status, 502, JSON.stringify(body));
      assert.ok((r.json as Dict).message?.toString().endsWith(`error: ${message}`), `${JSON.stringify(body)}: ${r.text}`);
    }
  });

  it("adds, lists, replaces and deletes rules as Ganeti does", async () => {
    const before = (await call(m.port, "GET", "/2/jobs")).json as { id: number }[];
    const highest = Math.max(0, ...before.map((j) => j.id));
    const body = { priority: 10, predicates: [["opcode", ["=", "OP_ID", "OP_TAGS_DEL"]]], action: "CONTINUE", reason: [["golden", "capture", 0]] };
    const uuid = await addRule(body);
    assert.deepEqual((await call(m.port, "GET", "/2/filters")).json, [{ uuid, uri: `/2/filters/${uuid}` }]);
    const [bulk] = (await call(m.port, "GET", "/2/filters?bulk=1")).json as Dict[];
    assert.deepEqual(bulk, await getRule(uuid));
    assert.equal(bulk.watermark, highest);
    assert.deepEqual(bulk.predicates, [["opcode", ["==", "OP_ID", "OP_TAGS_DEL"]]]);
    const trail = bulk.reason_trail as [string, string, number][];
    assert.deepEqual(trail.map((e) => e.slice(0, 2)), [["golden", "capture"], ["luxid", ""]]);
    assert.ok(Number.isInteger(trail[1][2]) && trail[1][2] > 1e18, "luxid's entry has a nanosecond timestamp");
    if (haveGolden) {
      const theirs = (golden("0388-filters-bulk.json").response.body_json as Dict[])[0];
      assert.deepEqual(Object.keys(bulk), Object.keys(theirs));
      assert.deepEqual(bulk.predicates, theirs.predicates);
    }

    await runJob(m.port, "PUT", "/2/tags?tag=moves-the-watermark");
    const replaced = await call(m.port, "PUT", `/2/filters/${uuid}`, { user: "writer", body: { priority: 20, predicates: [], action: "ACCEPT" } });
    assert.equal(replaced.json, uuid);
    const after = await getRule(uuid);
    assert.deepEqual([after.priority, after.predicates, after.action], [20, [], "ACCEPT"]);
    assert.equal(after.watermark, highest + 1);
    assert.deepEqual((after.reason_trail as unknown[][]).map((e) => e[0]), ["luxid"]);

    const fixed = "11111111-2222-3333-4444-555555555555";
    const created = await call(m.port, "PUT", `/2/filters/${fixed}`, { user: "writer", body: { priority: 30, action: "CONTINUE" } });
    assert.equal(created.json, fixed);
    const listed = ((await call(m.port, "GET", "/2/filters")).json as Dict[]).map((r) => r.uuid);
    assert.deepEqual(listed, [uuid, fixed].sort());
    const notUuid = await call(m.port, "PUT", "/2/filters/not-a-uuid", { user: "writer", body: {} });
    assert.deepEqual([notUuid.status, (notUuid.json as Dict).message], [500, "Unable to parse UUID"]);

    await removeRule(uuid);
    await removeRule(fixed);
    const gone = await call(m.port, "DELETE", "/2/filters/00000000-0000-0000-0000-000000000000", { user: "writer" });
    assert.equal(gone.status, 500);
    if (haveGolden) assert.deepEqual(gone.json, golden("0414-filter-delete-unknown.json").response.body_json);
    assert.deepEqual((await call(m.port, "GET", "/2/filters")).json, []);
  });

  it("lists rules in uuid order, as Ganeti does", { skip: !haveGolden && "no captures" }, async () => {
    const theirs = golden("0410-filters-list-before-cleanup.json").response.body_json as { uuid: string }[];
    for (const { uuid } of [...theirs].reverse()) {
      assert.equal((await call(m.port, "PUT", `/2/filters/${uuid}`, { user: "writer", body: { priority: 30 } })).json, uuid);
    }
    assert.deepEqual((await call(m.port, "GET", "/2/filters")).json, theirs);
    for (const { uuid } of theirs) await removeRule(uuid);
  });

  it("cancels a job a REJECT rule applies to when it is submitted", async () => {
    const uuid = await addRule({ priority: 1, action: "REJECT", predicates: [["opcode", ["=", "OP_ID", "OP_TAGS_SET"]]] });
    try {
      const job = await waitJob(m.port, await submit("/2/tags?tag=rejected"));
      assert.equal(job.status, "canceled");
      assert.deepEqual([job.opstatus, job.opresult], [["canceled"], [null]]);
      if (haveGolden) {
        const theirs = golden("0398-job-rejected-by-filter-job.json").response.body_json as Dict;
        assert.deepEqual([job.status, job.opresult], [theirs.status, theirs.opresult]);
      }
      assert.ok(!(await clusterTags()).includes("rejected"));
      // Other opcodes pass.
      assert.equal((await runJob(m.port, "PUT", "/2/redistribute-config")).status, "success");
    } finally {
      await removeRule(uuid);
    }
  });

  it("holds a job a PAUSE rule applies to until the rule goes, and it can be canceled meanwhile", async () => {
    const uuid = await addRule({ priority: 1, action: "PAUSE", predicates: [["opcode", ["=", "OP_ID", "OP_TAGS_SET"]]] });
    const paused = await submit("/2/tags?tag=paused");
    const resumed = await submit("/2/tags?tag=resumed");
    // A job the rule does not hold, submitted after them, has been scheduled and run: the
    // queue has looked at the two held ones too.
    assert.equal((await runJob(m.port, "PUT", "/2/redistribute-config")).status, "success");
    assert.deepEqual([await status(paused), await status(resumed)], ["queued", "queued"]);
    const wait = await call(m.port, "GET", `/2/jobs/${paused}/wait`, { user: "writer", body: { fields: ["status"], previous_job_info: null, previous_log_serial: null } });
    assert.deepEqual(wait.json, { job_info: ["queued"], log_entries: [] });
    assert.deepEqual((await call(m.port, "DELETE", `/2/jobs/${paused}`, { user: "writer" })).json, [true, `Dequeued job ${paused}`]);
    assert.equal(await status(paused), "canceled");
    await removeRule(uuid);
    assert.equal((await waitJob(m.port, resumed)).status, "success");
    const tags = await clusterTags();
    assert.ok(tags.includes("resumed") && !tags.includes("paused"));
  });

  it("cancels queued jobs when a REJECT rule is added for them", async () => {
    const pause = await addRule({ priority: 5, action: "PAUSE", predicates: [["reason", ["=", "source", "gnt:user"]]] });
    const held = await submit("/2/tags?tag=held&reason=batch");
    const free = await submit("/2/tags?tag=free");
    assert.equal((await waitJob(m.port, free)).status, "success");
    assert.equal(await status(held), "queued");
    const reject = await addRule({ priority: 1, action: "REJECT", predicates: [["jobid", ["<=", "id", "watermark"]]] });
    assert.equal((await waitJob(m.port, held)).status, "canceled");
    // The watermark rule does not touch jobs submitted after it.
    assert.equal((await runJob(m.port, "PUT", "/2/tags?tag=later")).status, "success");
    await removeRule(reject);
    await removeRule(pause);
  });

  it("runs at most n of the jobs a RATE_LIMIT n rule applies to", async () => {
    const uuid = await addRule({ priority: 1, action: ["RATE_LIMIT", 1], predicates: [["opcode", ["=", "OP_ID", "OP_TAGS_SET"]]] });
    assert.deepEqual((await getRule(uuid)).action, ["RATE_LIMIT", 1]);
    // Hold the cluster lock so that a started job stays running (waiting for it).
    await m.t.master.locks.acquire(-1, { cluster: { names: "all", mode: "exclusive" } });
    let first = 0;
    let second = 0;
    let other = 0;
    try {
      first = await submit("/2/tags?tag=rl1");
      second = await submit("/2/tags?tag=rl2");
      other = await submit("/2/redistribute-config");
      // Once the job submitted after `second` waits for its locks, the queue has passed
      // `second`: the rule, not a slow scheduler, keeps it queued.
      await becomes(first, "waiting");
      await becomes(other, "waiting");
      assert.equal(await status(second), "queued");
    } finally {
      m.t.master.locks.releaseAll(-1);
    }
    for (const id of [first, second, other]) assert.equal((await waitJob(m.port, id)).status, "success");
    await removeRule(uuid);
  });
});

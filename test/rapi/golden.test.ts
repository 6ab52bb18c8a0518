// Corral's answers compared with real Ganeti 3.0.2's, captured in shared/golden: same keys,
// same JSON types (values differ: names, times, ids).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, suiteMaster, waitJob } from "../support/cluster.ts";
import { golden, haveGolden, replay } from "../support/golden.ts";

/** JSON type of a value: what a client's parser sees. */
function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  return typeof v === "object" ? "dict" : typeof v;
}

/** Asserts same key set (dicts) and same types, to `depth` levels. Floats may be whole. */
function assertSameShape(ours: unknown, theirs: unknown, where: string, depth = 2): void {
  const a = typeOf(ours);
  const b = typeOf(theirs);
  const compatible = a === b || (a === "int" && b === "float");
  assert.ok(compatible, `${where}: Corral has ${a}, Ganeti has ${b}`);
  if (depth === 0) return;
  if (a === "dict") {
    const ok = Object.keys(ours as object).sort();
    const tk = Object.keys(theirs as object).sort();
    assert.deepEqual(ok, tk, `${where}: keys differ`);
    for (const k of tk) {
      assertSameShape((ours as Record<string, unknown>)[k], (theirs as Record<string, unknown>)[k], `${where}.${k}`, depth - 1);
    }
  }
}

describe("compared with Ganeti 3.0.2 captures", { skip: !haveGolden && "shared/golden is not beside the repo" }, () => {
  const m = suiteMaster();

  it("answers the static and cluster resources with the same shapes", async () => {
    for (const file of ["0001-anon-root.json", "0002-anon-version.json", "0003-anon-v2.json", "0004-anon-features.json", "0005-anon-info.json", "0007-anon-cluster-tags.json"]) {
      const ex = golden(file);
      const r = await replay(m.port, ex);
      assert.equal(r.status, ex.response.status, file);
      assertSameShape(r.json, ex.response.body_json, file);
      if (file !== "0005-anon-info.json" && file !== "0004-anon-features.json") assert.deepEqual(r.json, ex.response.body_json, file);
    }
  });

  it("/2/info has the hypervisor parameter sets of Ganeti", async () => {
    const ours = (await call(m.port, "GET", "/2/info")).json as Record<string, Record<string, unknown>>;
    const theirs = golden("0005-anon-info.json").response.body_json as Record<string, Record<string, unknown>>;
    assertSameShape(ours.hvparams, theirs.hvparams, "hvparams", 3);
    assertSameShape(ours.ipolicy, theirs.ipolicy, "ipolicy", 4);
    assertSameShape(ours.diskparams, theirs.diskparams, "diskparams", 3);
  });

  it("gives the same status and error body for protocol errors", async () => {
    const files = [
      "0029-version-trailing-slash.json", "0030-v2-trailing-slash.json", "0033-head-version.json",
      "0034-wait-anon.json", "0035-wait-reader.json", "0036-wait-nobody.json", "0039-tags-put-anon.json",
      "0040-tags-put-badpw.json", "0041-tags-put-unknownuser.json", "0042-tags-put-reader.json", "0043-tags-put-nobody.json",
      "0051-info-badpw-on-open-resource.json", "0052-404-unknown.json", "0053-404-v3.json", "0054-404-instance-subres.json",
      "0060-404-job-nonnumeric.json", "0064-501-delete-info.json", "0065-501-post-version.json",
      "0067-501-patch.json", "0085-400-wait-fields-not-list.json", "0090-400-dry-run-not-int.json",
    ];
    for (const file of files) {
      const ex = golden(file);
      const r = await replay(m.port, ex);
      assert.equal(r.status, ex.response.status, file);
      assert.deepEqual(r.json, ex.response.body_json ?? undefined, file);
      const challenge = ex.response.headers.find(([k]) => k === "WWW-Authenticate")?.[1];
      assert.equal(r.headers["www-authenticate"], challenge, `${file}: WWW-Authenticate`);
    }
  });

  it("returns job ids and job objects shaped like Ganeti's", async () => {
    for (const [submitFile, jobFile] of [
      ["0109-cluster-tags-add.json", "0110-cluster-tags-add-job.json"],
      ["0091-tags-invalid-chars.json", "0092-tags-invalid-chars-job.json"],
      ["0117-cluster-tags-del-missing.json", "0118-cluster-tags-del-missing-job.json"],
      ["0418-redistribute-config.json", "0419-redistribute-config-job.json"],
    ]) {
      const sub = await replay(m.port, golden(submitFile));
      assert.equal(typeof sub.json, "number", submitFile);
      const job = await waitJob(m.port, sub.json as number);
      const theirs = golden(jobFile).response.body_json as Record<string, unknown>;
      assertSameShape(job, theirs, jobFile, 1);
      assert.deepEqual(job.status, theirs.status, jobFile);
      assert.deepEqual(job.opresult, theirs.opresult, jobFile);
      assert.deepEqual(job.summary, theirs.summary, jobFile);
      const ourOp = (job.ops as Record<string, unknown>[])[0];
      const theirOp = (theirs.ops as Record<string, unknown>[])[0];
      assert.deepEqual(Object.keys(ourOp), Object.keys(theirOp), `${jobFile}: opcode keys and order`);
    }
    const bulk = (await call(m.port, "GET", "/2/jobs?bulk=1")).json as Record<string, unknown>[];
    const theirBulk = golden("0024-anon-jobs-bulk.json").response.body_json as Record<string, unknown>[];
    assert.deepEqual(Object.keys(bulk[0]), Object.keys(theirBulk[0]));
    const unknown = await replay(m.port, golden("0059-404-unknown-job.json"));
    assert.deepEqual(unknown.json, golden("0059-404-unknown-job.json").response.body_json);
  });

  it("wait-for-change answers like luxid", async () => {
    const id = (await call(m.port, "PUT", "/2/tags?tag=for-wait", { user: "writer" })).json as number;
    await waitJob(m.port, id);
    for (const file of ["0126-job-wait-unchanged.json", "0127-job-wait-changed.json"]) {
      const ex = golden(file);
      const r = await replay(m.port, ex, `/2/jobs/${id}/wait`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, ex.response.body_json, file);
    }
  });
});

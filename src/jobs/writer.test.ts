import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { timestampNow, type Job } from "../model/job.ts";
import { jobRow } from "./writer.ts";

function job(input: Record<string, unknown>): Job {
  return {
    id: 7,
    ops: [{
      input: { OP_ID: "OP_TAGS_SET", dry_run: false, debug_level: 0, priority: 0, depends: null, comment: null, reason: [], ...input },
      status: "running", result: null, log: [], priority: 0,
      start_timestamp: timestampNow(), exec_timestamp: timestampNow(), end_timestamp: null,
    }],
    received_ts: timestampNow(), start_ts: timestampNow(), end_ts: null, log_serial: 0, archived: false,
  };
}

describe("jobRow", () => {
  it("stores a job as its JSON", () => {
    const j = job({ tags: ["a"] });
    assert.deepEqual(JSON.parse(jobRow(j)), JSON.parse(JSON.stringify(j)));
  });

  it("fails only the job whose state cannot be serialized, and stores that failure", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const j = job({ tags: cyclic });
    const stored = JSON.parse(jobRow(j)) as Job;
    assert.equal(stored.ops[0].status, "error");
    assert.equal(stored.ops[0].input.OP_ID, "OP_TAGS_SET");
    assert.equal("tags" in stored.ops[0].input, false);
    const [cls, [message, ecode]] = stored.ops[0].result as [string, [string, string]];
    assert.equal(cls, "OpExecError");
    assert.match(message, /^The job could not be stored: .*circular/i);
    assert.equal(ecode, "internal_error");
  });
});

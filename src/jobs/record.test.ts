import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { timestampNow, type Job, type LogEntry } from "../model/job.ts";
import { JOB_RECORD_MAX_BYTES, jobRow, RESULT_MAX_BYTES, resultTooLarge } from "./record.ts";

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

/** Logs `count` entries of `text` to the job's first opcode, as the executor's feedback does. */
function feedback(j: Job, count: number, text: (i: number) => string): void {
  for (let i = 0; i < count; i++) j.ops[0].log.push([++j.log_serial, timestampNow(), "message", text(j.log_serial)]);
}

const serials = (log: LogEntry[]) => log.map((e) => e[0]);

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

  it("keeps a chatty opcode's first and last log entries under the record limit, saying how many it dropped", () => {
    const j = job({ tags: ["a"] });
    feedback(j, 3000, (serial) => `line ${serial} ${"é".repeat(500)}`);
    const row = jobRow(j);
    assert.ok(Buffer.byteLength(row) <= JOB_RECORD_MAX_BYTES, `${Buffer.byteLength(row)} bytes`);
    const log = (JSON.parse(row) as Job).ops[0].log;
    assert.deepEqual(serials(log.slice(0, 10)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "the first entries");
    assert.equal(log.at(-1)?.[0], 3000, "the last entry");
    assert.deepEqual(serials(log), [...serials(log)].sort((a, b) => a - b), "serials still increase");
    assert.equal(new Set(serials(log)).size, log.length, "each serial once");
    const note = log[10];
    assert.equal(note[2], "message");
    const dropped = Number(/^\[(\d+) log entries dropped here/.exec(String(note[3]))?.[1]);
    assert.equal(dropped, (log[11][0] as number) - 10 - 1, "the entries between the head and the tail");
    assert.equal(note[0], (log[11][0] as number) - 1, "the note has the last dropped entry's serial");
    assert.equal(JSON.stringify(j.ops[0].log), JSON.stringify(log), "trimmed in memory as stored");

    // Logging on: the note is replaced, its count still every entry since the head.
    feedback(j, 3000, (serial) => `line ${serial} ${"x".repeat(500)}`);
    const again = (JSON.parse(jobRow(j)) as Job).ops[0].log;
    assert.deepEqual(serials(again.slice(0, 10)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(again.filter((e) => /entries dropped here/.test(String(e[3]))).length, 1, "one note");
    const droppedNow = Number(/^\[(\d+) log entries/.exec(String(again[10][3]))?.[1]);
    assert.equal(droppedNow + 10 + (again.length - 11), 6000, "every entry is kept or counted");
  });

  it("cuts one huge log entry and stores a job under the limit as it is", () => {
    const j = job({ tags: ["a"] });
    feedback(j, 1, () => "z".repeat(3 * 1024 * 1024));
    const stored = (JSON.parse(jobRow(j)) as Job).ops[0].log;
    assert.equal(stored.length, 1);
    assert.match(String(stored[0][3]), /^z{4096} \[3141632 characters cut\]$/);
    const small = job({ tags: ["b"] });
    feedback(small, 100, (serial) => `line ${serial}`);
    assert.equal(jobRow(small), JSON.stringify(small));
  });

  it("drops parameters and results that keep a record over the limit, failing what has not ended", () => {
    const j = job({ tags: ["t".repeat(JOB_RECORD_MAX_BYTES)] });
    const stored = JSON.parse(jobRow(j)) as Job;
    assert.equal(stored.ops[0].status, "error");
    assert.equal("tags" in stored.ops[0].input, false);
    assert.match((stored.ops[0].result as [string, [string]])[1][0], /record \(\d+ bytes\) is larger than a stored job may be \(524288 bytes\)/);
  });
});

describe("resultTooLarge", () => {
  it("refuses a result over the limit, in UTF-8 bytes, and passes others", () => {
    assert.equal(resultTooLarge(null), undefined);
    assert.equal(resultTooLarge(undefined), undefined);
    assert.equal(resultTooLarge({ a: "b".repeat(RESULT_MAX_BYTES - 100) }), undefined);
    assert.match(resultTooLarge("é".repeat(RESULT_MAX_BYTES / 2)) ?? "", /^The opcode ran, but its result \(\d+ bytes\) is larger than a stored job keeps \(262144 bytes\)/);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jobStarted, jobEnded, newJob, opRunning, opSucceeded, opWaiting } from "../jobs/state.ts";
import { timestampNow, type Job } from "../model/job.ts";
import { buildOpcode } from "../model/opcode.ts";
import { OpTagsSet } from "../model/opcodes/tags.ts";
import { jobFields } from "../query/job.ts";
import type { EventKind } from "./bus.ts";
import { jobEvents } from "./jobs.ts";

interface Published {
  kind: EventKind;
  name: string;
  data: Record<string, unknown>;
}

function follower() {
  const published: Published[] = [];
  const f = jobEvents({ publish: (kind, name, data) => published.push({ kind, name, data: data as Record<string, unknown> }) });
  return { f, published, changes: () => published.map((p) => `${p.data.change}:${p.data.status}`) };
}

const tagOp = (tag: string) => buildOpcode(OpTagsSet, { kind: "cluster", tags: [tag] });
const log = (job: Job, op: number, message: string) => job.ops[op].log.push([++job.log_serial, timestampNow(), "message", message]);

describe("job events", () => {
  it("carries the job field registry's values, named by the job id", () => {
    const { f, published } = follower();
    const job = newJob(7, [tagOp("a")], timestampNow());
    f.submitted(job);
    assert.equal(published[0].kind, "job");
    assert.equal(published[0].name, "7");
    assert.deepEqual(published[0].data, { id: 7, change: "submitted", ...jobFields.values(job, ["status", "summary", "received_ts", "start_ts", "end_ts"]) });
  });

  it("sends a status only when it changed, and only the new log lines, before the end", () => {
    const { f, published, changes } = follower();
    const job = newJob(1, [tagOp("a"), tagOp("b")], timestampNow());
    f.submitted(job);
    f.changed(job);
    assert.deepEqual(changes(), ["submitted:queued"], "a touch without a change sends nothing");
    jobStarted(job);
    opWaiting(job.ops[0]);
    opRunning(job.ops[0]);
    log(job, 0, "one");
    f.changed(job);
    assert.deepEqual(changes(), ["submitted:queued", "status:running", "log:running"], "running comes before its first line");
    opSucceeded(job.ops[0], null);
    opWaiting(job.ops[1]);
    opRunning(job.ops[1]);
    f.changed(job);
    log(job, 1, "two");
    log(job, 1, "three");
    opSucceeded(job.ops[1], null);
    jobEnded(job);
    f.changed(job);
    assert.deepEqual(changes(), ["submitted:queued", "status:running", "log:running", "log:success", "status:success"], "the last lines come before the end");
    const lines = published.filter((p) => p.data.change === "log").map((p) => (p.data.log as [number, unknown, string, string][]).map((e) => [e[0], e[3]]));
    assert.deepEqual(lines, [[[1, "one"]], [[2, "two"], [3, "three"]]]);
  });

  it("tells everything about a job it never saw submitted (recovered at start-up)", () => {
    const { f, published, changes } = follower();
    const job = newJob(3, [tagOp("a")], timestampNow());
    opRunning(job.ops[0]);
    log(job, 0, "before the restart");
    f.changed(job);
    assert.deepEqual(changes(), ["status:running", "log:running"]);
    assert.equal((published[1].data.log as unknown[]).length, 1);
  });
});

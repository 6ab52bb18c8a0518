import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { AuditEvent } from "../api/http/audit.ts";
import { newJob } from "../jobs/state.ts";
import type { Job } from "../model/job.ts";
import { buildOpcode } from "../model/opcode.ts";
import { OpTagsSet } from "../model/opcodes/tags.ts";
import { DurableLog } from "../store/durable.ts";
import { InlineSink } from "../store/sqlite-sink.ts";
import { openDatabase } from "../store/sqlite.ts";
import { AuditTrail } from "./audit.ts";

const dir = mkdtempSync(join(tmpdir(), "corral-audit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const LOGIN: AuditEvent = { user: "writer", source: "127.0.0.1", method: "POST", route: "/ui/api/session", kind: null, object: null, action: "login", status: 200 };

function open(name: string, bounds = { maxAgeSeconds: 3600, maxRecords: 1000 }) {
  const db = openDatabase(join(dir, name));
  const durable = new DurableLog(new InlineSink(db));
  const lines: string[] = [];
  const trail = new AuditTrail(db, durable, (m) => void lines.push(m), bounds);
  const close = async () => {
    trail.close();
    await durable.flush();
    db.close();
  };
  return { db, durable, trail, lines, close };
}

describe("the audit trail's store", () => {
  it("keeps at most maxRecords, the newest", async () => {
    const t = open("count.db", { maxAgeSeconds: 3600, maxRecords: 3 });
    for (let i = 0; i < 8; i++) t.trail.event({ ...LOGIN, user: `user${i}` });
    t.trail.prune();
    const kept = await t.trail.query({ limit: 100 });
    assert.deepEqual(kept.map((r) => r.user), ["user7", "user6", "user5"]);
    assert.equal(t.lines.length, 8, "every record is a log line too");
    await t.close();
  });

  it("keeps to maxRecords by itself every 1,000 records, without the age bound's scan", async () => {
    const t = open("every.db", { maxAgeSeconds: 3600, maxRecords: 10 });
    for (let i = 0; i < 1005; i++) t.trail.event({ ...LOGIN, user: `user${i}` });
    const kept = await t.trail.query({ limit: 1000 });
    assert.equal(kept.length, 15, "the 10 newest at the 1,000th record, and 5 since");
    assert.equal(kept[0].user, "user1004");
    await t.close();
  });

  it("drops records older than maxAgeSeconds", async () => {
    const t = open("age.db", { maxAgeSeconds: 0.05, maxRecords: 1000 });
    t.trail.event(LOGIN);
    await new Promise((r) => setTimeout(r, 100));
    t.trail.event({ ...LOGIN, user: "later" });
    t.trail.prune();
    assert.deepEqual((await t.trail.query({ limit: 100 })).map((r) => r.user), ["later"]);
    await t.close();
  });

  it("after a restart, ids go on and a job that ends still updates its record", async () => {
    const first = open("restart.db");
    const job: Job = newJob(7, [buildOpcode(OpTagsSet, { kind: "node", name: "node1", tags: ["x"] })], [0, 0]);
    const note = { method: "PUT", route: "/2/nodes/[node_name]/tags", params: { node_name: "node1" }, user: "writer", source: "::1", jobs: [] };
    first.trail.within(note, () => first.trail.jobFollower().submitted(job));
    first.trail.answered(note, 200);
    await first.close();

    const second = open("restart.db");
    for (const op of job.ops) op.status = "success";
    second.trail.settle((id) => (id === 7 ? job : undefined));
    second.trail.event(LOGIN);
    const [login, write] = await second.trail.query({ limit: 10 });
    assert.deepEqual([login.id, write.id], [2, 1]);
    assert.deepEqual(write.jobs, [{ id: 7, opcode: "OP_TAGS_SET", target: "node node1", status: "success" }]);
    await second.close();
  });
});

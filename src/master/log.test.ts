import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildOpcode } from "../model/opcode.ts";
import { OpTagsSet } from "../model/opcodes/tags.ts";
import { jsonLog, KnownSecrets, scrubbing, withTestRunCopy } from "./log.ts";

/** The lines written to a destination (a batch comes as one write of several lines). */
function captured(): { lines: string[]; write(chunk: string): void } {
  const lines: string[] = [];
  return { lines, write: (chunk) => void lines.push(...chunk.trimEnd().split("\n")) };
}

describe("the master's JSON log", () => {
  it("writes one JSON object per line with level, time, msg and the call site's fields", () => {
    const out = captured();
    const log = jsonLog(out);
    log("RAPI listening on http://127.0.0.1:5080");
    log("cannot write the database", { level: "error", path: "/var/lib/corral/config.db" });
    assert.equal(out.lines.length, 2);
    const [first, second] = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(first.level, "info");
    assert.equal(first.msg, "RAPI listening on http://127.0.0.1:5080");
    assert.match(String(first.time), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual([second.level, second.path], ["error", "/var/lib/corral/config.db"]);
  });

  it("redacts fields named like credentials or secret parameters, at any depth call sites use", () => {
    const out = captured();
    jsonLog(out)("request", {
      password: "pw-one",
      req: { headers: { authorization: "Basic cHctdHdv", cookie: "corral_session=abcdef" } },
      opcode: { osparams_secret: { marker_text: "pw-three" }, token: "pw-four" },
    });
    const line = out.lines[0];
    for (const secret of ["pw-one", "cHctdHdv", "abcdef", "pw-three", "pw-four"]) assert.ok(!line.includes(secret), `${secret} in ${line}`);
    assert.match(line, /\[REDACTED\]/);
  });

  it("scrubs known secret values and credentials' shapes from messages and field texts", () => {
    const out = captured();
    const secrets = new KnownSecrets();
    secrets.add("hunter2-secret");
    secrets.addSource(() => ["from-the-users-file"]);
    secrets.add("ab"); // too short to scrub without mangling ordinary words
    const log = scrubbing(jsonLog(out), secrets);
    log("create failed: script said hunter2-secret; password=from-the-users-file; Authorization: Basic d3JpdGVyOnB3", { error: "echo hunter2-secret", about: "ab" });
    const line = out.lines[0];
    for (const secret of ["hunter2-secret", "from-the-users-file", "d3JpdGVyOnB3"]) assert.ok(!line.includes(secret), `${secret} in ${line}`);
    const parsed = JSON.parse(line) as { msg: string; error: string; about: string };
    assert.equal(parsed.msg, "create failed: script said [REDACTED]; password=[REDACTED]; Authorization: Basic [REDACTED]");
    assert.equal(parsed.error, "echo [REDACTED]");
    assert.equal(parsed.about, "ab");
  });

  it("learns the secret OS parameters of submitted jobs", () => {
    const secrets = new KnownSecrets();
    secrets.jobFollower().submitted({
      id: 1, received_ts: null, start_ts: null, end_ts: null, log_serial: 0, archived: false,
      ops: [{ input: Object.assign(buildOpcode(OpTagsSet, { kind: "cluster", tags: ["x"] }), { osparams_secret: { key: "os-secret-value" } }), status: "queued", result: null, log: [], priority: 0, start_timestamp: null, exec_timestamp: null, end_timestamp: null }],
    });
    assert.equal(secrets.scrub("the script printed os-secret-value"), "the script printed [REDACTED]");
  });

  it("writes a batch of lines as pino writes them, each with its field's JSON as given", () => {
    const out = captured();
    const record = { id: 7, user: "writer", jobs: [{ id: 3, status: null }] };
    const log = jsonLog(out);
    log("one at a time", { audit: record });
    log.batch!("audit", [["batched", JSON.stringify(record)], ["second", "{}"]]);
    const [single, first, second] = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(first), Object.keys(single));
    assert.deepEqual([first.level, first.pid, first.audit, first.msg], [single.level, single.pid, record, "batched"]);
    assert.deepEqual([second.audit, second.msg], [{}, "second"]);
  });

  it("scrubs a batch by value: the secret goes, numbers and keys that look like it stay", () => {
    const out = captured();
    const secrets = new KnownSecrets();
    secrets.add("1234");
    secrets.add("hunter2-secret");
    const log = scrubbing(jsonLog(out), secrets);
    log.batch!("audit", [
      ["clean", JSON.stringify({ id: 9, user: "writer" })],
      ["user hunter2-secret", JSON.stringify({ id: 1234, user: "1234", object: "x hunter2-secret" })],
    ]);
    const [clean, dirty] = out.lines.map((l) => JSON.parse(l) as { msg: string; audit: Record<string, unknown> });
    assert.deepEqual(clean.audit, { id: 9, user: "writer" });
    assert.equal(dirty.msg, "user [REDACTED]");
    assert.deepEqual(dirty.audit, { id: 1234, user: "[REDACTED]", object: "x [REDACTED]" });
  });

  it("copies every line, batches included, to the test run's file when CORRAL_TEST_LOG_DIR is given", () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-log-copy-"));
    try {
      const out = captured();
      const log = withTestRunCopy(jsonLog(out), dir);
      log("plain line");
      log.batch!("audit", [["batched", '{"id":1}']]);
      const copied = readFileSync(join(dir, `master-${process.pid}.jsonl`), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as { msg: string });
      assert.deepEqual(copied.map((l) => l.msg), ["plain line", "batched"]);
      assert.equal(out.lines.length, 2, "and to the log it was given");
      const plain = jsonLog(out);
      assert.equal(withTestRunCopy(plain, ""), plain, "without a directory, the log as it was");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildOpcode } from "../model/opcode.ts";
import { OpTagsSet } from "../model/opcodes/tags.ts";
import { jsonLog, KnownSecrets, scrubbing } from "./log.ts";

function captured(): { lines: string[]; write(line: string): void } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line) };
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
});

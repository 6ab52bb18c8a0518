// Entity-tag lists and the precondition outcome; Accept weights by specificity.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accepts } from "./accept.ts";
import { evaluateConditions, parseTagList } from "./conditional.ts";
import { HttpError } from "./errors.ts";

const stamp = {
  etag: '"u-3"',
  subject: "Instance a",
  precondition: { kind: "instance" as const, uuid: "u", serial_no: 3 },
};

describe("entity-tag lists", () => {
  it("parses *, single tags, lists and weak tags; a malformed list is undefined", () => {
    assert.equal(parseTagList(" * "), "*");
    assert.deepEqual(parseTagList('"a"'), [{ weak: false, opaque: '"a"' }]);
    assert.deepEqual(parseTagList('W/"a" ,\t"b",'), [{ weak: true, opaque: '"a"' }, { weak: false, opaque: '"b"' }]);
    for (const bad of ["a", '"a', '"a"b', '"a b"', "", ",", 'W/a', '"a"; "b"']) assert.equal(parseTagList(bad), undefined, bad);
  });

  it("takes linear time on hostile input", () => {
    const started = performance.now();
    parseTagList('"a", '.repeat(20_000));
    parseTagList("W/".repeat(50_000));
    assert.ok(performance.now() - started < 500);
  });
});

describe("evaluateConditions", () => {
  it("holds a write to the version If-Match names; * asks only that the object exist", () => {
    assert.deepEqual(evaluateConditions({ "if-match": '"x", "u-3"' }, false, stamp), { proceed: true, precondition: stamp.precondition });
    assert.deepEqual(evaluateConditions({ "if-match": "*" }, false, stamp), { proceed: true, precondition: undefined });
    assert.deepEqual(evaluateConditions({}, false, stamp), { proceed: true, precondition: undefined });
  });

  it("refuses with 412 a stale, weak or malformed If-Match, and one on a missing object", () => {
    for (const header of ['"u-2"', 'W/"u-3"', "u-3"]) {
      assert.throws(() => evaluateConditions({ "if-match": header }, false, stamp), (e: unknown) => e instanceof HttpError && e.code === 412, header);
    }
    assert.throws(() => evaluateConditions({ "if-match": "*" }, false, undefined), (e: unknown) => e instanceof HttpError && e.code === 412);
  });

  it("answers a read's matching If-None-Match with 304 (weak comparison), and refuses such a write", () => {
    assert.deepEqual(evaluateConditions({ "if-none-match": 'W/"u-3"' }, true, stamp), { proceed: false });
    assert.deepEqual(evaluateConditions({ "if-none-match": '"u-2"' }, true, stamp), { proceed: true, precondition: undefined });
    assert.throws(() => evaluateConditions({ "if-none-match": "*" }, false, stamp), (e: unknown) => e instanceof HttpError && e.code === 412);
  });
});

describe("accepts", () => {
  it("lets the most specific range decide", () => {
    assert.equal(accepts("application/json;q=0, */*", "application/json"), false);
    assert.equal(accepts("*/*;q=0, application/json;q=0.5", "application/json"), true);
    assert.equal(accepts("application/*;q=0, */*", "application/json"), false);
    assert.equal(accepts("text/event-stream", "text/event-stream"), true);
    assert.equal(accepts("text/event-stream", "application/json"), false);
  });
});

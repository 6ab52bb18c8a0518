import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DRY_RUN, onUndeclaredQueryRead, parsePythonInt, QueryArgs, queryParam } from "./query.ts";

describe("QueryArgs (Python parse_qs semantics)", () => {
  it("drops blank values and pairs without '='", () => {
    const q = new QueryArgs("bulk=&dry-run&tag=a");
    assert.equal(q.has("bulk"), false);
    assert.equal(q.has("dry-run"), false);
    assert.deepEqual(q.list("tag"), ["a"]);
  });
  it("keeps repeated keys in order and decodes + and %", () => {
    const q = new QueryArgs("tag=a+b&tag=env%3Atest&tag=%E2%82%AC");
    assert.deepEqual(q.list("tag"), ["a b", "env:test", "€"]);
    assert.equal(q.string("tag"), "a b");
  });
  it("reads booleans through int()", () => {
    assert.equal(new QueryArgs("x=1").bool("x"), true);
    assert.equal(new QueryArgs("x=0").bool("x"), false);
    assert.equal(new QueryArgs("x=-1").bool("x"), true);
    assert.equal(new QueryArgs("").bool("x"), false);
    assert.throws(() => new QueryArgs("x=true").bool("x"), /Invalid value for the 'x' parameter/);
    assert.throws(() => new QueryArgs("x=1.0").int("x"), /Invalid value/);
  });
  it("parses Python int literals", () => {
    assert.equal(parsePythonInt(" +12 "), 12);
    assert.equal(parsePythonInt("1_000"), 1000);
    assert.equal(parsePythonInt("1__0"), undefined);
    assert.equal(parsePythonInt(""), undefined);
  });
  it("leaves invalid percent escapes alone", () => {
    assert.deepEqual(new QueryArgs("tag=%zz").list("tag"), ["%zz"]);
  });
});

describe("QueryArgs and the route's declared parameters", () => {
  it("reports a read of an undeclared name, and reads it all the same", () => {
    const reported: string[] = [];
    onUndeclaredQueryRead((name) => reported.push(name));
    try {
      const q = new QueryArgs("dry-run=1&force=1", [DRY_RUN]);
      assert.equal(q.bool("dry-run"), true);
      assert.equal(q.bool("force"), true);
      q.has("bulk");
      // Made outside a route: nothing is declared, nothing is checked.
      new QueryArgs("x=1").string("x");
    } finally {
      onUndeclaredQueryRead(undefined);
    }
    assert.deepEqual(reported, ["force", "bulk"]);
  });
});

describe("QueryArgs and a declared bound", () => {
  const declared = [queryParam.int("limit", "", { minimum: 0 }), queryParam.number("gain", "", { minimum: 0 }), queryParam.int("free", "")];
  it("refuses a value under the declared minimum, naming the parameter and the bound", () => {
    assert.equal(new QueryArgs("limit=0", declared).int("limit"), 0);
    assert.throws(() => new QueryArgs("limit=-1", declared).int("limit"), /^Error: Invalid value for the 'limit' parameter: '-1' \(expected 0 or more\)$/);
    assert.equal(new QueryArgs("free=-1", declared).int("free"), -1, "no bound declared: any integer");
  });
  it("reads decimal numbers, bounded the same way", () => {
    assert.equal(new QueryArgs("gain=0.25", declared).number("gain"), 0.25);
    assert.equal(new QueryArgs("gain=1e-3", declared).number("gain"), 0.001);
    assert.equal(new QueryArgs("", declared).number("gain"), undefined);
    assert.throws(() => new QueryArgs("gain=-0.5", declared).number("gain"), /'gain' parameter: '-0\.5' \(expected 0 or more\)/);
    for (const bad of ["lots", "Infinity", "0x10", "1.2.3"]) assert.throws(() => new QueryArgs(`gain=${bad}`, declared).number("gain"), /^Error: Invalid value for the 'gain' parameter$/, bad);
  });
});

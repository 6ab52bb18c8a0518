// Nice sort and name lookup.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lookupName, lookupObject, nameMatches, niceCompare, niceSort, niceSortBy, resolveName, resolveObject } from "./names.ts";

/** Ganeti's key, straight from its definition: digit runs as numbers (Left), others as strings (Right). */
function referenceKey(s: string): (bigint | string)[] {
  return (s.match(/\d+|\D+/g) ?? []).map((run) => (/^\d/.test(run) ? BigInt(run) : run));
}
function referenceCompare(a: string, b: string): number {
  const ka = referenceKey(a);
  const kb = referenceKey(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const x = ka[i];
    const y = kb[i];
    if (typeof x !== typeof y) return typeof x === "bigint" ? -1 : 1;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return ka.length - kb.length;
}

describe("nice sort", () => {
  it("orders digit runs by value", () => {
    assert.deepEqual(niceSort(["node10", "node2", "node1", "node11"]), ["node1", "node2", "node10", "node11"]);
    assert.deepEqual(niceSort(["a1b10", "a1b9", "a01b2", "a2"]), ["a01b2", "a1b9", "a1b10", "a2"]);
  });

  it("puts a number before text at the same place, and a prefix first", () => {
    assert.deepEqual(niceSort(["ab", "a1", "a", "a.b", "1", ""]), ["", "1", "a", "a1", "a.b", "ab"]);
    assert.deepEqual(niceSort(["inst1.example.com", "inst1"]), ["inst1", "inst1.example.com"]);
  });

  it("handles digit runs longer than a double holds", () => {
    assert.ok(niceCompare("x123456789012345678901234567890", "x123456789012345678901234567891") < 0);
    assert.equal(niceCompare("x007", "x7"), 0);
  });

  it("agrees with Ganeti's key-based definition on random names", () => {
    const alphabet = "ab.-01239";
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const word = () => Array.from({ length: rand(8) }, () => alphabet[rand(alphabet.length)]).join("");
    for (let i = 0; i < 5000; i++) {
      const a = word();
      const b = word();
      assert.equal(Math.sign(niceCompare(a, b)), Math.sign(referenceCompare(a, b)), `${a} vs ${b}`);
    }
  });

  it("sorts objects by a key, stably", () => {
    const objs = [{ n: "b2", i: 0 }, { n: "b10", i: 1 }, { n: "b02", i: 2 }];
    assert.deepEqual(niceSortBy(objs, (o) => o.n).map((o) => o.i), [0, 2, 1]);
  });
});

describe("name lookup", () => {
  const names = ["inst1.example.com", "inst10.example.com", "web.a.com", "web.b.com", "db"];

  it("matches a name or its short form followed by a dot", () => {
    assert.ok(nameMatches("inst1.example.com", "inst1"));
    assert.ok(nameMatches("inst1.example.com", "inst1.example"));
    assert.ok(nameMatches("inst1.example.com", "inst1.example.com"));
    assert.ok(!nameMatches("inst1.example.com", "inst"));
    assert.ok(!nameMatches("inst1.example.com", "inst1."));
  });

  it("resolves an exact name or a unique short form", () => {
    assert.equal(resolveName(names, "inst1"), "inst1.example.com");
    assert.equal(resolveName(names, "inst10.example.com"), "inst10.example.com");
    assert.equal(resolveName(names, "db"), "db");
    assert.equal(resolveName(names, "inst"), undefined);
    assert.equal(resolveName(names, "web"), undefined);
    assert.deepEqual(lookupName(names, "web"), { match: "multiple" });
    assert.deepEqual(lookupName(names, "nosuch"), { match: "none" });
    assert.deepEqual(lookupName(names, "inst1"), { match: "partial", name: "inst1.example.com" });
  });

  it("prefers an exact match over short forms", () => {
    assert.deepEqual(lookupName(["web.a.com", "web", "web.b.com"], "web"), { match: "exact", name: "web" });
  });

  it("finds objects by uuid too", () => {
    const objs = new Map([
      ["u-1", { uuid: "u-1", name: "web.a.com" }],
      ["u-2", { uuid: "u-2", name: "web.b.com" }],
    ]);
    assert.equal(resolveObject(objs, "u-2")?.name, "web.b.com");
    assert.equal(resolveObject(objs, "web.a")?.uuid, "u-1");
    assert.equal(resolveObject(objs, "web"), undefined);
    assert.equal(lookupObject(objs, "web").match, "multiple");
    assert.equal(lookupObject(objs, "u-1").match, "uuid");
  });
});

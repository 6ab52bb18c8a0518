// SnapIndex.sorted: nice-sorted per snapshot, and the order taken over by a later snapshot
// with the same keys (with that snapshot's objects) but never by one whose keys differ.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SnapIndex } from "./context.ts";
import { makeSnapshot } from "./fixture.ts";

interface Obj {
  readonly name: string;
  readonly version: number;
}

/** A fresh index (as for a new snapshot) sorting these objects, inserted in the order given. */
function sortedNames(names: readonly string[], version: number): Obj[] {
  const objects = new Map(names.map((name, i): [string, Obj] => [`uuid-${i}-${name}`, { name, version }]));
  return [...new SnapIndex(makeSnapshot()).sorted("context-test", objects, (o) => o.name)];
}

describe("SnapIndex.sorted", () => {
  it("takes the last order over for the same names, with the new snapshot's objects", () => {
    const first = sortedNames(["node10", "node9", "a2", "node1"], 1);
    assert.deepEqual(first.map((o) => o.name), ["a2", "node1", "node9", "node10"]);
    const again = sortedNames(["node1", "node10", "a2", "node9"], 2);
    assert.deepEqual(again.map((o) => o.name), ["a2", "node1", "node9", "node10"]);
    assert.ok(again.every((o) => o.version === 2), "the objects are the new snapshot's");
  });

  it("sorts afresh when a name changes, one is added or removed, or two are the same", () => {
    sortedNames(["b", "a"], 1);
    assert.deepEqual(sortedNames(["c", "a"], 2).map((o) => o.name), ["a", "c"]);
    assert.deepEqual(sortedNames(["c", "a", "b"], 3).map((o) => o.name), ["a", "b", "c"]);
    assert.deepEqual(sortedNames(["c"], 4).map((o) => o.name), ["c"]);
    const same = new Map<string, Obj>([["u1", { name: "x", version: 1 }], ["u2", { name: "x", version: 2 }], ["u3", { name: "a", version: 3 }]]);
    const sorted = new SnapIndex(makeSnapshot()).sorted("context-test", same, (o) => o.name);
    assert.deepEqual(sorted.map((o) => o.version), [3, 1, 2]);
    const flipped = new Map<string, Obj>([["u1", { name: "a", version: 1 }], ["u2", { name: "x", version: 2 }], ["u3", { name: "x", version: 3 }]]);
    assert.deepEqual(new SnapIndex(makeSnapshot()).sorted("context-test", flipped, (o) => o.name).map((o) => o.version), [1, 2, 3]);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { field, FieldTable, live, UNAVAIL } from "./fields.ts";
import { CachedRowEncoder } from "./rowcache.ts";

interface Row {
  obj: { name: string; note: string };
  dep: object;
  load: number | null;
}

test("config fields are encoded once per object and dependency set; live fields every time", () => {
  let configReads = 0;
  const table = new FieldTable<Row>([
    field("name", "Name", "text", "name", (r) => (configReads++, r.obj.name)),
    live(field("load", "Load", "number", "load", (r) => r.load ?? UNAVAIL)),
    field("note", "Note", "text", "note", (r) => r.obj.note),
  ]);
  const enc = new CachedRowEncoder<Row, Row["obj"]>(table, ["name", "load", "note"], { owner: (r) => r.obj, deps: (r) => [r.dep] });
  const text = (row: Row) => {
    const pieces: string[] = [];
    enc.encodeInto(row, pieces);
    return pieces.join("");
  };
  const obj = { name: "a\"b", note: "x" };
  const dep = {};
  assert.equal(text({ obj, dep, load: 1 }), JSON.stringify({ name: "a\"b", load: 1, note: "x" }));
  assert.equal(text({ obj, dep, load: null }), JSON.stringify({ name: "a\"b", load: null, note: "x" }));
  assert.equal(configReads, 1, "the config fields were encoded once");
  assert.equal(text({ obj, dep: {}, load: 2 }), JSON.stringify({ name: "a\"b", load: 2, note: "x" }));
  assert.equal(configReads, 2, "another dependency object: encoded again");
  // A config string that looks like the encoder's live marker is still encoded right.
  const tricky = { name: "\u0000live", note: "\u0000live" };
  assert.equal(text({ obj: tricky, dep, load: 3 }), JSON.stringify({ name: "\u0000live", load: 3, note: "\u0000live" }));
  assert.equal(text({ obj: tricky, dep, load: 4 }), JSON.stringify({ name: "\u0000live", load: 4, note: "\u0000live" }));
});

// Exports for /2/query/export: every node that is not offline is asked at once; one that
// fails or is late gets a "no data" row, an offline one is not asked and shows "offline".

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Node } from "../model/objects.ts";
import { makeSnapshot } from "../query/fixture.ts";
import { runQuery } from "../query/query.ts";
import { collectExports } from "./nodereads.ts";

const snap = makeSnapshot();

test("lists each answering node's exports; a failing or late node is one entry without export", async () => {
  const asked: string[] = [];
  const lists: Record<string, () => Promise<string[]>> = {
    "node1.example.test": async () => ["inst1.example.test", "inst2.example.test"],
    "node2.example.test": () => new Promise<string[]>(() => {}),
  };
  const client = (n: Node) => ({
    exportList: () => {
      asked.push(n.name);
      return (lists[n.name] ?? (async () => { throw new Error("unreachable"); }))();
    },
  });
  const started = Date.now();
  const exports = await collectExports(snap, client, 50);
  assert.ok(Date.now() - started < 2_000, "a node that does not answer is not waited for");
  assert.deepEqual(asked.sort(), ["node1.example.test", "node2.example.test"], "the offline node10 is not asked");
  assert.deepEqual(exports, [
    { node: "node1.example.test", export: "inst1.example.test" },
    { node: "node1.example.test", export: "inst2.example.test" },
    { node: "node2.example.test", export: null },
  ]);
  assert.deepEqual(runQuery("export", ["node", "export"], null, { snap, exports }).data, [
    [[0, "node1.example.test"], [0, "inst1.example.test"]],
    [[0, "node1.example.test"], [0, "inst2.example.test"]],
    [[0, "node2.example.test"], [2, null]],
    [[0, "node10.example.test"], [4, null]],
  ]);

  lists["node2.example.test"] = async () => [];
  delete lists["node1.example.test"];
  assert.deepEqual(await collectExports(snap, client, 50), [{ node: "node1.example.test", export: null }], "a node without exports has no entry");
});

// The planner's own rules (what hbal's numbers are checked against lives in
// test/clients/balance-htools.test.ts): which instances may move, how moves group into
// jobsets, and what a model refuses.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ModelError, modelFromHtoolsText, modelFromRapi } from "./model.ts";
import { jobsetsOf, planBalance } from "./plan.ts";

/** Three nodes, four shared-storage instances all on node-a: a plan moves some of them. */
const PILED = [
  "g1|uuid-1|preferred||",
  "",
  "node-a|8192|1024|3072|102400|102400|8|N|uuid-1|1",
  "node-b|8192|1024|7168|102400|102400|8|N|uuid-1|1",
  "node-c|8192|1024|7168|102400|102400|8|N|uuid-1|1",
  "",
  "i1|1024|1024|1|running|Y|node-a||sharedfile|web|1",
  "i2|1024|1024|1|running|Y|node-a||sharedfile|web|1",
  "i3|1024|1024|1|running|Y|node-a||sharedfile|db|1",
  "i4|1024|1024|1|running|Y|node-a||sharedfile||1",
  "",
].join("\n");

describe("balance plan", () => {
  it("moves instances off the loaded node and says the score after each move", () => {
    const plan = planBalance(modelFromHtoolsText(PILED));
    assert.ok(plan.moves.length >= 2);
    assert.ok(plan.moves.every((m) => m.from.primary === "node-a" && m.kind === "failover-to-any"));
    let previous = plan.initial_score;
    for (const m of plan.moves) {
      assert.ok(m.score < previous, "each move lowers the score");
      previous = m.score;
    }
    assert.equal(plan.final_score, previous);
    assert.deepEqual(plan.moves[0].steps, [{ op: "migrate", target: plan.moves[0].to.primary }]);
  });

  it("leaves pinned, excluded and unselected instances where they are", () => {
    const model = modelFromHtoolsText(PILED);
    const pinned = planBalance(model, { pinTags: ["web"] });
    assert.ok(pinned.moves.every((m) => m.instance !== "i1" && m.instance !== "i2"));
    assert.ok(pinned.moves.length > 0);
    const excluded = planBalance(model, { excludeInstances: ["i1", "i2", "i3"] });
    assert.deepEqual(excluded.moves.map((m) => m.instance), ["i4"]);
    const selected = planBalance(model, { instances: ["i3"] });
    assert.deepEqual(selected.moves.map((m) => m.instance), ["i3"]);
    assert.throws(() => planBalance(model, { instances: ["nosuch"] }), /Unknown instance 'nosuch'/);
  });

  it("stops at the move limit, and makes no move without instance moves for shared storage", () => {
    const model = modelFromHtoolsText(PILED);
    assert.equal(planBalance(model, { maxMoves: 1 }).moves.length, 1);
    assert.deepEqual(planBalance(model, { instanceMoves: false }).moves, []);
  });

  it("fails over running instances when asked to instead of migrating them", () => {
    const plan = planBalance(modelFromHtoolsText(PILED), { failoverRunning: true });
    assert.ok(plan.moves.every((m) => m.steps.every((s) => s.op === "failover")));
  });

  it("groups consecutive moves on disjoint nodes, from the last move back as hbal -C does", () => {
    // Moves 0 and 2 share node 1; 1 touches other nodes: hbal groups [0], [1, 2].
    assert.deepEqual(jobsetsOf([[1, 2], [3, 4], [1, 5]]), [[0], [1, 2]]);
    assert.deepEqual(jobsetsOf([[1, 2], [2, 3], [4, 5]]), [[0], [1, 2]]);
    assert.deepEqual(jobsetsOf([]), []);
  });

  it("refuses what it does not model, naming it", () => {
    assert.throws(() => planBalance(modelFromHtoolsText(PILED.replace(/\n$/, "\nhtools:nlocation:rack\n"))), (e) => e instanceof ModelError && /htools:nlocation:rack/.test(e.message));
    assert.throws(() => modelFromHtoolsText(PILED.replace("sharedfile|db|1", "sharedfile|db|1|-|Y")), /forthcoming/);
    assert.throws(() => planBalance(modelFromHtoolsText(PILED), { group: "nosuch" }), /Node group 'nosuch' not found/);
    assert.throws(
      () => modelFromRapi({ groups: [], nodes: [{ name: "n1", offline: false }], instances: [], info: { tags: [] } }),
      (e) => e instanceof ModelError && e.message === "Node 'n1': missing field 'drained'",
    );
  });
});

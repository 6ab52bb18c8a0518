// The planner's own rules (what hbal's numbers are checked against lives in
// test/clients/balance-htools.test.ts): which instances may move, how moves group into
// jobsets, and what a model refuses.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ModelError, modelFromHtoolsText, modelFromRapi, type ClusterModel, type ModelInstance, type RapiData } from "./model.ts";
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

/**
 * Two nodes, running file-disk instances (disk-heavy) on node-a, one stopped: hbal never moves
 * them; with storage moves their disk space moves with them. `on` says where each one is.
 */
function filePile(on: Record<string, "node-a" | "node-b"> = {}, nodeBDisk = 204800): string {
  const disk = 20480;
  const names = ["f1", "f2", "f3", "f4"];
  const onB = names.filter((n) => on[n] === "node-b").length;
  return [
    "g1|uuid-1|preferred||",
    "",
    `node-a|8192|1024|${5120 + onB * 512}|204800|${204800 - (5 - onB) * disk}|8|N|uuid-1|1`,
    `node-b|8192|1024|${7168 - onB * 512}|204800|${nodeBDisk - onB * disk}|8|N|uuid-1|1`,
    "",
    ...names.map((n) => `${n}|512|${disk}|1|running|Y|${on[n] ?? "node-a"}||file||1`),
    `stopped|512|${disk}|1|ADMIN_down|Y|node-a||file||1`,
    "",
  ].join("\n");
}

/** The text's model, its instances given these facts (the text format has no hypervisor column: unknown, null). */
function withFacts(text: string, facts: (i: ModelInstance) => Partial<Pick<ModelInstance, "hypervisor" | "alwaysFailover">>): ClusterModel {
  const model = modelFromHtoolsText(text);
  return { ...model, instances: model.instances.map((i) => ({ ...i, ...facts(i) })) };
}
const kvm = (text: string) => withFacts(text, () => ({ hypervisor: "kvm" }));

describe("balance plan", () => {
  it("moves running file-disk instances with their disks only when storage moves are asked for", () => {
    assert.deepEqual(planBalance(kvm(filePile())).moves, [], "hbal's rule: file instances stay");
    const plan = planBalance(kvm(filePile()), { storageMoves: true });
    assert.ok(plan.moves.length > 0);
    for (const m of plan.moves) {
      assert.equal(m.kind, "migrate-with-storage");
      assert.deepEqual([m.from.primary, m.to.primary], ["node-a", "node-b"]);
      assert.deepEqual(m.steps, [{ op: "migrate", target: "node-b", migrate_storage: true }]);
    }
    assert.ok(plan.moves.every((m) => m.instance !== "stopped"), "a stopped instance's disks move only in a live migration");
    assert.ok(plan.final_metrics.free_disk_cv < plan.initial_metrics.free_disk_cv, "the free-disk term improves");
    // The incremental score is the score of the cluster as the moves leave it, disks moved.
    const moved = kvm(filePile(Object.fromEntries(plan.moves.map((m) => [m.instance, "node-b"]))));
    const rescored = planBalance(moved, { storageMoves: true, maxMoves: 0 });
    assert.ok(Math.abs(rescored.initial_score - plan.final_score) < 1e-9, `${rescored.initial_score} rescored, ${plan.final_score} planned`);
    assert.deepEqual(planBalance(kvm(filePile()), { storageMoves: true, failoverRunning: true }).moves, [], "failovers cannot take disks along");
  });

  it("moves no file-disk instance to a node without the free disk for it", () => {
    // node-b takes one instance with 25000 MiB free (20480 each), none with 20000.
    assert.deepEqual(planBalance(kvm(filePile({}, 25000)), { storageMoves: true }).moves.map((m) => m.instance), ["f1"]);
    assert.deepEqual(planBalance(kvm(filePile({}, 20000)), { storageMoves: true }).moves, []);
  });

  it("moves with their disks only instances whose hypervisor mirrors disks and whose migrations stay migrations", () => {
    const movedOf = (model: ClusterModel) => planBalance(model, { storageMoves: true }).moves.map((m) => m.instance);
    assert.deepEqual(movedOf(modelFromHtoolsText(filePile())), [], "unknown hypervisor (the text format has none)");
    assert.deepEqual(movedOf(withFacts(filePile(), () => ({ hypervisor: "fake" }))), [], "the fake hypervisor cannot mirror disks");
    assert.deepEqual(movedOf(withFacts(filePile(), () => ({ hypervisor: "kvm", alwaysFailover: true }))), [], "always_failover: a migration would be a failover");
    // f1 alone on another hypervisor, f2 always failing over: the kvm ones f3 and f4 move instead.
    const mixed = movedOf(withFacts(filePile(), (i) => ({ hypervisor: i.name === "f1" ? "xen-pvm" : "kvm", alwaysFailover: i.name === "f2" })));
    assert.ok(mixed.length > 0 && mixed.every((n) => n === "f3" || n === "f4"), JSON.stringify(mixed));
  });

  it("reads an instance's hypervisor from its dict, else from the hypervisors by name, and always_failover from its beparams", () => {
    const instance = (name: string, extra: Record<string, unknown> = {}, be: Record<string, unknown> = {}) => ({
      name, status: "running", pnode: "n1", snodes: [], disk_template: "file", disk_usage: 1024, "disk.spindles": [null], tags: [],
      beparams: { maxmem: 512, vcpus: 1, auto_balance: true, spindle_use: 1, ...be }, ...extra,
    });
    const data: RapiData = {
      groups: [{ name: "g", uuid: "g-uuid", ipolicy: null }],
      nodes: [{
        name: "n1", offline: false, drained: false, vm_capable: true, "group.uuid": "g-uuid", tags: [],
        ndparams: { exclusive_storage: false, spindle_count: 1 }, mtotal: 8192, mnode: 1024, mfree: 7168, dtotal: 10240, dfree: 8192, ctotal: 4, cnos: 1,
      }],
      instances: [instance("own", { hypervisor: "kvm" }), instance("mapped", {}, { always_failover: true }), instance("unknown"), instance("constructor")],
      info: { tags: [] },
      hypervisors: { own: "fake", mapped: "kvm" },
    };
    const model = modelFromRapi(data);
    assert.deepEqual(model.instances.map((i) => [i.name, i.hypervisor, i.alwaysFailover]), [
      ["own", "kvm", false], ["mapped", "kvm", true], ["unknown", null, false], ["constructor", null, false],
    ]);
  });

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

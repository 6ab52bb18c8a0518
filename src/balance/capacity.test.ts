// Capacity's arithmetic on clusters small enough to count by hand (what hspace's numbers are
// checked against lives in test/clients/capacity-htools.test.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { capacity, specFor } from "./capacity.ts";
import { policiesFromHtoolsText } from "./ipolicy.ts";
import { modelFromHtoolsText, ModelError } from "./model.ts";

/** Two nodes of 8192 MiB (nothing for the node itself), `cpus` CPUs each; optional instances and policy templates. */
function cluster(o: { cpus?: number; instances?: string[]; templates?: string; maxMem?: number; freeA?: number } = {}): string {
  const cpus = o.cpus ?? 64;
  return [
    "g1|uuid-1|preferred||",
    "",
    `node-a|8192|0|${o.freeA ?? 8192}|102400|102400|${cpus}|N|uuid-1|1||N|0|0`,
    `node-b|8192|0|8192|102400|102400|${cpus}|N|uuid-1|1||N|0|0`,
    "",
    ...(o.instances ?? []),
    "",
    "",
    `|1024,1,1024,1,1,1|128,1,1024,1,1,1;${o.maxMem ?? 32768},8,1048576,16,8,12|${o.templates ?? "diskless,sharedfile,drbd"}|4.0|32.0`,
    "",
  ].join("\n");
}

function capacityOf(text: string, opts: Parameters<typeof capacity>[2] = {}) {
  const model = modelFromHtoolsText(text);
  return capacity(model, policiesFromHtoolsText(model, text), opts);
}

describe("capacity", () => {
  it("fills memory: 7 instances of 1024 MiB per 8192 MiB node, then both nodes refuse (FailMem)", () => {
    const { cluster: c } = capacityOf(cluster(), { noCapacityChecks: true });
    assert.equal(c.count, 14);
    assert.equal(c.failure_reason, "FailMem");
    assert.equal(c.failures.FailMem, 2);
    assert.equal(c.stopped_by, "failure");
    assert.equal(c.before.memory_free, 2 * 8192);
    assert.equal(c.after.memory_free, 2 * (8192 - 7 * 1024));
    assert.equal(c.after.instances, 14);
  });

  it("keeps every node losable: two nodes hold what one can (global N+1, FailN1)", () => {
    const { cluster: c } = capacityOf(cluster());
    assert.equal(c.count, 7, "the 8th would not fit on one node when the other is lost");
    assert.equal(c.failure_reason, "FailN1");
    assert.equal(c.failures.FailN1, 2, "both candidates are refused by the check");
    assert.equal(c.failures.FailMem, 0);
  });

  it("stops at the vCPU ratio: 4 vCPUs per CPU (FailCPU)", () => {
    const { cluster: c } = capacityOf(cluster({ cpus: 1 }), { noCapacityChecks: true });
    assert.equal(c.count, 8);
    assert.equal(c.failure_reason, "FailCPU");
    assert.equal(c.after.vcpus_available, 0);
  });

  it("counts what is already there: a 4096 MiB instance leaves room for 3 more on its node", () => {
    const { cluster: c } = capacityOf(cluster({ freeA: 4096, instances: ["i1|4096|0|1|running|Y|node-a||diskless||1"] }), { noCapacityChecks: true });
    assert.equal(c.count, 3 + 7);
    assert.equal(c.before.instances, 1);
  });

  it("takes the policy's standard spec and first template unless given, and refuses specs outside the policy", () => {
    const text = cluster({ maxMem: 2048 });
    const model = modelFromHtoolsText(text);
    const policies = policiesFromHtoolsText(model, text);
    assert.deepEqual(specFor(policies), { memory: 1024, disk: 1024, vcpus: 1, spindles: 1, spindle_use: 1, disk_template: "diskless" });
    assert.equal(specFor(policies, { memory: 512, disk_template: "drbd" }).memory, 512);
    const tooBig = capacity(model, policies, { spec: { memory: 4096 } }).cluster;
    assert.deepEqual([tooBig.count, tooBig.failure_reason, tooBig.failures.FailMem], [0, "FailMem", 2]);
    const wrongTemplate = capacity(model, policies, { spec: { disk_template: "plain" } }).cluster;
    assert.deepEqual([wrongTemplate.count, wrongTemplate.failure_reason, wrongTemplate.failures.FailDisk], [0, "FailDisk", 2]);
    assert.throws(() => specFor(policies, { memory: 0 }), ModelError);
  });

  it("places DRBD instances on pairs: each node keeps free the memory its peer's instances fail over with", () => {
    // a on A with secondaries on B, b the other way: A needs 8192 − 1024·a > 1024·b, so a + b ≤ 7.
    const { cluster: c } = capacityOf(cluster(), { spec: { disk_template: "drbd" } });
    assert.deepEqual([c.count, c.failure_reason, c.failures.FailMem], [7, "FailMem", 2]);
    assert.equal(c.after.memory_free, 2 * 8192 - 7 * 1024);
    assert.equal(c.after.disk_free, 2 * 102400 - 2 * 7 * 1024, "each instance's disk on both nodes");
  });

  it("stops at a limit, and places nothing while a node fails N+1", () => {
    const limited = capacityOf(cluster(), { limit: 3 }).cluster;
    assert.deepEqual([limited.count, limited.stopped_by], [3, "limit"]);
    // node-b holds the secondaries of 6144 MiB of node-a's primaries but has only 4096 MiB free.
    const failing = cluster({
      freeA: 2048,
      instances: ["d1|6144|1024|1|running|Y|node-a|node-b|drbd||1"],
    }).replace("node-b|8192|0|8192|", "node-b|8192|0|4096|");
    const c = capacityOf(failing).cluster;
    assert.deepEqual([c.count, c.failure_reason, c.failures.FailN1], [0, "FailN1", 1]);
  });

  it("answers each group on its own next to the cluster", () => {
    const text = cluster().replace("g1|uuid-1|preferred||", "g1|uuid-1|preferred||\ng2|uuid-2|preferred||").replace("node-b|8192|0|8192|102400|102400|64|N|uuid-1|", "node-b|8192|0|8192|102400|102400|64|N|uuid-2|");
    const { cluster: c, groups } = capacityOf(text, { noCapacityChecks: true });
    assert.deepEqual(groups.map((g) => [g.group, g.count]), [["g1", 7], ["g2", 7]]);
    assert.equal(c.count, 14);
    const unallocable = capacityOf(text.replace("g2|uuid-2|preferred", "g2|uuid-2|unallocable"), { noCapacityChecks: true });
    assert.equal(unallocable.cluster.count, 7, "an unallocable group takes nothing");
    assert.match(unallocable.groups[1].error ?? "", /unallocable/);
  });
});

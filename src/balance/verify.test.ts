// Verification's checks on clusters small enough to follow by hand (what hcheck's numbers are
// checked against lives in test/clients/capacity-htools.test.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { policiesFromHtoolsText, policyViolation, DEFAULT_POLICY } from "./ipolicy.ts";
import { modelFromHtoolsText } from "./model.ts";
import { verifyCluster } from "./verify.ts";

/** Three 8192 MiB nodes with 8 CPUs in one group, these instances, the default policy (max 32768 MiB, 8 vCPUs). */
function cluster(nodes: { free?: [number, number, number]; offline?: string } = {}, ...instances: string[]): string {
  const free = nodes.free ?? [8192, 8192, 8192];
  return [
    "g1|uuid-1|preferred||",
    "",
    ...["node-a", "node-b", "node-c"].map((n, k) => `${n}|8192|0|${free[k]}|102400|102400|8|${nodes.offline === n ? "Y" : "N"}|uuid-1|1||N|0|0`),
    "",
    ...instances,
    "",
    "",
  ].join("\n");
}

function verify(text: string) {
  const model = modelFromHtoolsText(text);
  return verifyCluster(model, policiesFromHtoolsText(model, text));
}

describe("verify", () => {
  it("finds nothing wrong with a lightly loaded cluster", () => {
    const h = verify(cluster({ free: [7168, 8192, 8192] }, "i1|1024|1024|1|running|Y|node-a||sharedfile||1"));
    assert.deepEqual(h.cluster, { n1_failures: 0, conflicting_tags: 0, offline_primaries: 0, offline_nodes: 0, evacuation_failures: 0, needs_rebalance: false });
    assert.equal(h.groups[0].group, "g1");
    assert.deepEqual(h.groups[0].nodes_over_policy, []);
    assert.deepEqual(h.groups[0].instances_violating_policy, []);
    assert.ok(h.groups[0].score > 0);
    assert.ok("moves" in h.groups[0].balance);
  });

  it("counts the nodes that could not be lost: 6144 MiB instances fit nowhere else", () => {
    const big = (n: string) => `big-${n}|6144|1024|1|running|Y|${n}||sharedfile||1`;
    const h = verify(cluster({ free: [2048, 2048, 8192] }, big("node-a"), big("node-b")));
    // node-c takes either one; losing node-c loses nothing.
    assert.equal(h.cluster.evacuation_failures, 0);
    const full = verify(cluster({ free: [2048, 2048, 2048] }, big("node-a"), big("node-b"), big("node-c")));
    assert.equal(full.cluster.evacuation_failures, 3);
    assert.deepEqual(full.groups[0].unevacuable_nodes, ["node-a", "node-b", "node-c"]);
    assert.equal(full.cluster.needs_rebalance, true);
  });

  it("counts N+1 failures: a secondary without the memory its primary's instances fail over with", () => {
    const h = verify(cluster({ free: [2048, 4096, 8192] }, "d1|6144|1024|1|running|Y|node-a|node-b|drbd||1"));
    assert.equal(h.cluster.n1_failures, 1);
    assert.deepEqual(h.groups[0].n1_failed_nodes, ["node-b"]);
  });

  it("counts instances on offline nodes, and offline nodes as hcheck does", () => {
    const h = verify(cluster({ offline: "node-c" }, "i1|512|0|1|running|Y|node-c||sharedfile||1", "i2|512|0|1|running|Y|node-c||sharedfile||1"));
    assert.equal(h.cluster.offline_primaries, 2);
    assert.equal(h.cluster.offline_nodes, 1);
    assert.equal(h.cluster.needs_rebalance, true);
  });

  it("names nodes over their policy and instances outside it", () => {
    // 40 vCPUs on 8 CPUs (ratio 4) and 9216 MiB of instances on an 8192 MiB node.
    const h = verify(cluster({ free: [0, 8192, 8192] }, "fat|9216|1024|40|running|Y|node-a||sharedfile||1"));
    assert.deepEqual(h.groups[0].nodes_over_policy, [{ node: "node-a", over: ["vcpu-ratio", "memory"] }]);
    assert.deepEqual(h.groups[0].instances_violating_policy, [{ instance: "fat", failure: "FailCPU" }], "40 vCPUs is over the policy's 8");
  });
});

describe("instance policy", () => {
  const shape = { mem: 1024, vcpus: 1, diskSizes: [1024], spindleUse: 1, spindles: 1, template: "drbd" };
  it("accepts an instance within a min/max pair with an allowed template", () => {
    assert.equal(policyViolation(shape, DEFAULT_POLICY, false), undefined);
  });
  it("names the first resource out of bounds, then the template", () => {
    assert.equal(policyViolation({ ...shape, mem: 64 }, DEFAULT_POLICY, false), "FailMem");
    assert.equal(policyViolation({ ...shape, diskSizes: [1024, 2 << 20] }, DEFAULT_POLICY, false), "FailDisk");
    assert.equal(policyViolation({ ...shape, diskSizes: [] }, DEFAULT_POLICY, false), "FailDiskCount");
    assert.equal(policyViolation({ ...shape, diskSizes: [], template: "diskless" }, DEFAULT_POLICY, false), undefined, "diskless needs no disk");
    assert.equal(policyViolation({ ...shape, spindles: null }, DEFAULT_POLICY, true), "FailSpindles", "exclusive storage needs spindles");
    assert.equal(policyViolation(shape, { ...DEFAULT_POLICY, diskTemplates: ["plain"] }, false), "FailDisk");
  });
  it("reads an htools text file's policies and groups' allocation policies", () => {
    const text = "g1|uuid-1|unallocable||\n\nn|1024|0|1024|10|10|1|N|uuid-1|1\n\n\n\n|512,1,1024,1,1,1|128,1,1024,1,1,1;2048,4,4096,2,2,2|plain,drbd|2.0|16.0\n";
    const model = modelFromHtoolsText(text);
    const p = policiesFromHtoolsText(model, text);
    assert.equal(p.cluster.std.memory, 512);
    assert.deepEqual(p.cluster.diskTemplates, ["plain", "drbd"]);
    assert.equal(p.cluster.minmax[0].max.cpus, 4);
    assert.deepEqual([...p.unallocable], [0]);
  });
});

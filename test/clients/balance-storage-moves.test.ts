// /corral/1/balance with storage-moves on three agents of the fake hypervisor: running `file`
// instances piled on one node stay, with the option as without it, since only kvm mirrors disks
// in a migration (migrate_storage refuses the others): the route hands the planner each
// instance's hypervisor. The moves themselves, planned and carried out with kvm, are
// test/vm/kvm-storage-balance.test.ts's; the planner's rules src/balance/plan.test.ts's.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Plan } from "../../src/balance/plan.ts";
import { startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";

describe("GET /corral/1/balance with storage-moves on three fake-hypervisor agents", () => {
  let c: MultiNodeCluster;
  const run = async (method: string, uri: string, body?: unknown) => {
    const client = c.client();
    const job = await client.waitForJob((await client.request(method, uri, body)) as number);
    assert.equal(job.status, "success", `${method} ${uri}: ${JSON.stringify(job.opresult)}`);
  };

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 8192, master: { ssl: true }, templates: ["diskless", "file"] });
    for (const [i, mem] of [[1, 1024], [2, 512], [3, 768], [4, 640]] as const) {
      await run("POST", "/2/instances", {
        __version__: 1, mode: "create", name: `local${i}.corral.test`, os: "corral-marker+default", pnode: "node1.corral.test",
        disk_template: "file", disks: [{ size: 2048 }], nics: [{}], beparams: { maxmem: mem, minmem: mem, vcpus: 1 },
      });
    }
  });
  after(() => c?.close());

  it("moves no file instance of the fake hypervisor, with the option or without it", async () => {
    const reader = c.client("reader");
    const hbals = (await reader.request("GET", "/corral/1/balance")) as Plan;
    assert.deepEqual(hbals.moves, []);
    assert.ok(hbals.initial_score > 0, "node1 carries all four: a plan that could move them would");
    const withStorage = (await reader.request("GET", "/corral/1/balance?storage-moves=1")) as Plan;
    assert.deepEqual(withStorage.moves, [], "migrate_storage needs kvm");
    assert.equal(withStorage.initial_score, hbals.initial_score);
    await assert.rejects(reader.request("GET", "/corral/1/balance?storage-moves=maybe"), /storage-moves/);
  });
});

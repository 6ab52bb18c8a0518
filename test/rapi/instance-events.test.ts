// The agent → master event channel: a domain that dies or a guest that powers itself off is
// seen by the master at once (long poll of instanceEvents), not at the next periodic refresh.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeHypervisor } from "../../src/node/hypervisor/fake.ts";
import { call, runJob, suiteMaster, waitJob } from "../support/cluster.ts";

/** Polls GET /2/instances/NAME until `field` is `want`; resolves with the ms it took. */
async function until(port: number, name: string, field: string, want: unknown, withinMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const got = ((await call(port, "GET", `/2/instances/${name}`)).json as Record<string, unknown>)[field];
    if (got === want) return Date.now() - t0;
    if (Date.now() - t0 > withinMs) assert.fail(`${name}: ${field} is ${JSON.stringify(got)}, not ${JSON.stringify(want)}, after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("instance events from the node", () => {
  // Periodic refreshes ten minutes apart: whatever is seen sooner came through the events.
  const m = suiteMaster({ liveRefreshMs: 600_000 });
  const fake = () => m.t.master.connections.localAgent.hypervisor("fake") as FakeHypervisor;
  const create = async (name: string) => {
    const job = await runJob(m.port, "POST", "/2/instances", {
      __version__: 1, mode: "create", name, disk_template: "diskless", disks: [], nics: [{}],
      os_type: "corral-marker+default", beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, ip_check: false, name_check: false,
    });
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    assert.equal(((await call(m.port, "GET", `/2/instances/${name}`)).json as { status: string }).status, "running");
  };

  it("a domain that dies is ERROR_down within a second", async () => {
    await create("crash1.corral.test");
    await fake().simulateExit("crash1.corral.test", "crashed");
    const ms = await until(m.port, "crash1.corral.test", "status", "ERROR_down", 1000);
    assert.ok(ms < 1000);
    // A crash changes nothing in the config: the instance is still meant to run.
    assert.equal(((await call(m.port, "GET", "/2/instances/crash1.corral.test")).json as { admin_state: string }).admin_state, "up");
  });

  it("a guest that powers itself off is marked down by a shutdown job naming why", async () => {
    await create("off1.corral.test");
    await fake().simulateExit("off1.corral.test", "stopped");
    await until(m.port, "off1.corral.test", "status", "ADMIN_down", 5000);
    const jobs = (await call(m.port, "GET", "/2/jobs?bulk=1")).json as { id: number; ops: { OP_ID: string; instance_name?: string; reason: [string, string, number][] }[] }[];
    const marking = jobs.find((j) => j.ops[0].OP_ID === "OP_INSTANCE_SHUTDOWN" && j.ops[0].instance_name === "off1.corral.test");
    assert.ok(marking, "a shutdown job was submitted");
    // The status shows ADMIN_down as soon as the job commits; the job itself ends just after.
    assert.equal((await waitJob(m.port, marking.id)).status, "success");
    assert.match(marking.ops[0].reason.map((r) => r.join(" ")).join("; "), /guest powered itself off/);
  });
});

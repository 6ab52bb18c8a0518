// Ganeti's own RAPI client (Debian's python3-ganeti-rapi) driving the instance resources of
// a two-node Corral cluster over HTTPS, verifying Corral's certificate: create, read, info,
// console, power, modify, grow, rename, disks, reinstall, tags, migrate, failover, export,
// multi-alloc, delete, and the job waits between them.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { startInstanceCluster, type InstanceCluster } from "../support/instances.ts";
import { officialClient, runPython } from "../support/python.ts";

officialClient().describe("official Ganeti RAPI client on instances", () => {
  let c: InstanceCluster;
  before(async () => {
    c = await startInstanceCluster({ extraNodes: 1, master: { ssl: true } });
  });
  after(() => c.close());

  it("drives an instance's whole life through the client's instance methods", async () => {
    const r = await runPython("rapi_instances.py", ["127.0.0.1", String(c.port), "writer", "writerpass", join(c.dataDir, "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok$/m);
  });
});

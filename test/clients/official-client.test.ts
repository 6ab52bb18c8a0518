// Ganeti's own RAPI client (Debian's python3-ganeti-rapi) against Corral over HTTPS,
// verifying Corral's generated certificate.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { startTestMaster, type TestMaster } from "../support/cluster.ts";
import { officialClient, runPython } from "../support/python.ts";

officialClient().describe("official Ganeti RAPI client", () => {
  let t: TestMaster;
  before(async () => {
    t = await startTestMaster({ ssl: true, nodeName: "localhost" });
  });
  after(() => t.close());

  it("drives version, features, info, cluster tags, config redistribution and jobs", async () => {
    const r = await runPython("rapi_foundation.py", ["localhost", String(t.master.port), "writer", "writerpass", join(t.dataDir, "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ok/);
  });
});

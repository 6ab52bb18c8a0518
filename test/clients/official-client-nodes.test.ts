// Ganeti's own RAPI client (Debian's python3-ganeti-rapi) driving the node, query and job
// resources of a three-node Corral cluster over HTTPS, verifying Corral's certificate.

import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { suiteCluster } from "../support/multinode.ts";
import { officialClient, runPython } from "../support/python.ts";

officialClient().describe("official Ganeti RAPI client on nodes, queries and jobs", () => {
  const m = suiteCluster({ master: { ssl: true } });

  it("lists, reads, re-roles, modifies, power-cycles, evacuates, migrates and queries nodes", async () => {
    const r = await runPython("rapi_nodes.py", ["127.0.0.1", String(m.port), "writer", "writerpass", join(m.c.dataDir, "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok$/m);
  });
});

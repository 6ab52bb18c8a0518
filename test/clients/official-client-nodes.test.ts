// Ganeti's own RAPI client (Debian's python3-ganeti-rapi) driving the node, query and job
// resources of a three-node Corral cluster over HTTPS, verifying Corral's certificate.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { suiteCluster } from "../support/multinode.ts";
import { runPython } from "../support/python.ts";

const haveClient = existsSync("/usr/bin/python3") && existsSync("/usr/lib/python3/dist-packages/ganeti/rapi/client.py");

describe("official Ganeti RAPI client on nodes, queries and jobs", { skip: !haveClient && "python3-ganeti-rapi is not installed" }, () => {
  const m = suiteCluster({ master: { ssl: true } });

  it("lists, reads, re-roles, modifies, power-cycles, evacuates, migrates and queries nodes", async () => {
    const r = await runPython("rapi_nodes.py", ["127.0.0.1", String(m.port), "writer", "writerpass", join(m.c.dataDir, "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok$/m);
  });
});

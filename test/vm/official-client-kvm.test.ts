// Ganeti's own RAPI client (Debian's python3-ganeti-rapi) with a kvm instance that really
// boots (QEMU under TCG on the master's node, in a test network namespace): created with
// hvparams, seen running by the client and by htools (its memory on its node), rebooted soft
// and hard, shut down and removed.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { consoleMarker, startKvmCluster, type KvmCluster } from "../support/kvm.ts";
import { officialClient, runPython } from "../support/python.ts";
import { requireTestGuest } from "../support/test-guest.ts";
import { allOf, requireTools } from "../support/tools.ts";

const guest = await requireTestGuest();
const tools = requireTools({ tools: ["ip", "hscan"], root: true });

allOf(guest, tools, officialClient()).describe("official Ganeti RAPI client on a kvm instance", () => {
  let c: KvmCluster;
  before(async () => {
    c = await startKvmCluster({ guest: guest.guest, ipPath: tools.path("ip"), ssl: true });
  });
  after(() => c?.close(["pyvm.corral.test"]));
  const python = (phase: string) =>
    runPython("rapi_kvm.py", ["127.0.0.1", String(c.port), "writer", "writerpass", join(c.dataDir, "rapi.pem"), phase]);

  it("creates it with hvparams; the guest boots; htools sees its memory; reboots, shuts down and removes it", async () => {
    const step = async (phase: string) => {
      const r = await python(phase);
      assert.equal(r.code, 0, `${phase}: ${r.out}`);
    };
    const consoleLog = c.files("pyvm.corral.test").console;
    await step("create");
    let seen = await consoleMarker(consoleLog, /CORRAL_NET eth0 ip=10\.78\.0\.1\/24[\s\S]*CORRAL_READY/);

    // hscan's node row: F Name t_mem n_mem i_mem …, i_mem being the running instances' memory
    // (-d: its cluster data file goes into the test's directory, not the working one).
    const scan = await new Promise<string>((resolve, reject) =>
      execFile(tools.path("hscan"), ["-p", "-d", c.dataDir, `https://127.0.0.1:${c.port}`], { timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`hscan: ${err.message} ${stderr}`)) : resolve(stdout)));
    // htools drops the common domain suffix from node names.
    assert.match(scan, /^\s+node1(\.corral\.test)?\s+\d+\s+\d+\s+256\s/m, scan);

    for (const phase of ["soft", "hard"]) {
      await step(phase);
      seen = await consoleMarker(consoleLog, /CORRAL_READY/, seen);
    }
    await step("remove");
  });
});

// Ganeti's own RAPI client (Debian's python3-ganeti-rapi) against Corral over HTTPS,
// verifying Corral's generated certificate.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startTestMaster, type TestMaster } from "../support/cluster.ts";

const PYTHON = "/usr/bin/python3";
const CLIENT = "/usr/lib/python3/dist-packages/ganeti/rapi/client.py";
const haveClient = existsSync(PYTHON) && existsSync(CLIENT);

export function runPython(script: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [fileURLToPath(new URL(script, import.meta.url)), ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, out: stdout + stderr });
    });
  });
}

describe("official Ganeti RAPI client", { skip: !haveClient && "python3-ganeti-rapi is not installed" }, () => {
  let t: TestMaster;
  before(async () => {
    t = await startTestMaster({ ssl: true, nodeName: "localhost" });
  });
  after(() => t.close());

  it("drives version, features, info, cluster tags, config redistribution and jobs", async () => {
    const r = await runPython("./rapi_foundation.py", ["localhost", String(t.master.port), "writer", "writerpass", join(t.dataDir, "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ok/);
  });
});

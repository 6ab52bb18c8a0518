// ansible-core (Debian's package) driving Corral's RAPI with its own uri module.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startTestMaster, type TestMaster } from "../support/cluster.ts";
import { requireTools } from "../support/tools.ts";

const ansible = requireTools({ tools: ["ansible-playbook"] });

function playbook(file: string, vars: Record<string, string>): Promise<{ code: number; out: string }> {
  const args = [fileURLToPath(new URL(file, import.meta.url)), "-i", "localhost,", "-c", "local"];
  for (const [k, v] of Object.entries(vars)) args.push("-e", `${k}=${v}`);
  return new Promise((resolve) => {
    execFile(ansible.path("ansible-playbook"), args, { timeout: 180_000, env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCALHOST_WARNING: "0" } }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: stdout + stderr });
    });
  });
}

ansible.describe("ansible-core", () => {
  let t: TestMaster;
  before(async () => {
    t = await startTestMaster({ ssl: true, nodeName: "localhost" });
  });
  after(() => t.close());

  it("reads the cluster, submits a job and follows it with the uri module", async () => {
    const r = await playbook("./ansible/cluster.yml", { rapi_port: String(t.master.port), ca_file: join(t.dataDir, "rapi.pem") });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /failed=0/);
  });
});

// The `corral` command line against real Ganeti 3.0 (shared/tools/ganeti-reference, started
// here when it does not already run, stopped again if this test started it): the read commands
// people type most, and an instance's life (create, info, reboot, stop, remove) through
// Ganeti's RAPI alone. Skipped only when the reference cannot start (it needs root and
// Debian's Ganeti packages); the reason is printed.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { REFERENCE_RAPI, startReference, type Reference } from "../support/ganeti-reference.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));
const NODE = "node1.ganeti.test";

let reference: Reference | null = null;
let unavailable = "";
try {
  reference = await startReference((s) => console.log(s));
} catch (err) {
  unavailable = (err as Error).message.split("\n").slice(0, 6).join("\n");
}
console.log(reference ? `real Ganeti at ${REFERENCE_RAPI} (${reference.started ? "started by this test" : "already running"})` : `the Ganeti reference cannot start: ${unavailable}`);

describe("the corral command line against real Ganeti 3.0", { skip: reference ? false : `the Ganeti reference cannot start: ${unavailable}` }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const name = `cli-${process.pid}.ganeti.test`;
  const corral = (args: string[], user: "reader" | "writer" = "reader"): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      execFile(CORRAL, [...args, "--insecure"], { timeout: 120_000, env: { ...env, CORRAL_RAPI_USER: user, CORRAL_RAPI_PASSWORD_FILE: join(dir, user) } }, (error, stdout, stderr) => {
        const code = error ? (error as { code?: number }).code : 0;
        resolve({ code: typeof code === "number" ? code : 1, out: stdout, err: stderr });
      });
    });
  const ok = async (args: string[], user: "reader" | "writer" = "reader") => {
    const r = await corral(args, user);
    assert.equal(r.code, 0, `corral ${args.join(" ")}: ${r.out}${r.err}`);
    return r.out;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "corral-cli-ganeti-"));
    writeFileSync(join(dir, "reader"), "readerpass\n");
    writeFileSync(join(dir, "writer"), "writerpass\n");
    env = { PATH: process.env.PATH ?? "", HOME: dir, CORRAL_RAPI_URL: REFERENCE_RAPI };
  });
  after(async () => {
    await corral(["instance", "remove", name, "--force"], "writer");
    await reference?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads: cluster info, node list, instance list, job list, os list, group list", async () => {
    const info = await ok(["cluster", "info"]);
    assert.match(info, /^software_version: 3\.0\.\d+$/m);
    assert.match(info, /^vcs_version: \(ganeti\) version /m);
    assert.match(await ok(["node", "list"]), new RegExp(`^Node\\s+DTotal\\s+DFree\\s+MTotal\\s+MNode\\s+MFree\\s+Pinst\\s+Sinst\\n${NODE.replace(/\./g, "\\.")}\\s+\\S+`, "m"));
    assert.match(await ok(["instance", "list"]), /^Instance\s+Hypervisor\s+OS\s+Primary_node\s+Status\s+Memory$/m);
    // The ID column is right-aligned: a reference that has run before has wider ids.
    assert.match(await ok(["job", "list"]), /^\s*ID\s+Status\s+Summary\n\s*1\s+success\s+CLUSTER_POST_INIT$/m);
    assert.match(await ok(["os", "list"]), /^noop$/m);
    assert.match(await ok(["group", "list"]), /^default\s+1\s+/m);
    const nodes = JSON.parse(await ok(["node", "list", "-o", "name,role,vm_capable", "--format", "json"])) as unknown[];
    assert.deepEqual(nodes, [{ name: NODE, role: "M", vm_capable: true }]);
  });

  it("an instance's life through Ganeti's RAPI: add (following the job), list -F, info, reboot, stop, remove", async () => {
    const add = await ok(["instance", "add", name, "-t", "diskless", "-o", "noop", "--net", "0:ip=198.51.100.10", "-B", "maxmem=128M", "-n", NODE, "--no-name-check", "--no-ip-check"], "writer");
    assert.match(add, /\* starting instance\.\.\.$/m);
    assert.match(await ok(["instance", "list", "-o", "name,be/maxmem,status", "-F", `name == "${name}"`]), new RegExp(`^${name.replace(/\./g, "\\.")}\\s+128M\\s+running$`, "m"));
    // Ganeti's instance info is a job: a read-only user is refused, as gnt-instance info is.
    const asReader = await corral(["instance", "info", name]);
    assert.equal(asReader.code, 1);
    assert.match(asReader.err, /^corral: 403 Forbidden .*needs a RAPI user with write access/m);
    assert.match(await ok(["instance", "info", name], "writer"), /^\s+run_state: up$/m);
    await ok(["instance", "reboot", name], "writer");
    await ok(["instance", "stop", name], "writer");
    assert.match(await ok(["instance", "list", name, "-o", "status", "--no-headers"]), /^ADMIN_down$/m);
    await ok(["instance", "remove", name, "--force"], "writer");
    const gone = await corral(["instance", "start", name], "writer");
    assert.equal(gone.code, 1);
    assert.match(gone.err, new RegExp(`^Failure: prerequisites not met for this operation:\\nerror type: unknown_entity, error details:\\nInstance '${name.replace(/\./g, "\\.")}' not known`, "m"));
  });
});

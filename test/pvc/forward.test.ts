// A standby master forwards the PVC API's writes to the leader (issue 17), as it does RAPI's
// (test/rapi/forward.test.ts): with the PVC API on the RAPI listener (the leader's RAPI URL
// serves it) and on a listener of its own (pvc-api.yaml's port, on the leader's host).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { AuditRecord } from "../../src/api/http/audit.ts";
import { call, startTestMaster, type TestMaster } from "../support/cluster.ts";
import { closedPort, TestLocator } from "../support/leader.ts";
import { PVC_TOKENS } from "../support/secrets.ts";
import { msg, PvcClient, pvcYaml } from "./support.ts";

const TOKEN = PVC_TOKENS.auth;
const KEY = { "X-Api-Key": TOKEN };

/** A pvc-api.yaml with authentication on, listening on `address:port`. */
function pvcConfig(dir: string, address = "127.0.0.1", port = 0): string {
  const file = join(dir, `pvc-api-${address}.yaml`);
  const yaml = pvcYaml({ enabled: true, tokens: [TOKEN] })
    .replace('listen_address: "127.0.0.1"', `listen_address: "${address}"`)
    .replace('listen_port: "0"', `listen_port: "${port}"`);
  writeFileSync(file, yaml);
  return file;
}

/** A POST with the API key to a listener on another loopback address than the test client's. */
function postTo(host: string, port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: "POST", headers: KEY, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

const networkNames = async (t: TestMaster): Promise<string[]> => ((await call(t.master.port, "GET", "/2/networks")).json as { name: string }[]).map((n) => n.name);

async function leaderAudit(t: TestMaster, route: string, status: number): Promise<AuditRecord> {
  for (let i = 0; i < 100; i++) {
    const records = (await call(t.master.port, "GET", "/corral/1/audit?limit=50", { user: "admin" })).json as AuditRecord[];
    const found = records.find((r) => r.route === route && r.status === status);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no audit record of ${route} answered ${status} on the leader`);
}

describe("PVC writes through a standby, the PVC API on the RAPI listener", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-pvc-forward-"));
  const locator = new TestLocator();
  let leader: TestMaster;
  let standby: TestMaster;
  let viaStandby: PvcClient;
  before(async () => {
    leader = await startTestMaster({ pvcConfigFile: pvcConfig(dir), pvcOnRapiListener: true, liveRefreshMs: 60_000 });
    standby = await startTestMaster({ pvcConfigFile: pvcConfig(dir), pvcOnRapiListener: true, liveRefreshMs: 60_000, leader: locator });
    locator.current = { name: "leader", url: `http://127.0.0.1:${leader.master.port}` };
    viaStandby = new PvcClient(standby.master.port);
  });
  after(async () => {
    await standby?.close();
    await leader?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a network added through the standby is the leader's; the standby's reads are its own", async () => {
    const r = await viaStandby.call("POST", "/network", { form: { vni: "300", description: "forwarded", nettype: "bridged" }, headers: KEY });
    assert.equal(r.status, 200, r.text);
    assert.equal(msg(r), "Network 'forwarded' added successfully!");
    assert.ok((await networkNames(leader)).includes("forwarded"));
    assert.ok(!(await networkNames(standby)).includes("forwarded"));
    // PVC answers 404 when it has no network: the standby has none; the leader has this one.
    const listed = await viaStandby.call("GET", "/network", { headers: KEY });
    assert.deepEqual([listed.status, listed.text.includes('"forwarded"')], [404, false], listed.text);
    const record = await leaderAudit(leader, "/api/v1/network", 200);
    assert.equal(record.user, "pvc:api-key");
    assert.match(record.source, /\(forwarded for 127\.0\.0\.1, as claimed\)$/);
  });

  it("the leader refuses a wrong key, in PVC's format", async () => {
    const r = await viaStandby.call("POST", "/network", { form: { vni: "301", description: "refused", nettype: "bridged" }, headers: { "X-Api-Key": "not-a-token" } });
    assert.deepEqual([r.status, r.json], [401, { message: "X-Api-Key Authentication failed" }]);
    assert.ok(!(await networkNames(leader)).includes("refused"));
  });

  it("a leader that is down: 503 in PVC's format, with Retry-After", async () => {
    locator.current = { name: "gone", url: `http://127.0.0.1:${await closedPort()}` };
    try {
      const r = await viaStandby.call("POST", "/network", { form: { vni: "302", description: "nowhere", nettype: "bridged" }, headers: KEY });
      assert.equal(r.status, 503, r.text);
      assert.match(msg(r), /does not lead .* the leader gone did not take the connection/);
      assert.equal(r.headers["retry-after"], "5");
    } finally {
      locator.current = { name: "leader", url: `http://127.0.0.1:${leader.master.port}` };
    }
  });
});

describe("PVC writes through a standby, the PVC API on a listener of its own", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-pvc-forward-own-"));
  const locator = new TestLocator();
  let leader: TestMaster;
  let standby: TestMaster;
  before(async () => {
    // The same port on two loopback addresses: the leader's host and pvc-api.yaml's port.
    const port = await closedPort();
    leader = await startTestMaster({ pvcConfigFile: pvcConfig(dir, "127.0.0.1", port), liveRefreshMs: 60_000 });
    standby = await startTestMaster({ pvcConfigFile: pvcConfig(dir, "127.0.0.2", port), liveRefreshMs: 60_000, leader: locator });
    locator.current = { name: "leader", url: `http://127.0.0.1:${leader.master.port}` };
  });
  after(async () => {
    await standby?.close();
    await leader?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reaches the leader's PVC listener, not its RAPI one", async () => {
    const r = await postTo("127.0.0.2", standby.master.pvcPort!, "/api/v1/network?vni=400&description=own-listener&nettype=bridged");
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).message, "Network 'own-listener' added successfully!");
    assert.ok((await networkNames(leader)).includes("own-listener"));
    assert.ok(!(await networkNames(standby)).includes("own-listener"));
  });
});

// The audit trail over HTTP: what RAPI writes, refusals and web console logins leave in it,
// GET /corral/1/audit's filters and access, and that no secret reaches a log line or record.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AuditRecord } from "../../src/api/http/audit.ts";
import { jsonLog } from "../../src/master/log.ts";
import { call, USERS, waitJob } from "../support/cluster.ts";
import { OS_SECRET, PVC_TOKENS, WRONG_PASSWORD } from "../support/secrets.ts";
import { createBody, DOMAIN, run, startInstanceCluster, submit, type InstanceCluster } from "../support/instances.ts";
import { domainXml, startPvcMaster, type PvcTestMaster } from "../pvc/support.ts";

const NODE = `node1.${DOMAIN}`;

describe("the audit trail", () => {
  let c: InstanceCluster;
  const logLines: string[] = [];
  before(async () => {
    c = await startInstanceCluster({ master: { log: jsonLog({ write: (chunk: string) => void logLines.push(...chunk.trimEnd().split("\n")) }) } });
  });
  after(() => c?.close());

  async function audit(query = "", user: "writer" | "admin" | "reader" = "admin"): Promise<AuditRecord[]> {
    const r = await call(c.port, "GET", `/corral/1/audit${query}`, { user });
    assert.equal(r.status, 200, r.text);
    return r.json as AuditRecord[];
  }

  it("records a RAPI write with its user, address, route, object and job", async () => {
    const job = await run(c.port, "PUT", `/2/nodes/${NODE}/tags?tag=audited`);
    assert.equal(job.status, "success");
    const [record] = await audit("?limit=1");
    assert.deepEqual(
      { ...record, id: 0, time: 0 },
      {
        id: 0, time: 0, user: "writer", source: "127.0.0.1", method: "PUT", route: "/2/nodes/[node_name]/tags",
        kind: "node", object: NODE, action: null, status: 200,
        jobs: [{ id: job.id, opcode: "OP_TAGS_SET", target: `node ${NODE}`, status: "success" }],
      },
    );
    assert.ok(Math.abs(record.time - Date.now() / 1000) < 60);
  });

  it("writes a job's final status into its record when the job ends, failures included", async () => {
    const id = await submit(c.port, "POST", "/2/instances", createBody("audfail", { osparams: { fail_create: "yes" }, disks: [{ size: 16 }], ignore_ipolicy: true }));
    assert.equal((await waitJob(c.port, id, 60_000)).status, "error");
    // The job's end reaches its record when the queue tells its followers, which may come just
    // after a poll of the job saw it: the record says "null" (running) until then.
    let [record] = await audit(`?object=audfail.${DOMAIN}`);
    for (let tries = 0; record?.jobs[0]?.status === null && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      [record] = await audit(`?object=audfail.${DOMAIN}`);
    }
    assert.deepEqual([record.method, record.route, record.kind, record.status], ["POST", "/2/instances", "instance", 200]);
    assert.deepEqual(record.jobs, [{ id, opcode: "OP_INSTANCE_CREATE", target: `instance audfail.${DOMAIN}`, status: "error" }]);
  });

  it("records refused writes as failed attempts, and submits nothing for them", async () => {
    const refused = await call(c.port, "PUT", `/2/nodes/${NODE}/tags?tag=nope`, { user: "reader" });
    assert.equal(refused.status, 403);
    const wrong = await call(c.port, "PUT", `/2/nodes/${NODE}/tags?tag=nope`, { user: { name: "writer", password: WRONG_PASSWORD } });
    assert.equal(wrong.status, 401);
    const [unauthenticated, forbidden] = await audit("?limit=2");
    assert.deepEqual([forbidden.user, forbidden.status, forbidden.jobs], ["reader", 403, []]);
    assert.deepEqual([unauthenticated.user, unauthenticated.status, unauthenticated.jobs, unauthenticated.object], [null, 401, [], NODE]);
  });

  it("records web console logins, failed ones included", async () => {
    const bad = await call(c.port, "POST", "/ui/api/session", { body: { username: "writer", password: WRONG_PASSWORD } });
    assert.equal(bad.status, 401);
    const good = await call(c.port, "POST", "/ui/api/session", { body: { username: "writer", password: USERS.writer } });
    assert.equal(good.status, 200);
    const [login, failed] = await audit("?limit=2&user=writer");
    assert.deepEqual([login.action, login.status, login.route, login.method], ["login", 200, "/ui/api/session", "POST"]);
    assert.deepEqual([failed.action, failed.status], ["login failed", 401]);
  });

  it("filters by user, object, kind and time, newest first, bounded by limit", async () => {
    await run(c.port, "PUT", `/2/tags?tag=by-admin`, undefined, "admin");
    const all = await audit("?limit=1000");
    assert.ok(all.length >= 6);
    assert.deepEqual(all.map((r) => r.id), all.map((r) => r.id).sort((a, b) => b - a), "newest first");
    assert.ok((await audit("?user=reader")).every((r) => r.user === "reader"));
    const byAdmin = await audit("?user=admin");
    assert.deepEqual(byAdmin.map((r) => [r.kind, r.jobs[0]?.opcode]), [["cluster", "OP_TAGS_SET"]]);
    const nodeRecords = await audit(`?kind=node&object=${NODE}`);
    assert.ok(nodeRecords.length >= 3 && nodeRecords.every((r) => r.kind === "node" && r.object === NODE));
    assert.equal((await audit("?limit=2")).length, 2);
    const newest = all[0].time;
    assert.deepEqual(await audit(`?since=${Math.floor(newest) + 2}`), []);
    assert.deepEqual(await audit(`?until=${Math.floor(all[all.length - 1].time) - 1}`), []);
    assert.equal((await audit(`?since=${Math.floor(all[all.length - 1].time)}&limit=1000`)).length, all.length);
  });

  it("answers bad filters 400 in Ganeti's error format", async () => {
    for (const query of ["?limit=0", "?limit=1001", "?limit=ten", "?since=yesterday", "?kind=planet", "?users=writer", "?since=20&until=10", "?user=a&user=b"]) {
      const r = await call(c.port, "GET", `/corral/1/audit${query}`, { user: "writer" });
      assert.equal(r.status, 400, query);
      const body = r.json as { code: number; message: string; explain: string };
      assert.deepEqual([body.code, typeof body.message, typeof body.explain], [400, "string", "string"], query);
    }
  });

  it("is for write users only", async () => {
    assert.equal((await call(c.port, "GET", "/corral/1/audit", { user: "reader" })).status, 403);
    assert.equal((await call(c.port, "GET", "/corral/1/audit")).status, 401);
    assert.equal((await call(c.port, "GET", "/corral/1/audit", { user: "writer" })).status, 200);
  });

  it("keeps every secret out of the log and the records", async () => {
    // Every user's password in an Authorization header, a wrong one, a login body, and an
    // instance created with a secret OS parameter.
    for (const user of ["reader", "writer", "admin", "nobody"] as const) await call(c.port, "PUT", "/2/tags?tag=secrets", { user });
    await call(c.port, "GET", "/2/info", { user: { name: "admin", password: WRONG_PASSWORD } });
    await call(c.port, "POST", "/ui/api/session", { body: { username: "admin", password: USERS.admin } });
    const job = await run(c.port, "POST", "/2/instances", createBody("audsecret", {
      disks: [{ size: 16 }], ignore_ipolicy: true, start: false, osparams_secret: { marker_text: OS_SECRET },
    }));
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    const records = JSON.stringify(await audit("?limit=1000"));
    assert.ok(logLines.some((l) => l.includes("OP_INSTANCE_CREATE")) && records.includes("audsecret"), "the log and the trail saw the operations");
    for (const line of logLines) JSON.parse(line);
    const secrets = [...Object.values(USERS), WRONG_PASSWORD, OS_SECRET, ...Object.entries(USERS).map(([u, p]) => Buffer.from(`${u}:${p}`).toString("base64"))];
    for (const secret of secrets) {
      assert.deepEqual(logLines.filter((l) => l.includes(secret)), [], `${secret} in the log`);
      assert.ok(!records.includes(secret), `${secret} in the audit trail`);
    }
  });
});

describe("the audit trail of the PVC API", () => {
  const TOKEN = PVC_TOKENS.audit;
  let m: PvcTestMaster;
  const logLines: string[] = [];
  before(async () => {
    m = await startPvcMaster({ enabled: true, tokens: [TOKEN] }, { log: jsonLog({ write: (chunk: string) => void logLines.push(...chunk.trimEnd().split("\n")) }) });
  });
  after(() => m?.close());

  it("records its writes, refused ones included, with how the client proved itself; the token is in no log line", async () => {
    const refused = await m.pvc.call("POST", "/vm", { form: { xml: domainXml("pvcaud", "6f1c8e4a-0000-4000-8000-000000000001"), node: NODE } });
    assert.equal(refused.status, 401);
    const created = await m.pvc.call("POST", "/vm", { form: { xml: domainXml("pvcaud", "6f1c8e4a-0000-4000-8000-000000000001"), node: NODE }, headers: { "X-Api-Key": TOKEN } });
    assert.equal(created.status, 200, created.text);
    const r = await call(m.master.port, "GET", "/corral/1/audit?limit=2", { user: "admin" });
    const [ok, failed] = r.json as AuditRecord[];
    assert.deepEqual([failed.route, failed.user, failed.status, failed.jobs], ["/api/v1/vm", null, 401, []]);
    assert.deepEqual([ok.route, ok.method, ok.user, ok.status], ["/api/v1/vm", "POST", "pvc:api-key", 200]);
    // The define opcode names its VM only inside the XML: no target, no object.
    assert.deepEqual(ok.jobs.map((j) => [j.opcode, j.target, j.status]), [["OP_PVC_VM_DEFINE", null, "success"]]);
    assert.ok(logLines.some((l) => l.includes("/api/v1/vm")));
    assert.deepEqual(logLines.filter((l) => l.includes(TOKEN)), []);
  });
});

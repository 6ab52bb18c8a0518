// A standby master forwards writes and job waits to the leader (issue 17): a real leader (a
// Corral master in SQLite mode, over TLS) and a second master whose LeaderLocator says "not
// leading, the leader is that one". Writes through the standby become jobs on the leader (the
// official Python client included), reads are answered from the standby's own copy, the
// leader authenticates and audits, and each fault answers as forward.ts says.

import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import type { AuditRecord } from "../../src/api/http/audit.ts";
import { FORWARD_RETRY_MS, type LeaderInfo } from "../../src/api/http/forward.ts";
import { call, startTestMaster, type CallOptions, type Reply, type TestMaster } from "../support/cluster.ts";
import { closedPort, TestLocator } from "../support/leader.ts";
import { officialClient, runPython } from "../support/python.ts";

/** The certificate of a master's generated rapi.pem (which holds its key first). */
function certOf(t: TestMaster): string {
  const pem = readFileSync(join(t.dataDir, "rapi.pem"), "utf8");
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem);
  if (!m) throw new Error("no certificate in rapi.pem");
  return m[0];
}

describe("a standby master forwarding to the leader", () => {
  let leader: TestMaster;
  let standby: TestMaster;
  const locator = new TestLocator();
  let leaderInfo: LeaderInfo;
  const standbyLog: string[] = [];

  before(async () => {
    leader = await startTestMaster({ ssl: true, nodeName: "localhost" });
    standby = await startTestMaster({ ssl: true, nodeName: "localhost", leader: locator, log: (line) => void standbyLog.push(line) });
    leaderInfo = { name: "leader.corral.test", url: `https://127.0.0.1:${leader.master.port}`, certPem: certOf(leader) };
    locator.current = leaderInfo;
  });
  after(async () => {
    await standby?.close();
    await leader?.close();
  });

  const viaStandby = (method: string, path: string, o: CallOptions = {}): Promise<Reply> => call(standby.master.port, method, path, o, true);
  const onLeader = (method: string, path: string, o: CallOptions = {}): Promise<Reply> => call(leader.master.port, method, path, o, true);

  /** A job of the leader (or of `ask`'s master), once finalized. */
  async function leaderJob(id: number, ask = onLeader): Promise<Record<string, unknown>> {
    for (let i = 0; i < 500; i++) {
      const job = (await ask("GET", `/2/jobs/${id}`)).json as Record<string, unknown>;
      if (["success", "error", "canceled"].includes(job.status as string)) return job;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`leader job ${id} did not finish`);
  }

  /** The leader's newest audit record of `method` on `route` (the trail is written just after the answer). */
  async function leaderAudit(method: string, route: string, status: number): Promise<AuditRecord> {
    for (let i = 0; i < 100; i++) {
      const records = (await onLeader("GET", "/corral/1/audit?limit=50", { user: "admin" })).json as AuditRecord[];
      const found = records.find((r) => r.method === method && r.route === route && r.status === status);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no audit record of ${method} ${route} answered ${status} on the leader`);
  }

  function assertGanetiError(r: Reply, code: number, message: RegExp): void {
    assert.equal(r.status, code, r.text);
    const body = r.json as { code: number; message: string; explain: string };
    assert.equal(body.code, code);
    assert.match(body.message, message);
    assert.equal(typeof body.explain, "string");
  }

  officialClient().test("the official Python client submits a tag job and follows it (WaitForJobChange) through the standby", async () => {
    const r = await runPython("rapi_forward.py", ["localhost", String(standby.master.port), "writer", "writerpass", join(standby.dataDir, "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    const out = JSON.parse(r.out.trim().split("\n").at(-1)!) as { job: number; status: string; standby_tags: string[] };
    assert.equal(out.status, "success");
    // The job is the leader's, and so is the tag; the standby's own copy never saw either.
    assert.equal((await leaderJob(out.job)).status, "success");
    assert.ok(((await onLeader("GET", "/2/tags")).json as string[]).includes("forwarded-by-standby"));
    assert.ok(!out.standby_tags.includes("forwarded-by-standby"), "GetClusterTags was answered by the standby");
    // The leader authenticated and audited it, with the client's address as a claim beside its real peer.
    const record = await leaderAudit("PUT", "/2/tags", 200);
    assert.equal(record.user, "writer");
    assert.match(record.source, /^127\.0\.0\.1 \(forwarded for 127\.0\.0\.1, as claimed\)$/);
  });

  it("POST, PUT and DELETE through the standby are jobs of the leader; reads are the standby's own", async () => {
    const created = await viaStandby("POST", "/2/groups", { user: "writer", body: { group_name: "forwarded-group" } });
    assert.equal(created.status, 200, created.text);
    assert.equal((await leaderJob(created.json as number)).status, "success");
    const put = await viaStandby("PUT", "/2/tags?tag=fwd-put", { user: "writer" });
    assert.equal(put.status, 200, put.text);
    assert.equal((await leaderJob(put.json as number)).status, "success");
    assert.ok(((await onLeader("GET", "/2/tags")).json as string[]).includes("fwd-put"));
    const deleted = await viaStandby("DELETE", "/2/tags?tag=fwd-put", { user: "writer" });
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal((await leaderJob(deleted.json as number)).status, "success");
    assert.ok(!((await onLeader("GET", "/2/tags")).json as string[]).includes("fwd-put"));

    const groupNames = (r: Reply) => (r.json as { name: string }[]).map((g) => g.name);
    assert.ok(groupNames(await onLeader("GET", "/2/groups")).includes("forwarded-group"));
    assert.ok(!groupNames(await viaStandby("GET", "/2/groups")).includes("forwarded-group"), "a read went to the leader");
    // The leader's job is unknown to the standby's copy: GET /2/jobs/N was not forwarded.
    assert.equal(((await viaStandby("GET", `/2/jobs/${created.json as number}`)).json as { status: unknown }).status, null);
  });

  it("the leader judges the credentials: a wrong password is its 401, a reader's write its 403", async () => {
    const wrong = await viaStandby("PUT", "/2/tags?tag=never", { user: { name: "writer", password: "wrong" } });
    assertGanetiError(wrong, 401, /Unauthorized/);
    assert.equal(wrong.headers["www-authenticate"], 'Basic realm="Ganeti Remote API"');
    assert.match((await leaderAudit("PUT", "/2/tags", 401)).source, /forwarded for 127\.0\.0\.1/);
    assertGanetiError(await viaStandby("PUT", "/2/tags?tag=never", { user: "reader" }), 403, /Forbidden/);
    assert.ok(!((await onLeader("GET", "/2/tags")).json as string[]).includes("never"));
  });

  it("the client's own Forwarded header is replaced, and bad bodies get the leader's answers", async () => {
    const forged = await viaStandby("PUT", "/2/tags?tag=forged", { user: "writer", headers: { Forwarded: 'for="6.6.6.6"', "X-Forwarded-For": "6.6.6.6" } });
    assert.equal(forged.status, 200, forged.text);
    await leaderJob(forged.json as number);
    const records = (await onLeader("GET", "/corral/1/audit?limit=50", { user: "admin" })).json as AuditRecord[];
    assert.ok(records.every((r) => !r.source.includes("6.6.6.6")), JSON.stringify(records.map((r) => r.source)));

    assertGanetiError(await viaStandby("POST", "/2/groups", { user: "writer", rawBody: "{not json" }), 400, /Unable to parse JSON data/);
    const large = await viaStandby("POST", "/2/groups", { user: "writer", rawBody: JSON.stringify({ group_name: "x".repeat(2 * 1024 * 1024) }) });
    assertGanetiError(large, 413, /larger than the 1048576 bytes/);
    assertGanetiError(await viaStandby("POST", "/2/groups", { user: "writer", rawBody: "{}", contentType: "text/plain" }), 415, /Unsupported Media Type/);
    // The standby is still there.
    assert.equal((await viaStandby("GET", "/2/info")).status, 200);
  });

  it("a client that stops sending its body gets the leader's 408, and its connection is closed", async () => {
    const socket = tlsConnect({ host: "127.0.0.1", port: standby.master.port, rejectUnauthorized: false });
    await once(socket, "secureConnect");
    const authorization = Buffer.from("writer:writerpass").toString("base64");
    socket.write(`POST /2/groups HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ${authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"group_na`);
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    const started = Date.now();
    await once(socket, "close");
    const text = Buffer.concat(chunks).toString("utf8");
    assert.match(text, /^HTTP\/1\.1 408 /, text);
    assert.match(text, /Request body not received within 10 s/);
    assert.match(text, /connection: close/i);
    assert.ok(Date.now() - started < 20_000);
  });

  it("no leader known: 503 with Retry-After, once the bounded wait is over", async () => {
    locator.current = undefined;
    try {
      const started = Date.now();
      const r = await viaStandby("PUT", "/2/tags?tag=no-leader", { user: "writer" });
      const took = Date.now() - started;
      assertGanetiError(r, 503, /does not lead.*no leader is known/);
      assert.equal(r.headers["retry-after"], "5");
      assert.ok(took >= FORWARD_RETRY_MS - 300 && took < FORWARD_RETRY_MS + 1500, `answered after ${took} ms`);
      // The standby logs the failure by route, never the query, the credentials or the body.
      const lines = standbyLog.filter((l) => l.startsWith("forwarding PUT /2/tags: This master does not lead"));
      assert.equal(lines.length, 1, standbyLog.join("\n"));
      const authorization = Buffer.from("writer:writerpass").toString("base64");
      assert.ok(standbyLog.every((l) => !l.includes("no-leader") && !l.includes("writerpass") && !l.includes(authorization)), standbyLog.join("\n"));
    } finally {
      locator.current = leaderInfo;
    }
  });

  it("a leader that refuses the connection: retried until the locator names one that takes it, else 503 within the bound", async () => {
    const down: LeaderInfo = { name: "gone.corral.test", url: `https://127.0.0.1:${await closedPort()}`, certPem: leaderInfo.certPem };
    locator.current = down;
    try {
      const started = Date.now();
      const r = await viaStandby("PUT", "/2/tags?tag=leader-down", { user: "writer" });
      const took = Date.now() - started;
      assertGanetiError(r, 503, /the leader gone\.corral\.test did not take the connection \(connect ECONNREFUSED/);
      assert.equal(r.headers["retry-after"], "5");
      assert.ok(took >= FORWARD_RETRY_MS - 300 && took < FORWARD_RETRY_MS + 1500, `answered after ${took} ms`);

      // A new leader named within the bound takes the request that was waiting.
      const switched = setTimeout(() => (locator.current = leaderInfo), 1_000);
      const retried = await viaStandby("PUT", "/2/tags?tag=new-leader", { user: "writer" });
      clearTimeout(switched);
      assert.equal(retried.status, 200, retried.text);
      assert.equal((await leaderJob(retried.json as number)).status, "success");
      assert.ok(((await onLeader("GET", "/2/tags")).json as string[]).includes("new-leader"));
    } finally {
      locator.current = leaderInfo;
    }
  });

  it("a leader whose certificate is not the pinned one is refused before anything is sent", async () => {
    locator.current = { ...leaderInfo, certPem: certOf(standby) };
    try {
      const jobsBefore = ((await onLeader("GET", "/2/jobs")).json as unknown[]).length;
      const started = Date.now();
      const r = await viaStandby("PUT", "/2/tags?tag=wrong-cert", { user: "writer" });
      assertGanetiError(r, 502, /presented a certificate .* not the one the store names/);
      assert.ok(Date.now() - started < 1_000, "not retried");
      assert.equal(((await onLeader("GET", "/2/jobs")).json as unknown[]).length, jobsBefore);
    } finally {
      locator.current = leaderInfo;
    }
  });

  it("a leader that drops the connection after the request was sent: 502, and the write is not sent again", async () => {
    let connections = 0;
    const dropping: NetServer = createNetServer((socket) => {
      connections++;
      socket.once("data", () => socket.destroy());
    });
    await new Promise<void>((resolve) => dropping.listen(0, "127.0.0.1", resolve));
    locator.current = { name: "dropping.corral.test", url: `http://127.0.0.1:${(dropping.address() as { port: number }).port}` };
    try {
      const r = await viaStandby("PUT", "/2/tags?tag=dropped", { user: "writer" });
      assertGanetiError(r, 502, /failed before answering .* may have been carried out .* not retried/);
      assert.equal(connections, 1);
    } finally {
      locator.current = leaderInfo;
      await new Promise<void>((resolve) => dropping.close(() => resolve()));
    }
  });

  it("a request another master forwarded is not forwarded again (two masters that each name the other)", async () => {
    // The standby names itself as the leader: the forwarded request comes back to it and is answered there.
    locator.current = { name: "standby", url: `https://127.0.0.1:${standby.master.port}`, certPem: certOf(standby) };
    try {
      const r = await viaStandby("PUT", "/2/tags?tag=one-hop", { user: "writer" });
      assert.equal(r.status, 200, r.text);
      assert.equal((await leaderJob(r.json as number, viaStandby)).status, "success");
      assert.ok(((await viaStandby("GET", "/2/tags")).json as string[]).includes("one-hop"));
    } finally {
      locator.current = leaderInfo;
    }
  });

  it("a master that leads serves its writes itself", async () => {
    locator.leading = true;
    try {
      const r = await viaStandby("PUT", "/2/tags?tag=served-here", { user: "writer" });
      assert.equal(r.status, 200, r.text);
      assert.equal((await leaderJob(r.json as number, viaStandby)).status, "success");
      assert.ok(((await viaStandby("GET", "/2/tags")).json as string[]).includes("served-here"));
      assert.ok(!((await onLeader("GET", "/2/tags")).json as string[]).includes("served-here"));
    } finally {
      locator.leading = false;
    }
  });
});

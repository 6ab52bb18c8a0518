// The attacks that once took the master down (issue 9), as regression tests against a master
// process on loopback: a backtracking regex from a read-only user, slow-body and slow-header
// clients, deeply nested JSON, parallel large anonymous bodies; and the small findings (TLS
// suites, transfer codings, duplicate Host).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { call, startTestMaster, USERS, usersFileText, type UserName } from "../support/cluster.ts";
import { killProcess, rssMiB, startMasterProcess, type MasterProcess } from "../support/process.ts";

const basic = (user: UserName) => "Basic " + Buffer.from(`${user}:${USERS[user]}`).toString("base64");

/** Milliseconds a request takes, answer included. */
async function timed(port: number, method: string, path: string, user?: UserName): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const r = await call(port, method, path, { user });
  return { ms: performance.now() - t0, status: r.status };
}

/** A raw connection that sent `head` and then trickles one byte a second until destroyed. */
function trickler(port: number, head: string): Socket {
  const socket = netConnect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  socket.setNoDelay(true);
  socket.write(head);
  const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write("x")), 1000);
  socket.on("close", () => clearInterval(timer));
  return socket;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Sends raw bytes and resolves with the status line's code and body, or the socket error. */
function rawRequest(port: number, bytes: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (c: Buffer) => (data += c.toString("latin1")));
    socket.on("error", (e) => resolve({ error: e.message }));
    socket.on("close", () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve(m ? { status: Number(m[1]), body: data.slice(data.indexOf("\r\n\r\n") + 4) } : { error: `no answer: ${JSON.stringify(data.slice(0, 80))}` });
    });
    socket.setTimeout(10_000, () => socket.destroy());
    socket.write(bytes);
    // The server closes after these answers; end our side too once written.
    setTimeout(() => socket.end(), 500);
  });
}

describe("hostile clients against a master process", () => {
  let dir: string;
  let m: MasterProcess;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "corral-attacks-"));
    writeFileSync(join(dir, "users"), usersFileText());
    m = await startMasterProcess(join(dir, "data"), join(dir, "users"));
  });
  after(async () => {
    await killProcess(m.proc);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a backtracking regex from a read-only user answers within 1 s while /version stays under 100 ms", async (t) => {
    const evil = { fields: ["name"], qfilter: ["=~", "uuid", "^.{8}(([0-9a-f]|-)+)+Z$"] };
    // Warm the route with a harmless pattern: what is measured is the pattern's cost, not a cold start.
    await call(m.port, "PUT", "/2/query/node", { user: "reader", body: { fields: ["name"], qfilter: ["=~", "uuid", "^x"] } });
    const t0 = performance.now();
    const query = call(m.port, "PUT", "/2/query/node", { user: "reader", body: evil });
    await new Promise((r) => setTimeout(r, 5));
    const version = await timed(m.port, "GET", "/version");
    const answer = await query;
    const queryMs = performance.now() - t0;
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual((answer.json as { data: unknown[] }).data, []);
    t.diagnostic(`query ${queryMs.toFixed(1)} ms, /version meanwhile ${version.ms.toFixed(1)} ms`);
    assert.ok(queryMs < 1000, `query took ${queryMs.toFixed(0)} ms`);
    assert.ok(version.ms < 100, `/version took ${version.ms.toFixed(0)} ms meanwhile`);

    // Patterns RE2 cannot run in linear time are refused, saying why.
    const lookahead = await call(m.port, "PUT", "/2/query/node", { user: "reader", body: { fields: ["name"], qfilter: ["=~", "name", "(?=a)b"] } });
    assert.ok(lookahead.status >= 400 && lookahead.status < 500, `${lookahead.status} ${lookahead.text}`);
    assert.match(lookahead.text, /RE2/);
  });

  it("1,000 slow-body and slow-header clients leave fresh clients under 100 ms at p99", async (t) => {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 400; i++) {
        sockets.push(trickler(m.port, "GET /version HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"));
      }
      for (let i = 0; i < 400; i++) {
        sockets.push(trickler(m.port, `PUT /2/tags?tag=slow HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic("writer")}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`));
      }
      for (let i = 0; i < 200; i++) sockets.push(trickler(m.port, "GET /2/info HTTP/1.1\r\nHost: x\r\n"));
      await new Promise((r) => setTimeout(r, 1500));

      const times: number[] = [];
      for (let round = 0; round < 20; round++) {
        const batch = await Promise.all([
          ...Array.from({ length: 5 }, () => timed(m.port, "GET", "/version")),
          ...Array.from({ length: 5 }, () => timed(m.port, "GET", "/2/info", "writer")),
        ]);
        for (const t of batch) {
          assert.equal(t.status, 200);
          times.push(t.ms);
        }
      }
      const p99 = percentile(times, 99);
      t.diagnostic(`fresh requests: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
      assert.ok(p99 < 100, `p99 ${p99.toFixed(1)} ms over ${times.length} fresh requests`);
    } finally {
      for (const s of sockets) s.destroy();
    }
    // The trickled PUTs never completed: no job was submitted for them.
    const tags = (await call(m.port, "GET", "/2/tags")).json as string[];
    assert.ok(!tags.includes("slow"));
  });

  it("JSON nested 5,000 levels deep gets 400 and the master lives", async () => {
    const deep = "[".repeat(5000) + "]".repeat(5000);
    const modify = await call(m.port, "PUT", "/2/modify?dry-run=1", { user: "writer", rawBody: `{"hvparams": ${deep}}` });
    assert.equal(modify.status, 400, modify.text);
    assert.match((modify.json as { message: string }).message, /nested deeper than 64 levels/);
    const filter = '["!", '.repeat(5000) + '["=", "name", "x"]' + "]".repeat(5000);
    const query = await call(m.port, "PUT", "/2/query/node", { user: "reader", rawBody: `{"fields": ["name"], "qfilter": ${filter}}` });
    assert.equal(query.status, 400, query.text);
    assert.equal((await call(m.port, "GET", "/version")).status, 200);
  });

  it("100 parallel 10 MB anonymous bodies leave RSS under 300 MiB; a body over the limit gets 413 in Ganeti's format", async (t) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let peak = rssMiB(m.proc.pid!);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(m.proc.pid!))), 20);
    try {
      await Promise.all(
        Array.from({ length: 100 }, () => new Promise<void>((resolve) => {
          const s = netConnect(m.port, "127.0.0.1");
          s.on("error", () => resolve());
          s.on("close", () => resolve());
          s.write(`GET /version HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * chunk.length}\r\n\r\n`);
          for (let i = 0; i < 10; i++) s.write(chunk);
          s.end();
        })),
      );
    } finally {
      clearInterval(sampler);
    }
    t.diagnostic(`peak RSS ${peak.toFixed(0)} MiB`);
    assert.ok(peak < 300, `peak RSS ${peak.toFixed(0)} MiB`);

    // The length is refused from the headers, before any of the body is read.
    const tooLarge = await rawRequest(m.port, `PUT /2/tags?tag=big HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic("writer")}\r\nContent-Type: application/json\r\nContent-Length: ${11 * 1024 * 1024}\r\n\r\n{"a":`);
    assert.ok("status" in tooLarge, JSON.stringify(tooLarge));
    assert.equal(tooLarge.status, 413);
    assert.deepEqual(Object.keys(JSON.parse(tooLarge.body) as object), ["code", "message", "explain"]);
  });

  it("refuses transfer codings other than chunked (501) and a second Host header (400)", async () => {
    const gzip = await rawRequest(m.port, `PUT /2/tags?tag=te HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic("writer")}\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`);
    assert.ok("status" in gzip && gzip.status === 501, JSON.stringify(gzip));
    const twoHosts = await rawRequest(m.port, "GET /version HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert.ok("status" in twoHosts && twoHosts.status === 400, JSON.stringify(twoHosts));
    assert.ok(!((await call(m.port, "GET", "/2/tags")).json as string[]).includes("te"));
  });
});

describe("TLS", () => {
  it("offers only forward-secret AEAD suites: a CBC-SHA1 client is refused, a GCM one served", async () => {
    const t = await startTestMaster({ ssl: true });
    try {
      const port = t.master.port;
      const handshake = (ciphers: string) =>
        new Promise<string>((resolve) => {
          const s = tlsConnect({ host: "127.0.0.1", port, ciphers, maxVersion: "TLSv1.2", rejectUnauthorized: false }, () => {
            const name = s.getCipher().name;
            s.destroy();
            resolve(name);
          });
          s.on("error", (e) => resolve(`refused: ${e.message}`));
        });
      assert.match(await handshake("ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:AES256-SHA"), /^refused/);
      assert.match(await handshake("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"), /GCM/);
    } finally {
      await t.close();
    }
  });
});

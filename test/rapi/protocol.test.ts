// The HTTP protocol rules of Ganeti's RAPI (PROTOCOL.md), pinned against a running master.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { call, suiteMaster } from "../support/cluster.ts";

const ERR = {
  400: "Bad request syntax or unsupported method",
  401: "No permission -- see authorization schemes",
  403: "Request forbidden -- authorization will not help",
  404: "Nothing matches the given URI",
  415: "Entity body in unsupported format",
  501: "Server does not support this operation",
};

describe("RAPI protocol", () => {
  const m = suiteMaster();

  it("answers bare JSON scalars with a trailing newline", async () => {
    for (const [path, text] of [["/version", "2\n"], ["/", "null\n"], ["/2", "null\n"]]) {
      const r = await call(m.port, "GET", path);
      assert.equal(r.status, 200);
      assert.equal(r.text, text);
      assert.equal(r.headers["content-type"], "application/json");
    }
  });

  it("lists the four features", async () => {
    const r = await call(m.port, "GET", "/2/features");
    assert.deepEqual(new Set(r.json as string[]), new Set(["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1", "node-evac-res1"]));
  });

  it("404s unknown paths with the body clients match, routing on the raw path", async () => {
    for (const path of ["/2/doesnotexist", "/3", "/version/", "/2/", "/2/jobs/abc", "/2/instances/inst%2D1/tags"]) {
      const r = await call(m.port, "GET", path);
      assert.equal(r.status, 404, path);
      assert.deepEqual(r.json, { code: 404, message: "Not Found", explain: ERR[404] });
    }
  });

  it("501s an unsupported method on a known path, query string included in the message", async () => {
    let r = await call(m.port, "DELETE", "/2/info", { user: "writer" });
    assert.deepEqual(r.json, { code: 501, message: "Method DELETE is unsupported for path /2/info", explain: ERR[501] });
    r = await call(m.port, "PATCH", "/2/info?x=1", { user: "writer", body: {} });
    assert.equal(r.status, 501);
    assert.equal((r.json as { message: string }).message, "Method PATCH is unsupported for path /2/info?x=1");
    r = await call(m.port, "HEAD", "/version");
    assert.equal(r.status, 501);
    assert.equal(r.text, "");
  });

  it("routes before authenticating: a bad method answers 501 even without credentials", async () => {
    const r = await call(m.port, "POST", "/version");
    assert.equal(r.status, 501);
  });

  it("401s a write without credentials, with the Ganeti realm", async () => {
    const r = await call(m.port, "PUT", "/2/tags?tag=x");
    assert.equal(r.status, 401);
    assert.equal(r.headers["www-authenticate"], 'Basic realm="Ganeti Remote API"');
    assert.deepEqual(r.json, { code: 401, message: "Unauthorized", explain: ERR[401] });
  });

  it("checks credentials even on public resources", async () => {
    const r = await call(m.port, "GET", "/2/info", { user: { name: "writer", password: "wrong" } });
    assert.equal(r.status, 401);
  });

  it("401s unknown users, malformed and non-Basic Authorization headers", async () => {
    const cases = [
      { user: { name: "ghost", password: "ghost" } },
      { headers: { Authorization: "Basic !!!notbase64" } },
      { headers: { Authorization: "Basic " + Buffer.from("nocolon").toString("base64") } },
      { headers: { Authorization: 'Digest username="writer"' } },
    ];
    for (const c of cases) {
      const r = await call(m.port, "PUT", "/2/tags?tag=x", c);
      assert.equal(r.status, 401, JSON.stringify(c));
      assert.equal(r.headers["www-authenticate"], 'Basic realm="Ganeti Remote API"');
    }
  });

  it("400s Basic without credentials", async () => {
    const r = await call(m.port, "PUT", "/2/tags?tag=x", { headers: { Authorization: "Basic" } });
    assert.equal(r.status, 400);
    assert.equal((r.json as { message: string }).message, "Basic authentication requires credentials");
  });

  it("403s users without the option a route needs, without a challenge", async () => {
    for (const user of ["reader", "nobody"] as const) {
      const r = await call(m.port, "PUT", "/2/tags?tag=x", { user });
      assert.equal(r.status, 403);
      assert.equal(r.headers["www-authenticate"], undefined);
      assert.deepEqual(r.json, { code: 403, message: "Forbidden", explain: ERR[403] });
    }
    const r = await call(m.port, "GET", "/2/jobs/1/wait", { user: "reader", body: { fields: ["status"] } });
    assert.equal(r.status, 403);
  });

  it("accepts cleartext, {CLEARTEXT} and {HA1} passwords", async () => {
    for (const user of ["writer", "admin"] as const) {
      const r = await call(m.port, "PUT", "/2/tags?tag=ok", { user });
      assert.equal(r.status, 200, user);
      assert.equal(typeof r.json, "number");
    }
    const r = await call(m.port, "GET", "/2/info", { user: "reader" });
    assert.equal(r.status, 200);
  });

  it("415s a body that is not exactly application/json, after auth", async () => {
    for (const contentType of ["text/plain", null, "application/json; charset=utf-8"]) {
      const r = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", rawBody: "{}", contentType });
      assert.equal(r.status, 415, String(contentType));
      assert.deepEqual(r.json, { code: 415, message: "Unsupported Media Type", explain: ERR[415] });
    }
    const upper = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", rawBody: "{}", contentType: "APPLICATION/JSON" });
    assert.equal(upper.status, 200);
    const anon = await call(m.port, "PUT", "/2/redistribute-config", { rawBody: "{}", contentType: "text/plain" });
    assert.equal(anon.status, 401);
  });

  it("400s a body that is not JSON", async () => {
    const r = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", rawBody: "{not json" });
    assert.deepEqual(r.json, { code: 400, message: "Unable to parse JSON data", explain: ERR[400] });
  });

  it("parses booleans with int() and drops blank query values", async () => {
    let r = await call(m.port, "GET", "/2/jobs?bulk=yes");
    assert.equal(r.status, 400);
    assert.equal((r.json as { message: string }).message, "Invalid value for the &#x27;bulk&#x27; parameter");
    r = await call(m.port, "GET", "/2/jobs?bulk=true");
    assert.equal(r.status, 400);
    for (const q of ["bulk=", "bulk", "bulk=0"]) {
      r = await call(m.port, "GET", `/2/jobs?${q}`);
      assert.equal(r.status, 200, q);
      for (const j of r.json as Record<string, unknown>[]) assert.deepEqual(Object.keys(j), ["id", "uri"]);
    }
    for (const q of ["bulk=1", "bulk=%201%20", "bulk=-1", "bulk=+2"]) {
      r = await call(m.port, "GET", `/2/jobs?${q}`);
      assert.equal(r.status, 200, q);
    }
    r = await call(m.port, "PUT", "/2/tags?tag=x&dry-run=yes", { user: "writer" });
    assert.equal(r.status, 400);
    assert.equal((r.json as { message: string }).message, "Invalid value for the &#x27;dry-run&#x27; parameter");
  });

  it("rejects static parameters and unknown keys in opcode bodies", async () => {
    let r = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", body: { reason: [] } });
    assert.equal(r.status, 400);
    assert.equal((r.json as { message: string }).message, "Can&#x27;t overwrite static parameters {&#x27;reason&#x27;}");
    r = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", body: { bogus: 1 } });
    assert.equal(
      (r.json as { message: string }).message,
      "Invalid body parameters: Object OpClusterRedistConf doesn&#x27;t support the parameter &#x27;bogus&#x27;",
    );
    r = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", body: { priority: "high" } });
    assert.equal(
      (r.json as { message: string }).message,
      "Invalid body parameters: (&quot;Parameter &#x27;OP_CLUSTER_REDIST_CONF.priority&#x27; fails validation&quot;, &#x27;wrong_input&#x27;)",
    );
    r = await call(m.port, "PUT", "/2/redistribute-config", { user: "writer", body: [1, 2] });
    assert.equal(
      (r.json as { message: string }).message,
      "Body contents: Type is &#x27;list&#x27;, but &#x27;dict&#x27; is expected",
    );
  });

  it("reloads the users file when it changes, without a restart", async () => {
    const before = await call(m.port, "PUT", "/2/tags?tag=x", { user: { name: "newbie", password: "pw1" } });
    assert.equal(before.status, 401);
    writeFileSync(m.t.usersFile, "# replaced\nnewbie {cleartext}pw1 read, write\n");
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await call(m.port, "PUT", "/2/tags?tag=x", { user: { name: "newbie", password: "pw1" } })).status;
    }
    assert.equal(status, 200);
    const gone = await call(m.port, "PUT", "/2/tags?tag=x", { user: "writer" });
    assert.equal(gone.status, 401);
  });
});

describe("RAPI with --require-authentication", () => {
  const m = suiteMaster({ requireAuthentication: true });

  it("401s anonymous requests before routing, even to unknown paths", async () => {
    for (const [method, path] of [["GET", "/version"], ["GET", "/"], ["GET", "/2/nope"], ["DELETE", "/2/info"]]) {
      const r = await call(m.port, method, path);
      assert.equal(r.status, 401, path);
    }
  });

  it("lets any valid user read, and routes before checking the password", async () => {
    assert.equal((await call(m.port, "GET", "/2/info", { user: "nobody" })).status, 200);
    assert.equal((await call(m.port, "GET", "/2/nope", { user: "reader" })).status, 404);
    assert.equal((await call(m.port, "GET", "/2/info", { user: { name: "reader", password: "bad" } })).status, 401);
    assert.equal((await call(m.port, "PUT", "/2/tags?tag=x", { user: "reader" })).status, 403);
  });
});

describe("RAPI over TLS", () => {
  const m = suiteMaster({ ssl: true });

  it("serves HTTPS with a generated certificate whose key file is private", async () => {
    const r = await call(m.port, "GET", "/version", {}, true);
    assert.equal(r.text, "2\n");
    const { statSync } = await import("node:fs");
    assert.equal(statSync(`${m.t.dataDir}/rapi.pem`).mode & 0o777, 0o600);
  });
});

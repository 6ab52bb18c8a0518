// PVC API authentication: X-Api-Key on any endpoint, session login/logout with a signed
// cookie, exact token comparison, and "Authentication is disabled" when it is off.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call } from "../support/cluster.ts";
import { PVC_TOKENS } from "../support/secrets.ts";
import { msg, startPvcMaster, type PvcTestMaster } from "./support.ts";

let on: PvcTestMaster;
let off: PvcTestMaster;
const TOKEN = PVC_TOKENS.auth;

before(async () => {
  on = await startPvcMaster({ enabled: true, tokens: [TOKEN, PVC_TOKENS.authSecond] });
  off = await startPvcMaster({ enabled: false });
});
after(async () => {
  await on.close();
  await off.close();
});

test("GET /api/v1 answers 209 with the API description, without credentials", async () => {
  for (const m of [on, off]) {
    const r = await m.pvc.get("");
    assert.equal(r.status, 209);
    assert.deepEqual(r.json, { message: "PVC API version 1" });
  }
});

test("with authentication on, a request without session or token gets 401 Authentication required", async () => {
  const r = await on.pvc.get("/node");
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { message: "Authentication required" });
});

test("X-Api-Key authenticates any endpoint; a wrong or partial token does not", async () => {
  const good = await on.pvc.call("GET", "/node", { headers: { "X-Api-Key": TOKEN } });
  assert.equal(good.status, 200);
  for (const bad of ["nope", TOKEN.slice(0, 8), `${TOKEN}x`, "second", ""]) {
    const r = await on.pvc.call("GET", "/node", { headers: { "X-Api-Key": bad } });
    assert.equal(r.status, 401, bad);
    assert.equal(msg(r), "X-Api-Key Authentication failed");
  }
});

test("login shows a form, a good token opens a signed session, logout ends it", async () => {
  const form = await on.pvc.get("/auth/login");
  assert.equal(form.status, 200);
  assert.match(String(form.headers["content-type"]), /text\/html/);
  assert.match(form.text, /<form method="post"/);
  assert.match(form.text, /name="token"/);

  const bad = await on.pvc.post("/auth/login", { token: TOKEN.slice(0, 10) });
  assert.equal(bad.status, 401);
  assert.equal(msg(bad), "Authentication failed");

  const login = await on.pvc.post("/auth/login", { token: TOKEN });
  assert.equal(login.status, 302);
  assert.equal(login.headers.location, "/api/v1");
  const setCookie = String(login.headers["set-cookie"]);
  assert.match(setCookie, /pvc_session=[^;]+; Path=\/; HttpOnly/);
  const cookie = setCookie.split(";")[0];

  const withSession = await on.pvc.call("GET", "/node", { headers: { Cookie: cookie } });
  assert.equal(withSession.status, 200);

  // A tampered cookie is no session.
  const tampered = cookie.slice(0, -2) + (cookie.endsWith("A") ? "BB" : "AA");
  assert.equal((await on.pvc.call("GET", "/node", { headers: { Cookie: tampered } })).status, 401);

  const logout = await on.pvc.call("POST", "/auth/logout", { headers: { Cookie: cookie } });
  assert.equal(logout.status, 302);
  assert.match(String(logout.headers["set-cookie"]), /pvc_session=; .*Max-Age=0/);
  // v0.6's paths lead to the same place.
  assert.equal((await on.pvc.post("/login", { token: TOKEN })).status, 302);
});

test("with authentication off, login and logout say so and everything is open", async () => {
  for (const [method, path] of [["GET", "/auth/login"], ["POST", "/auth/login"], ["GET", "/auth/logout"], ["POST", "/auth/logout"]]) {
    const r = await off.pvc.call(method, path);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { message: "Authentication is disabled" });
  }
  assert.equal((await off.pvc.get("/node")).status, 200);
});

test("unknown paths and methods answer JSON messages", async () => {
  const r = await off.pvc.get("/nothing-here");
  assert.equal(r.status, 404);
  assert.equal(typeof msg(r), "string");
  const m = await off.pvc.call("DELETE", "/node");
  assert.equal(m.status, 405);
  assert.match(msg(m), /not allowed/);
});

test("on the RAPI listener (pvcOnRapiListener): /api/v1 is PVC's, with its authentication; the rest stays RAPI's", async () => {
  const shared = await startPvcMaster({ enabled: true, tokens: [TOKEN] }, { pvcOnRapiListener: true });
  try {
    assert.equal(shared.pvcPort, shared.master.port);
    assert.equal((await shared.pvc.get("")).status, 209);
    assert.deepEqual((await shared.pvc.get("/node")).json, { message: "Authentication required" });
    assert.equal((await shared.pvc.call("GET", "/node", { headers: { "X-Api-Key": TOKEN } })).status, 200);
    const nowhere = await shared.pvc.get("/nowhere");
    assert.deepEqual([nowhere.status, nowhere.json], [404, { message: "The requested URL was not found on this server." }]);
    const version = await call(shared.master.port, "GET", "/version");
    assert.deepEqual([version.status, version.json], [200, 2]);
    assert.equal((await call(shared.master.port, "GET", "/2/nowhere")).status, 404);
  } finally {
    await shared.close();
  }
});

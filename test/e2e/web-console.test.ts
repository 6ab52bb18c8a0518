// The web console in a real browser (Debian's chromium through playwright-core) against a
// master with two nodes and the fake hypervisor: logging in, the cluster page, starting an
// instance and seeing it run without a reload, the jobs pages, a read-only user who finds no
// write controls and whose writes the master refuses, and the session's cookie and headers.
// The consoles of a real guest are in test/vm/web-console.test.ts.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { call, USERS } from "../support/cluster.ts";
import { browserNeeds, launchBrowser, logIn, newContext, screenshot } from "../support/browser.ts";
import { createBody, DOMAIN, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";

browserNeeds.describe("web console (chromium)", () => {
  let c: InstanceCluster;
  let browser: Browser;
  let base: string;
  const log: string[] = [];
  /** Waits (bounded) for a log line: audit lines are written with the next durable batch. */
  const logged = async (pattern: RegExp) => {
    for (let tries = 0; tries < 50 && !log.some((l) => pattern.test(l)); tries++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(log.some((l) => pattern.test(l)), `no log line matches ${pattern}:\n${log.join("\n")}`);
  };
  const web1 = `web1.${DOMAIN}`;

  before(async () => {
    c = await startInstanceCluster({ extraNodes: 1, master: { ssl: true, log: (line) => log.push(line) } });
    base = `https://127.0.0.1:${c.port}`;
    await ok("POST", "/2/instances", createBody("web1", { start: false, ip_check: false, name_check: false }));
    await ok("POST", "/2/instances", createBody("db1", { ip_check: false, name_check: false, pnode: `node2.${DOMAIN}` }));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await c?.close();
  });

  /** Submits as "writer" over TLS and waits for the job's success. */
  async function ok(method: string, path: string, body?: unknown): Promise<void> {
    const r = await call(c.port, method, path, { user: "writer", body }, true);
    assert.equal(r.status, 200, r.text);
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((res) => setTimeout(res, 50))) {
      const job = (await call(c.port, "GET", `/2/jobs/${String(r.json)}`, {}, true)).json as { status: string; opresult: unknown };
      if (job.status === "success") return;
      assert.ok(!["error", "canceled"].includes(job.status), `${method} ${path}: ${JSON.stringify(job.opresult)}`);
    }
    assert.fail(`${method} ${path}: job ${String(r.json)} did not finish`);
  }

  /** Every request the page makes, to check that no credential ever travels in a URL. */
  function watchUrls(page: Page): string[] {
    const urls: string[] = [];
    page.on("request", (r) => urls.push(r.url()));
    return urls;
  }

  test("a wrong password is refused on the login page; the page sets no cookie", async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${base}/ui/`);
    await screenshot(page, "login");
    await page.fill("#login input[name=username]", "writer");
    await page.fill("#login input[name=password]", "wrong");
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#login .error");
    assert.match(await page.textContent("#login .error") ?? "", /Wrong user name or password/);
    assert.deepEqual(await ctx.cookies(), []);
    await logged(/failed login as "writer"/);
    assert.ok(!log.some((l) => l.includes("wrong")), "no password in the log");
    await ctx.close();
  });

  test("a write user sees the cluster, starts an instance and watches it run without a reload", async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const urls = watchUrls(page);
    await logIn(page, base, "writer", USERS.writer);
    const cookie = (await ctx.cookies()).find((k) => k.name === "corral_session");
    assert.ok(cookie, "a session cookie");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, "Strict");

    await page.waitForSelector("#live.on");
    await page.waitForSelector(`#nodes tr[data-node="node2.${DOMAIN}"]`);
    assert.equal(await page.locator("#nodes tbody tr").count(), 2);
    assert.equal(await page.locator(`#nodes tr[data-node="node1.${DOMAIN}"] .role`).textContent(), "master");
    assert.equal(await page.locator(`#nodes tr[data-node="node2.${DOMAIN}"] .bar[data-label=memory]`).count(), 1);
    await page.waitForSelector(`#instances tr[data-instance="db1.${DOMAIN}"] [data-status=running]`);
    await page.waitForSelector(`#instances tr[data-instance="${web1}"] [data-status=ADMIN_down]`);
    assert.ok((await page.locator("#recent-jobs tbody tr").count()) >= 2);
    await screenshot(page, "cluster");

    // A mark on the window: it survives only if the page is never reloaded.
    await page.evaluate(() => Object.assign(globalThis, { corralMark: 1 }));
    await page.click(`#instances a[href="#/instances/${encodeURIComponent(web1)}"]`);
    await page.waitForSelector('#actions button[data-action="Start"]');
    await page.click('#actions button[data-action="Start"]');
    await page.waitForSelector("#job-status [data-status=success]", { timeout: 30_000 });
    await page.waitForSelector("h2 [data-status=running]", { timeout: 30_000 });
    assert.equal(await page.evaluate(() => (globalThis as { corralMark?: number }).corralMark), 1);
    await page.waitForSelector('#actions button[data-action="Shut down"]');
    await screenshot(page, "instance");

    // Another client's change arrives through the event stream too.
    await ok("PUT", `/2/instances/${web1}/tags?tag=from-elsewhere`);
    await page.locator("main", { hasText: "from-elsewhere" }).waitFor();

    await page.click('header a[href="#/jobs"]');
    await page.waitForSelector("#jobs tbody tr");
    await screenshot(page, "jobs");
    const startJob = await page.locator("#jobs tbody tr", { hasText: "INSTANCE_STARTUP" }).first().locator("a").textContent();
    await page.click(`#jobs a[href="#/jobs/${startJob}"]`);
    await page.waitForSelector("h2 [data-status=success]");
    assert.match(await page.textContent("main") ?? "", /OP_INSTANCE_STARTUP/);
    await screenshot(page, "job");

    for (const u of urls) assert.ok(!u.includes(USERS.writer) && !/password|passwd/i.test(u), `no credential in ${u}`);
    await ctx.close();
  });

  test("a read-only user finds no write controls, and the master refuses its writes anyway", async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await logIn(page, base, "reader", USERS.reader);
    assert.match(await page.textContent("#user") ?? "", /read-only/);
    await page.goto(`${base}/ui/#/instances/${encodeURIComponent(web1)}`);
    await page.waitForSelector("h2 [data-status]");
    assert.equal(await page.locator("#actions").count(), 0);
    assert.equal(await page.locator("main button").count(), 0);
    assert.equal(await page.locator("[data-console]").count(), 0);
    await screenshot(page, "instance-read-only");
    // The page's own session, with its CSRF token, still cannot write.
    const refused = await page.evaluate(async (name) => {
      const session = (await (await fetch("/ui/api/session")).json()) as { csrf: string };
      const r = await fetch(`/2/instances/${name}/shutdown`, { method: "PUT", headers: { "X-Corral-CSRF": session.csrf } });
      return r.status;
    }, web1);
    assert.equal(refused, 403);
    // Nor can it open a console.
    const consoleClose = await page.evaluate(async (url) => {
      return await new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("opened");
        ws.onerror = () => resolve("refused");
      });
    }, `wss://127.0.0.1:${c.port}/ui/console/${web1}/serial`);
    assert.equal(consoleClose, "refused");
    await ctx.close();
  });

  test("a session cookie without its CSRF token writes nothing; logging out ends the session", async () => {
    const login = await call(c.port, "POST", "/ui/api/session", { body: { username: "writer", password: USERS.writer } }, true);
    assert.equal(login.status, 200);
    const setCookie = String(login.headers["set-cookie"]);
    assert.match(setCookie, /HttpOnly; Secure; SameSite=Strict/);
    const cookie = setCookie.split(";")[0];
    const csrf = (login.json as { csrf: string }).csrf;
    const jobsBefore = (await call(c.port, "GET", "/2/jobs", {}, true)).json as unknown[];
    const noToken = await call(c.port, "PUT", `/2/instances/${web1}/tags?tag=x`, { headers: { Cookie: cookie } }, true);
    assert.equal(noToken.status, 403);
    const wrongToken = await call(c.port, "PUT", `/2/instances/${web1}/tags?tag=x`, { headers: { Cookie: cookie, "X-Corral-CSRF": "nope" } }, true);
    assert.equal(wrongToken.status, 403);
    assert.equal(((await call(c.port, "GET", "/2/jobs", {}, true)).json as unknown[]).length, jobsBefore.length, "no job submitted");
    const withToken = await call(c.port, "PUT", `/2/instances/${web1}/tags?tag=csrf-ok`, { headers: { Cookie: cookie, "X-Corral-CSRF": csrf } }, true);
    assert.equal(withToken.status, 200);
    assert.equal(typeof withToken.json, "number");

    const out = await call(c.port, "DELETE", "/ui/api/session", { headers: { Cookie: cookie, "X-Corral-CSRF": csrf } }, true);
    assert.equal(out.status, 200);
    assert.match(String(out.headers["set-cookie"]), /Max-Age=0/);
    const after = await call(c.port, "GET", "/ui/api/session", { headers: { Cookie: cookie } }, true);
    assert.equal(after.status, 401);
    assert.equal((await call(c.port, "PUT", `/2/instances/${web1}/tags?tag=y`, { headers: { Cookie: cookie, "X-Corral-CSRF": csrf } }, true)).status, 401);
  });

  test("the console's pages carry a CSP without inline scripts and the other security headers", async () => {
    for (const path of ["/ui/", "/ui/app.js", "/ui/api/session"]) {
      const r = await call(c.port, "GET", path, {}, true);
      const csp = String(r.headers["content-security-policy"]);
      assert.match(csp, /script-src 'self';/, path);
      assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(r.headers["x-content-type-options"], "nosniff", path);
    }
    const page = await call(c.port, "GET", "/ui/", {}, true);
    assert.doesNotMatch(page.text, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script in the page");
    assert.equal((await call(c.port, "GET", "/ui", {}, true)).headers.location, "/ui/");
    assert.equal((await call(c.port, "GET", "/ui/nothing.js", {}, true)).status, 404);
    assert.equal((await call(c.port, "POST", "/ui/api/session", { body: { username: 1 } }, true)).status, 400);
    assert.equal((await call(c.port, "POST", "/ui/api/session", { rawBody: "{", contentType: "application/json" }, true)).status, 400);
  });

  test("a console of an instance without one closes with the agent's reason, in the audit trail", async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await logIn(page, base, "writer", USERS.writer);
    const reason = await page.evaluate(async (url) => {
      return await new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        ws.onclose = (e) => resolve(`${e.code} ${e.reason}`);
      });
    }, `wss://127.0.0.1:${c.port}/ui/console/db1.${DOMAIN}/serial`);
    assert.match(reason, /^4404 .+/);
    await logged(/web console: writer from .* could not open the serial console of db1/);
    // From another origin the master refuses before any console is opened.
    const cookie = (await ctx.cookies()).find((k) => k.name === "corral_session");
    assert.ok(cookie);
    const foreign = await call(c.port, "GET", `/ui/console/db1.${DOMAIN}/serial`, {
      headers: { Cookie: `corral_session=${cookie.value}`, Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", Origin: "https://evil.example" },
    }, true);
    assert.equal(foreign.status, 403);
    await ctx.close();
  });
  // Last: it leaves 127.0.0.1 throttled for the rest of the window.
  test("ten failed logins from one address make it wait, even with the right password", async () => {
    const login = (password: string) => call(c.port, "POST", "/ui/api/session", { body: { username: "writer", password } }, true);
    // The first test's failed login counts too.
    let failures = 1;
    while (failures < 10) {
      assert.equal((await login(`guess-${failures}`)).status, 401);
      failures++;
    }
    const refused = await login(USERS.writer);
    assert.equal(refused.status, 429);
    assert.match((refused.json as { message: string }).message, /Too many failed logins from .*; try again in \d+ s/);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.equal(refused.headers["set-cookie"], undefined);
    await logged(/login as "writer" from .* refused: too many failed logins/);
  });
});

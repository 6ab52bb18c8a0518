import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createHash } from "node:crypto";
import { MemorySessionRecords } from "../../store/sessions.ts";
import { UsersFile } from "../http/users.ts";
import { LoginThrottle } from "../../store/login-failures.ts";
import { csrfMatches, SESSION_COOKIE, sessionCookie, SessionStore } from "./sessions.ts";

describe("web console sessions", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-sessions-"));
  const path = join(dir, "users");
  writeFileSync(path, "alice secret write\nbob secret read\n");
  const users = new UsersFile(path);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cookieOf = (id: string) => `other=1; ${SESSION_COOKIE}=${id}; x=y`;

  it("a session names its user; its rights are the users file's at each request", async () => {
    const store = new SessionStore(users);
    const alice = users.authenticate("alice", "secret");
    assert.ok(alice);
    const s = await store.create(alice);
    assert.notEqual(s.id, s.csrf);
    assert.equal((await store.fromCookie(cookieOf(s.id)))?.user.options.includes("write"), true);
    writeFileSync(path, "alice secret read\nbob secret read\n");
    users.reload();
    assert.deepEqual((await store.fromCookie(cookieOf(s.id)))?.user.options, ["read"]);
    writeFileSync(path, "bob secret read\n");
    users.reload();
    assert.equal(await store.fromCookie(cookieOf(s.id)), undefined, "a removed user's session ends");
    assert.equal(await store.fromCookie(cookieOf(s.id)), undefined);
    writeFileSync(path, "alice secret write\nbob secret read\n");
    users.reload();
  });

  it("unknown, missing, idle and too old sessions are refused", async () => {
    let clock = 1_000_000;
    const store = new SessionStore(users, { idleMs: 40, maxAgeMs: 120 }, () => clock);
    const alice = users.lookup("alice");
    assert.ok(alice);
    assert.equal(await store.fromCookie(undefined), undefined);
    assert.equal(await store.fromCookie(cookieOf("nope")), undefined);
    const idle = await store.create(alice);
    const used = await store.create(alice);
    for (let i = 0; i < 4; i++) {
      clock += 25;
      assert.ok(await store.fromCookie(cookieOf(used.id)), `used session alive at ${clock}`);
    }
    assert.equal(await store.fromCookie(cookieOf(idle.id)), undefined, "idle past idleMs");
    clock += 25;
    assert.equal(await store.fromCookie(cookieOf(used.id)), undefined, "older than maxAgeMs");
  });

  it("keeps at most maxSessions, dropping the least recently used", async () => {
    const store = new SessionStore(users, { maxSessions: 2 });
    const bob = users.lookup("bob");
    assert.ok(bob);
    const [a, b] = [await store.create(bob), await store.create(bob)];
    assert.ok(await store.fromCookie(cookieOf(a.id)));
    const c = await store.create(bob);
    assert.equal(await store.fromCookie(cookieOf(b.id)), undefined);
    assert.ok(await store.fromCookie(cookieOf(a.id)));
    assert.ok(await store.fromCookie(cookieOf(c.id)));
    await store.end(a.id);
    assert.equal(await store.fromCookie(cookieOf(a.id)), undefined);
  });

  it("checks CSRF tokens exactly, and sets the cookie's attributes", async () => {
    const store = new SessionStore(users);
    const bob = users.lookup("bob");
    assert.ok(bob);
    const s = await store.create(bob);
    assert.equal(csrfMatches(s, s.csrf), true);
    assert.equal(csrfMatches(s, s.csrf.slice(1)), false);
    assert.equal(csrfMatches(s, undefined), false);
    assert.equal(csrfMatches(s, [s.csrf, s.csrf]), false);
    assert.equal(sessionCookie("abc"), `${SESSION_COOKIE}=abc; Path=/; HttpOnly; Secure; SameSite=Strict`);
    assert.match(sessionCookie(""), /Max-Age=0$/);
  });

  it("two masters over one store: the session and its CSRF token work on both; what is kept holds neither; an end ends it for both", async () => {
    const records = new MemorySessionRecords();
    const [one, two] = [new SessionStore(users, {}, Date.now, records), new SessionStore(users, {}, Date.now, records)];
    const alice = users.lookup("alice");
    assert.ok(alice);
    const s = await one.create(alice);
    const there = await two.fromCookie(cookieOf(s.id));
    assert.equal(there?.user.name, "alice");
    assert.equal(there?.session.csrf, s.csrf, "the CSRF token is the same on the other master");
    assert.equal(csrfMatches(there.session, s.csrf), true);
    const kept = records.get(createHash("sha256").update(s.id).digest("hex"));
    assert.ok(kept, "kept under the id's hash");
    const text = JSON.stringify(kept);
    assert.ok(!text.includes(s.id) && !text.includes(s.csrf), text);
    const other = await one.create(alice);
    assert.notEqual(other.csrf, s.csrf);
    await two.end(s.id);
    assert.equal(await one.fromCookie(cookieOf(s.id)), undefined);
    assert.ok(await one.fromCookie(cookieOf(other.id)));
  });

  it("throttles an address after maxFailures failed logins until its window ends", async () => {
    let clock = 0;
    const t = new LoginThrottle({ maxFailures: 3, windowMs: 60_000, maxAddresses: 2 }, () => clock);
    for (let i = 0; i < 3; i++) {
      assert.equal(t.waitSeconds("10.0.0.1"), 0, `try ${i + 1} allowed`);
      t.failed("10.0.0.1");
    }
    assert.equal(t.waitSeconds("10.0.0.1"), 60);
    assert.equal(t.waitSeconds("10.0.0.2"), 0, "another address is not affected");
    clock = 59_500;
    assert.equal(t.waitSeconds("10.0.0.1"), 1);
    clock = 60_000;
    assert.equal(t.waitSeconds("10.0.0.1"), 0, "the window ended");
    t.failed("10.0.0.1");
    assert.equal(t.waitSeconds("10.0.0.1"), 0, "a new window counts from one");
    // Bounded: a third address pushes out the oldest.
    t.failed("10.0.0.2");
    t.failed("10.0.0.3");
    t.failed("10.0.0.3");
    t.failed("10.0.0.3");
    assert.equal(t.waitSeconds("10.0.0.3"), 60);
  });
});

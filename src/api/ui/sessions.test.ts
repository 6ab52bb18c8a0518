import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { UsersFile } from "../http/users.ts";
import { csrfMatches, LoginThrottle, SESSION_COOKIE, sessionCookie, SessionStore } from "./sessions.ts";

describe("web console sessions", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-sessions-"));
  const path = join(dir, "users");
  writeFileSync(path, "alice secret write\nbob secret read\n");
  const users = new UsersFile(path);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cookieOf = (id: string) => `other=1; ${SESSION_COOKIE}=${id}; x=y`;

  it("a session names its user; its rights are the users file's at each request", () => {
    const store = new SessionStore(users);
    const alice = users.authenticate("alice", "secret");
    assert.ok(alice);
    const s = store.create(alice);
    assert.notEqual(s.id, s.csrf);
    assert.equal(store.fromCookie(cookieOf(s.id))?.user.options.includes("write"), true);
    writeFileSync(path, "alice secret read\nbob secret read\n");
    users.reload();
    assert.deepEqual(store.fromCookie(cookieOf(s.id))?.user.options, ["read"]);
    writeFileSync(path, "bob secret read\n");
    users.reload();
    assert.equal(store.fromCookie(cookieOf(s.id)), undefined, "a removed user's session ends");
    assert.equal(store.fromCookie(cookieOf(s.id)), undefined);
    writeFileSync(path, "alice secret write\nbob secret read\n");
    users.reload();
  });

  it("unknown, missing, idle and too old sessions are refused", () => {
    let clock = 1_000_000;
    const store = new SessionStore(users, { idleMs: 40, maxAgeMs: 120 }, () => clock);
    const alice = users.lookup("alice");
    assert.ok(alice);
    assert.equal(store.fromCookie(undefined), undefined);
    assert.equal(store.fromCookie(cookieOf("nope")), undefined);
    const idle = store.create(alice);
    const used = store.create(alice);
    for (let i = 0; i < 4; i++) {
      clock += 25;
      assert.ok(store.fromCookie(cookieOf(used.id)), `used session alive at ${clock}`);
    }
    assert.equal(store.fromCookie(cookieOf(idle.id)), undefined, "idle past idleMs");
    clock += 25;
    assert.equal(store.fromCookie(cookieOf(used.id)), undefined, "older than maxAgeMs");
  });

  it("keeps at most maxSessions, dropping the least recently used", () => {
    const store = new SessionStore(users, { maxSessions: 2 });
    const bob = users.lookup("bob");
    assert.ok(bob);
    const [a, b] = [store.create(bob), store.create(bob)];
    assert.ok(store.fromCookie(cookieOf(a.id)));
    const c = store.create(bob);
    assert.equal(store.fromCookie(cookieOf(b.id)), undefined);
    assert.ok(store.fromCookie(cookieOf(a.id)));
    assert.ok(store.fromCookie(cookieOf(c.id)));
    store.end(a.id);
    assert.equal(store.fromCookie(cookieOf(a.id)), undefined);
  });

  it("checks CSRF tokens exactly, and sets the cookie's attributes", () => {
    const store = new SessionStore(users);
    const bob = users.lookup("bob");
    assert.ok(bob);
    const s = store.create(bob);
    assert.equal(csrfMatches(s, s.csrf), true);
    assert.equal(csrfMatches(s, s.csrf.slice(1)), false);
    assert.equal(csrfMatches(s, undefined), false);
    assert.equal(csrfMatches(s, [s.csrf, s.csrf]), false);
    assert.equal(sessionCookie("abc"), `${SESSION_COOKIE}=abc; Path=/; HttpOnly; Secure; SameSite=Strict`);
    assert.match(sessionCookie(""), /Max-Age=0$/);
  });

  it("throttles an address after maxFailures failed logins until its window ends", () => {
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

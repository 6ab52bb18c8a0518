// Web console sessions on etcd (issue 17): two real `corral master --store etcd://…` processes
// on a real etcd. A user logs in on the standby; the page's write through the standby is
// forwarded and accepted by the leader with the session cookie and its CSRF token; etcd holds
// neither the id nor the token; requests do not write etcd each time; after kill -9 of the
// leader the same session works on the new leader; logging out on one master ends the session
// on both; failed logins spread over the masters count together.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { it } from "node:test";
import type { StoreView } from "../../src/api/corral/store.ts";
import { EtcdClient } from "../../src/store/etcd/client.ts";
import { call, waitJob, type CallOptions, type Reply } from "../support/cluster.ts";
import { etcdNeeds } from "../support/etcd.ts";
import { etcdMastersSuite, until } from "../support/ha-masters.ts";
import { killProcess, type MasterProcess } from "../support/process.ts";

const CLUSTER = "ha-console";

etcdNeeds.describe("web console sessions shared through etcd (two corral master processes)", () => {
  const suite = etcdMastersSuite("corral-etcd-console-", 1);
  const start = (name: string): Promise<MasterProcess> => suite.masters.start(name, CLUSTER);
  const role = async (port: number) => ((await call(port, "GET", "/corral/1/store", { user: "reader" })).json as StoreView).role;


  it("a session opened on the standby writes through it, survives kill -9 of the leader, and a logout ends it everywhere", async () => {
    const a = await start("ca");
    await until("ca leads", 15_000, async () => (await role(a.port)) === "leader");
    const b = await start("cb");
    assert.equal(await role(b.port), "standby");

    // Log in on the standby (served there: the session goes to etcd from any master).
    const login = await call(b.port, "POST", "/ui/api/session", { body: { username: "writer", password: "writerpass" } });
    assert.equal(login.status, 200, login.text);
    const id = /corral_session=([^;]+)/.exec(String(login.headers["set-cookie"]))?.[1];
    assert.ok(id, "a session cookie");
    const csrf = (login.json as { csrf: string }).csrf;
    const session = (port: number, method: string, path: string, o: CallOptions & { csrf?: string } = {}): Promise<Reply> =>
      call(port, method, path, { ...o, headers: { Cookie: `corral_session=${id}`, ...(o.csrf === undefined ? {} : { "X-Corral-CSRF": o.csrf }), ...o.headers } });

    // The leader knows the session at once, with the same CSRF token.
    const onLeader = await session(a.port, "GET", "/ui/api/session");
    assert.equal(onLeader.status, 200, `${onLeader.text}\nthe leader's log:\n${suite.masters.log(a.port)}\nthe standby's log:\n${suite.masters.log(b.port)}`);
    assert.equal((onLeader.json as { csrf: string }).csrf, csrf);

    // etcd keeps the id's hash, and neither the id nor the CSRF token.
    const raw = new EtcdClient({ endpoints: suite.masters.etcd.endpoints });
    try {
      const kept = await raw.list(`/corral/${CLUSTER}/sessions/`);
      assert.equal(kept.kvs.length, 1);
      assert.equal(kept.kvs[0].key.toString(), `/corral/${CLUSTER}/sessions/${createHash("sha256").update(id).digest("hex")}`);
      const value = kept.kvs[0].value.toString();
      assert.ok(!value.includes(id) && !value.includes(csrf), value);
      assert.notEqual(kept.kvs[0].lease, "0", "expiry is a lease's");

      // The page's write through the standby: forwarded, and the leader checks session and CSRF.
      const noCsrf = await session(b.port, "PUT", "/2/tags?tag=console-no-csrf");
      assert.equal(noCsrf.status, 403, noCsrf.text);
      assert.match(noCsrf.text, /CSRF/);
      const put = await session(b.port, "PUT", "/2/tags?tag=console-via-standby", { csrf });
      assert.equal(put.status, 200, put.text);
      assert.equal((await waitJob(a.port, put.json as number)).status, "success", "the job is the leader's");
      const audit = (await call(a.port, "GET", "/corral/1/audit?limit=20", { user: "admin" })).json as { route: string; user: string | null; status: number }[];
      assert.ok(audit.some((r) => r.route === "/2/tags" && r.user === "writer" && r.status === 200), JSON.stringify(audit));

      // Using the session does not write etcd at each request (its last use: once a minute at most).
      const before = Number((await raw.etcd.kv.range({ key: Buffer.from("/"), count_only: true })).header.revision);
      for (let i = 0; i < 20; i++) {
        assert.equal((await session(i % 2 ? a.port : b.port, "GET", "/ui/api/session")).status, 200);
        assert.equal((await session(i % 2 ? a.port : b.port, "GET", "/2/tags")).status, 200);
      }
      const afterReads = Number((await raw.etcd.kv.range({ key: Buffer.from("/"), count_only: true })).header.revision);
      assert.equal(afterReads, before, "40 requests with the session wrote nothing to etcd");
    } finally {
      raw.close();
    }

    // kill -9 the leader: the same session (cookie and CSRF token) writes on the new leader.
    await killProcess(a.proc);
    const failoverMs = await until("the session's write accepted by the new leader", 15_000, async () => (await session(b.port, "PUT", "/2/tags?tag=console-after-failover", { csrf })).status === 200);
    assert.equal(await role(b.port), "leader");
    assert.ok(((await call(b.port, "GET", "/2/tags")).json as string[]).includes("console-via-standby"));

    // The old master, started again, stands by and knows the session (from etcd); logging out
    // there ends it on the leader too.
    const again = await start("ca");
    assert.equal(await role(again.port), "standby");
    assert.equal((await session(again.port, "GET", "/ui/api/session")).status, 200);
    const wrongLogout = await session(again.port, "DELETE", "/ui/api/session", { csrf: "x".repeat(43) });
    assert.equal(wrongLogout.status, 403, "a logout needs the CSRF token");
    const logout = await session(again.port, "DELETE", "/ui/api/session", { csrf });
    assert.equal(logout.status, 200, logout.text);
    assert.equal((await session(again.port, "GET", "/ui/api/session")).status, 401);
    const endedMs = await until("the logout seen by the leader", 2_000, async () => (await session(b.port, "GET", "/ui/api/session")).status === 401);
    const refused = await session(b.port, "PUT", "/2/tags?tag=console-after-logout", { csrf });
    assert.equal(refused.status, 401, refused.text);
    assert.ok(!((await call(b.port, "GET", "/2/tags")).json as string[]).includes("console-after-logout"));
    console.log(`session: kill -9 → the session's write accepted ${failoverMs} ms; logout on the standby → refused by the leader within ${endedMs} ms`);

    // Password guesses spread over both masters count together: 5 + 5 reach the limit of 10 on each.
    const guess = (port: number) => call(port, "POST", "/ui/api/session", { body: { username: "writer", password: "wrong" } });
    for (const port of [again.port, b.port]) {
      for (let i = 0; i < 5; i++) assert.equal((await guess(port)).status, 401);
    }
    for (const port of [again.port, b.port]) {
      const throttled = await guess(port);
      assert.equal(throttled.status, 429, `:${port} after 10 failures on two masters: ${throttled.text}`);
      assert.ok(Number(throttled.headers["retry-after"]) > 0);
    }
  });
});

// A master with its config in etcd (`store: etcd`), in this process: GET /corral/1/store shows
// the backend and its role; API tokens live in etcd (another master would see them); a full
// etcd (NOSPACE) is shown on /corral/1/store with its remedy, logged once, and answered 503
// without ending leadership; /2/info carries the alarm on the leader and on a standby while it
// lasts, and the master keeps leading through it and after the operator's remedy (and the
// standby can still take over).

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { EtcdClient } from "../../src/store/etcd/client.ts";
import { call, startTestMaster, usersFileText, waitJob, type TestMaster } from "../support/cluster.ts";
import { killProcess, startMasterProcess } from "../support/process.ts";
import type { StoreView } from "../../src/api/corral/store.ts";
import { EtcdCluster, etcdNeeds, fillEtcd, freeEtcd } from "../support/etcd.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

etcdNeeds.describe("a master on etcd: status, tokens, NOSPACE", () => {
  let etcd: EtcdCluster;
  let t: TestMaster;
  const lines: string[] = [];
  const store = async () => (await call(t.master.port, "GET", "/corral/1/store", { user: "reader" })).json as StoreView;

  before(async () => {
    etcd = await EtcdCluster.start(1, ["--quota-backend-bytes=16777216"]);
    t = await startTestMaster({ store: { kind: "etcd", endpoints: etcd.endpoints }, log: (line) => void lines.push(line) });
    for (let i = 0; i < 500 && (await store()).role !== "leader"; i++) await sleep(20);
  });
  after(async () => {
    await t?.close();
    await etcd?.stop();
  });

  it("shows the backend, this master's role and the leader on /corral/1/store", async () => {
    const view = await store();
    assert.equal(view.backend, "etcd");
    assert.equal(view.role, "leader");
    assert.ok(typeof view.epoch === "number" && view.epoch > 0);
    assert.deepEqual(view.leader, { name: "node1.corral.test", url: `http://127.0.0.1:${t.master.port}` });
    assert.ok(typeof view.revision === "number");
    assert.deepEqual(view.alarms, []);
  });

  it("keeps API tokens in etcd, under the cluster's prefix", async () => {
    const r = await call(t.master.port, "POST", "/corral/1/tokens", { user: "writer", body: { description: "etcd", grants: [{ access: "read", kind: "node" }], expires_in: 3600 } });
    assert.equal(r.status, 200, r.text);
    const { id } = r.json as { id: string };
    const raw = new EtcdClient({ endpoints: etcd.endpoints });
    try {
      const kv = await raw.etcd.kv.range({ key: Buffer.from(`/corral/cluster.corral.test/tokens/${id}`) });
      assert.equal(kv.kvs.length, 1, "the token's key in etcd");
      assert.equal((JSON.parse(kv.kvs[0].value.toString()) as { id: string }).id, id);
    } finally {
      raw.close();
    }
  });

  it("stands by when its lease is revoked in etcd, campaigns again and leads, without exiting", async () => {
    const before = await store();
    const raw = new EtcdClient({ endpoints: etcd.endpoints });
    try {
      const key = await raw.etcd.kv.range({ key: Buffer.from("/corral/cluster.corral.test/leader") });
      await raw.etcd.leaseClient.leaseRevoke({ ID: key.kvs[0].lease });
    } finally {
      raw.close();
    }
    let view = await store();
    for (let i = 0; i < 500 && (view.role === "leader" && view.epoch === before.epoch); i++) view = await store().then(async (v) => (await sleep(20), v));
    assert.ok(lines.some((l) => /this master no longer leads: .*; it stands by/.test(l)), lines.join("\n"));
    for (let i = 0; i < 500 && view.role !== "leader"; i++) view = await store().then(async (v) => (await sleep(20), v));
    assert.equal(view.role, "leader");
    assert.ok((view.epoch as number) > (before.epoch as number), `a new term: epoch ${String(view.epoch)} after ${String(before.epoch)}`);
    const tagged = await call(t.master.port, "PUT", "/2/tags?tag=after-revoke", { user: "writer" });
    assert.equal(tagged.status, 200, tagged.text);
    assert.equal((await waitJob(t.master.port, tagged.json as number)).status, "success");
  });

  it("shows etcd's NOSPACE alarm with its remedy, logs it once, and answers writes 503 while still leading", async () => {
    assert.ok(await fillEtcd(etcd.endpoints), "etcd filled up");
    const view = await store();
    assert.deepEqual(view.alarms, ["NOSPACE"]);
    assert.match(view.problem ?? "", /out of space .*etcdctl compact, etcdctl defrag, etcdctl alarm disarm/);
    assert.equal(view.role, "leader", "a full etcd refuses every master alike: this one keeps leading");
    await store();
    assert.equal(lines.filter((l) => /etcd alarm NOSPACE raised: .*alarm disarm/.test(l)).length, 1, lines.join("\n"));
    const refused = await call(t.master.port, "PUT", "/2/tags?tag=no-room", { user: "writer" });
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /out of space/);
  });
});

etcdNeeds.describe("a full etcd on /2/info, on the leader and a standby (corral master processes)", () => {
  let etcd: EtcdCluster;
  let dir: string;
  const masters: { proc: ChildProcess; port: number; log: () => string }[] = [];
  const store = async (port: number) => (await call(port, "GET", "/corral/1/store", { user: "reader" })).json as StoreView;
  const info = async (port: number) => {
    const r = await call(port, "GET", "/2/info", { user: "reader" });
    assert.equal(r.status, 200, r.text);
    return { body: r.json as Record<string, unknown>, etag: r.headers.etag as string };
  };
  /** Polls both masters' /2/info until `ok` holds for each (the alarm is checked every 5 s). */
  const bothInfo = async (ok: (body: Record<string, unknown>) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const seen = [await info(masters[0].port), await info(masters[1].port)];
      if (seen.every((s) => ok(s.body))) return seen;
      if (Date.now() > deadline) assert.fail(`/2/info not as expected within 20 s: ${JSON.stringify(seen.map((s) => s.body.corral_store_problem))}`);
      await sleep(100);
    }
  };
  const start = async (name: string) => {
    const users = join(dir, `${name}.users`);
    writeFileSync(users, usersFileText());
    const m = await startMasterProcess(join(dir, name), users, ["--store", `etcd://${etcd.endpoints.join(",")}`, "--cluster-name", "nospace", "--node-name", name]);
    let log = m.startLog;
    m.proc.stderr?.on("data", (c: Buffer) => (log += c.toString()));
    masters.push({ proc: m.proc, port: m.port, log: () => log });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "corral-nospace-"));
    etcd = await EtcdCluster.start(1, ["--quota-backend-bytes=16777216"]);
    await start("m1");
    for (let i = 0; i < 500 && (await store(masters[0].port)).role !== "leader"; i++) await sleep(20);
    await start("m2");
  });
  after(async () => {
    for (const m of masters) await killProcess(m.proc);
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("adds corral_store_problem while NOSPACE lasts, keeps leading without a restart, and drops it after compact, defrag and disarm", async () => {
    const [leader, standby] = masters;
    const epoch = (await store(leader.port)).epoch;
    assert.equal((await store(leader.port)).role, "leader");
    assert.equal((await store(standby.port)).role, "standby");
    const [usual, usualOnStandby] = [await info(leader.port), await info(standby.port)];
    assert.equal("corral_store_problem" in usual.body, false);
    assert.deepEqual(Object.keys(usualOnStandby.body).sort(), Object.keys(usual.body).sort());

    assert.ok(await fillEtcd(etcd.endpoints), "etcd filled up");
    const full = await bothInfo((b) => b.corral_store_problem !== undefined);
    for (const { body, etag } of full) {
      const problem = body.corral_store_problem as { alarms: string[]; message: string };
      assert.deepEqual(problem.alarms, ["NOSPACE"]);
      assert.match(problem.message, /out of space .*etcdctl compact, etcdctl defrag, etcdctl alarm disarm/);
      assert.deepEqual(Object.keys(body).sort(), [...Object.keys(usual.body), "corral_store_problem"].sort(), "one key more, Ganeti's unchanged");
      assert.notEqual(etag, usual.etag, "a client holding the usual ETag gets the problem, not a 304");
    }
    const notModified = await call(leader.port, "GET", "/2/info", { user: "reader", headers: { "If-None-Match": usual.etag } });
    assert.equal(notModified.status, 200);
    const refused = await call(leader.port, "PUT", "/2/tags?tag=no-room", { user: "writer" });
    assert.equal(refused.status, 503, refused.text);
    // Past the leader lease's TTL (5 s): the master neither exits, steps down nor starts over meanwhile.
    await sleep(6000);
    const during = await store(leader.port);
    assert.equal(during.role, "leader");
    assert.equal(during.epoch, epoch);

    await freeEtcd(etcd.endpoints);
    const cleared = await bothInfo((b) => b.corral_store_problem === undefined);
    assert.deepEqual(cleared.map((c) => c.etag), [usual.etag, usual.etag], "the usual answer again");
    const tagged = await call(leader.port, "PUT", "/2/tags?tag=after-remedy", { user: "writer" });
    assert.equal(tagged.status, 200, tagged.text);
    assert.equal((await waitJob(leader.port, tagged.json as number)).status, "success");
    assert.equal((await store(leader.port)).epoch, epoch, "the same term throughout");
    for (const m of masters) assert.equal(m.proc.exitCode ?? m.proc.signalCode, null, "still running");
    const log = leader.log();
    assert.equal(log.match(/this master leads now/g)?.length, 1, log);
    assert.equal(/no longer leads/.test(log), false, log);
    assert.match(log, /etcd alarm NOSPACE raised: .*alarm disarm/);
    assert.match(log, /etcd alarm NOSPACE cleared/);

    // The standby, whose campaign failed on NOSPACE all along, still takes over.
    await killProcess(leader.proc);
    let view = await store(standby.port);
    for (let i = 0; i < 750 && view.role !== "leader"; i++) view = await store(standby.port).then(async (v) => (await sleep(20), v));
    assert.equal(view.role, "leader", `the standby took over within 15 s: ${standby.log().slice(-3000)}`);
    const onStandby = await call(standby.port, "PUT", "/2/tags?tag=standby-leads", { user: "writer" });
    assert.equal(onStandby.status, 200, onStandby.text);
  });
});

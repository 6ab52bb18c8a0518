// A master with its config in etcd (`store: etcd`), in this process: GET /corral/1/store shows
// the backend and its role; API tokens live in etcd (another master would see them); a full
// etcd (NOSPACE) is shown on /corral/1/store with its remedy, logged once, and answered 503
// without ending leadership; /2/info carries the alarm on the leader and on a standby while it
// lasts, and the master keeps leading through it and after the operator's remedy.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, it } from "node:test";
import { EtcdClient } from "../../src/store/etcd/client.ts";
import { call, startTestMaster, waitJob, type TestMaster } from "../support/cluster.ts";
import type { StoreView } from "../../src/api/corral/store.ts";
import { EtcdCluster, etcdNeeds, fillEtcd } from "../support/etcd.ts";

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

/** The operator's remedy for NOSPACE (ETCD-FACTS §3.6), with etcdctl: free space, compact, defrag, disarm. */
async function remedy(endpoints: readonly string[]): Promise<void> {
  const etcdctl = (...args: string[]) =>
    promisify(execFile)(etcdNeeds.path("etcdctl"), [`--endpoints=${endpoints.join(",")}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
  await etcdctl("del", "--prefix", "/filler/");
  const status = JSON.parse((await etcdctl("endpoint", "status", "-w", "json")).stdout) as { Status: { header: { revision: number } } }[];
  await etcdctl("compact", String(status[0].Status.header.revision), "--physical");
  await etcdctl("defrag");
  await etcdctl("alarm", "disarm");
}

etcdNeeds.describe("a full etcd on /2/info, on the leader and a standby", () => {
  let etcd: EtcdCluster;
  let leader: TestMaster;
  let standby: TestMaster;
  const lines: string[] = [];
  const store = async (t: TestMaster) => (await call(t.master.port, "GET", "/corral/1/store", { user: "reader" })).json as StoreView;
  const info = async (t: TestMaster) => {
    const r = await call(t.master.port, "GET", "/2/info", { user: "reader" });
    assert.equal(r.status, 200, r.text);
    return { body: r.json as Record<string, unknown>, etag: r.headers.etag as string };
  };
  /** Polls both masters' /2/info until `ok` holds for each (the alarm is checked every 5 s). */
  const bothInfo = async (ok: (body: Record<string, unknown>) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const seen = [await info(leader), await info(standby)];
      if (seen.every((s) => ok(s.body))) return seen;
      if (Date.now() > deadline) assert.fail(`/2/info not as expected within 20 s: ${JSON.stringify(seen.map((s) => s.body.corral_store_problem))}`);
      await sleep(100);
    }
  };

  before(async () => {
    etcd = await EtcdCluster.start(1, ["--quota-backend-bytes=16777216"]);
    leader = await startTestMaster({ store: { kind: "etcd", endpoints: etcd.endpoints }, log: (line) => void lines.push(line) });
    for (let i = 0; i < 500 && (await store(leader)).role !== "leader"; i++) await sleep(20);
    standby = await startTestMaster({ store: { kind: "etcd", endpoints: etcd.endpoints }, nodeName: "node2.corral.test" });
  });
  after(async () => {
    await standby?.close();
    await leader?.close();
    await etcd?.stop();
  });

  it("adds corral_store_problem while NOSPACE lasts, keeps leading without a restart, and drops it after compact, defrag and disarm", async () => {
    const epoch = (await store(leader)).epoch;
    assert.equal((await store(standby)).role, "standby");
    const [usual, usualOnStandby] = [await info(leader), await info(standby)];
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
    const notModified = await call(leader.master.port, "GET", "/2/info", { user: "reader", headers: { "If-None-Match": usual.etag } });
    assert.equal(notModified.status, 200);
    const refused = await call(leader.master.port, "PUT", "/2/tags?tag=no-room", { user: "writer" });
    assert.equal(refused.status, 503, refused.text);
    // Past the leader lease's TTL (5 s): the master neither steps down nor starts over meanwhile.
    await sleep(6000);
    const during = await store(leader);
    assert.equal(during.role, "leader");
    assert.equal(during.epoch, epoch);

    await remedy(etcd.endpoints);
    const cleared = await bothInfo((b) => b.corral_store_problem === undefined);
    assert.deepEqual(cleared.map((c) => c.etag), [usual.etag, usual.etag], "the usual answer again");
    const tagged = await call(leader.master.port, "PUT", "/2/tags?tag=after-remedy", { user: "writer" });
    assert.equal(tagged.status, 200, tagged.text);
    assert.equal((await waitJob(leader.master.port, tagged.json as number)).status, "success");
    assert.equal((await store(leader)).epoch, epoch, "the same term throughout");
    assert.equal(lines.filter((l) => /this master leads now/.test(l)).length, 1, lines.join("\n"));
    assert.equal(lines.some((l) => /no longer leads/.test(l)), false, lines.join("\n"));
    assert.ok(lines.some((l) => /etcd alarm NOSPACE cleared/.test(l)), lines.join("\n"));
  });
});

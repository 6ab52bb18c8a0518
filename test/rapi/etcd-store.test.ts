// A master with its config in etcd (`store: etcd`), in this process: GET /corral/1/store shows
// the backend and its role; API tokens live in etcd (another master would see them); a full
// etcd (NOSPACE) is shown on /corral/1/store with its remedy, logged once, and answered 503
// without ending leadership.

import assert from "node:assert/strict";
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

// `corral store migrate` (issue 17) with real etcd and real masters: a SQLite cluster with two
// nodes, an instance, tags, jobs (some archived) and an API token, made by a master and then
// stopped, is moved to etcd; a master on etcd serves the same /2/info, /2/instances?bulk=1 and
// jobs, takes the token, and numbers a new job above the old ones. Moved back into a new data
// directory, a SQLite master serves the same again. Refused: a source a master still runs on
// (SQLite: its database open; etcd: its leader key), and a target that already holds a cluster.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { startMaster, type Master, type MasterOptions } from "../../src/master/master.ts";
import { EtcdClient, EtcdKeys, prefixEnd } from "../../src/store/etcd/client.ts";
import { call } from "../support/cluster.ts";
import { EtcdCluster, etcdNeeds } from "../support/etcd.ts";
import { runCorral } from "../support/process.ts";
import { createTestInstance, startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";

const CLUSTER = "migrated";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** What a master serves of the cluster: info, instances, and every job's id and status (archived ones by id). */
async function served(port: number, archived: readonly number[]) {
  const get = async (path: string) => {
    const r = await call(port, "GET", path, { user: "reader" });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    return r.json;
  };
  const listed = (await get("/2/jobs")) as { id: number }[];
  const jobs: [number, string][] = [];
  for (const id of [...listed.map((j) => Number(j.id)), ...archived].sort((a, b) => a - b)) jobs.push([id, ((await get(`/2/jobs/${id}`)) as { status: string }).status]);
  return { info: await get("/2/info"), instances: await get("/2/instances?bulk=1"), active: listed.map((j) => Number(j.id)).sort((a, b) => a - b), jobs };
}

etcdNeeds.describe("corral store migrate between SQLite and etcd (issue 17)", () => {
  let etcd: EtcdCluster;
  let c: MultiNodeCluster;
  let scratch: string;
  const masters: Master[] = [];
  const options = (dataDir: string, more: Partial<MasterOptions> = {}): MasterOptions => ({
    dataDir, port: 0, bind: "127.0.0.1", ssl: false, requireAuthentication: false, maxClients: 20,
    clusterName: "cluster.corral.test", nodeName: "node1.corral.test", log: () => undefined, announce: () => undefined, ...more,
  });

  before(async () => {
    etcd = await EtcdCluster.start(1);
    scratch = mkdtempSync(join(tmpdir(), "corral-migrate-"));
    c = await startMultiNodeCluster({ extraNodes: 1 });
  });
  after(async () => {
    for (const m of masters) await m.close().catch(() => undefined);
    if (c) {
      await c.master.close().catch(() => undefined);
      for (const n of c.nodes) await n.agent.close();
      rmSync(c.dataDir, { recursive: true, force: true });
      for (const n of c.nodes) rmSync(n.stateDir, { recursive: true, force: true });
    }
    await etcd?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("moves a stopped cluster to etcd and back; refuses a running source and a target that holds a cluster", async () => {
    const etcdUrl = `etcd://${etcd.endpoints.join(",")}`;
    const toEtcd = ["store", "migrate", "--from", `sqlite:${c.dataDir}`, "--to", etcdUrl, "--cluster-name", CLUSTER, "--users-file", c.usersFile];
    const port = () => c.master.port;
    // The cluster: node1 and node2, an instance with a tag, cluster tags, a token; jobs, most archived.
    await createTestInstance(c, "web", "node2", "diskless", 128);
    for (const tag of ["a", "b"]) assert.equal((await c.client().waitForJob((await c.client().request("PUT", `/2/tags?tag=${tag}`)) as number)).status, "success");
    const token = await call(port(), "POST", "/corral/1/tokens", { user: "writer", body: { grants: [{ access: "write", kind: "cluster" }], expires_in: 3600 } });
    assert.equal(token.status, 200, token.text);
    const bearer = { headers: { Authorization: `Bearer ${(token.json as { token: string }).token}` } };
    const archived = ((await call(port(), "GET", "/2/jobs")).json as { id: number }[]).map((j) => Number(j.id));
    assert.equal(c.master.queue.archiveOld(0, Date.now() + 5000), archived.length, "every finished job archived");
    assert.equal((await c.client().waitForJob((await c.client().request("PUT", "/2/instances/web.corral.test/tags?tag=web")) as number)).status, "success");
    const before = await served(port(), archived);
    const serial = c.master.store.snapshot().serial;
    assert.ok(before.active.length >= 1 && archived.length >= 3, JSON.stringify(before.jobs));

    // Refused while the master runs on the database: nothing written to etcd.
    const running = await runCorral(toEtcd);
    assert.notEqual(running.code, 0, running.out);
    assert.match(running.out, /config\.db is open in process \d+/);
    const raw = new EtcdClient({ endpoints: etcd.endpoints });
    const keys = new EtcdKeys(CLUSTER);
    const count = async () => Number((await raw.etcd.kv.range({ key: Buffer.from(keys.root), range_end: prefixEnd(keys.root), count_only: true })).count);
    try {
      assert.equal(await count(), 0, "nothing written while the source ran");

      await c.master.close();
      const moved = await runCorral(toEtcd);
      assert.equal(moved.code, 0, moved.out);
      assert.match(moved.out, new RegExp(`jobs: ${before.active.length} active, ${archived.length} archived`));
      assert.match(moved.out, /API tokens: 1/);
      assert.match(moved.out, /shared files: cluster-cert, users\n/);
      // The cluster object as a master writes it (store/etcd/cluster-parts.ts): a base, and each parameter group in a key of its own.
      const base = JSON.parse((await raw.etcd.get(keys.configCluster).string()) ?? "{}") as Record<string, unknown>;
      assert.equal(base.name, "cluster.corral.test");
      assert.equal(base.hvparams, undefined, "hvparams is no field of the base");
      assert.ok(JSON.parse((await raw.etcd.get(keys.configClusterPart("hvparams")).string()) ?? "null"), "hvparams has a key of its own");

      // A target that holds a cluster: refused, nothing changed.
      const keysBefore = await count();
      const again = await runCorral(toEtcd);
      assert.notEqual(again.code, 0, again.out);
      assert.match(again.out, /already holds \d+ keys under \/corral\/migrated\//);
      assert.equal(await count(), keysBefore);

      // A master on etcd serves the same cluster, takes the token, numbers new jobs above the old.
      const onEtcd = await startMaster(options(join(scratch, "etcd-master"), { store: { kind: "etcd", endpoints: etcd.endpoints }, clusterName: CLUSTER }));
      masters.push(onEtcd);
      await until("the etcd master leads", 15_000, async () => ((await call(onEtcd.port, "GET", "/corral/1/store", { user: "reader" })).json as { role: string }).role === "leader");
      assert.deepEqual(await served(onEtcd.port, archived), before);
      assert.equal(onEtcd.store.snapshot().serial, serial, "the cluster serial");
      const tagged = await call(onEtcd.port, "PUT", "/2/tags?tag=on-etcd", bearer);
      assert.equal(tagged.status, 200, tagged.text);
      assert.ok((tagged.json as number) > Math.max(...before.jobs.map(([id]) => id)), `new job ${String(tagged.json)} above the old ids`);
      await until("the token's job ends", 20_000, async () => ((await call(onEtcd.port, "GET", `/2/jobs/${String(tagged.json)}`)).json as { status: string }).status === "success");
      assert.equal((await call(onEtcd.port, "PUT", "/2/tags?tag=x", { headers: { Authorization: "Bearer corral_nosuchtoken0_x" } })).status, 401);
      const onEtcdView = await served(onEtcd.port, archived);
      const etcdSerial = onEtcd.store.snapshot().serial;

      // Back to a new data directory: refused while the etcd master leads.
      const back = join(scratch, "back");
      const toSqlite = ["store", "migrate", "--from", etcdUrl, "--to", `sqlite:${back}`, "--cluster-name", CLUSTER];
      const leading = await runCorral(toSqlite);
      assert.notEqual(leading.code, 0, leading.out);
      assert.match(leading.out, /a master leads the cluster in etcd/);
      await onEtcd.close();
      masters.pop();
      await until("the leader key goes", 15_000, async () => (await raw.etcd.get(keys.leader).string()) === null);
      const occupied = await runCorral([...toSqlite.slice(0, 5), `sqlite:${c.dataDir}`, ...toSqlite.slice(6)]);
      assert.notEqual(occupied.code, 0, occupied.out);
      assert.match(occupied.out, /config\.db already holds a cluster/);
      const returned = await runCorral(toSqlite);
      assert.equal(returned.code, 0, returned.out);
      const onSqlite = await startMaster(options(back));
      masters.push(onSqlite);
      assert.deepEqual(await served(onSqlite.port, archived), onEtcdView);
      assert.equal(onSqlite.store.snapshot().serial, etcdSerial, "the cluster serial");
      const last = await call(onSqlite.port, "PUT", "/2/tags?tag=back", bearer);
      assert.equal(last.status, 200, `the token on the SQLite master: ${last.text}`);
      const mark = Number(/new ids start above (\d+)/.exec(returned.out)?.[1]);
      assert.ok(mark >= (tagged.json as number), returned.out);
      assert.ok((last.json as number) > mark, `new job ${String(last.json)} above etcd's mark ${mark}`);
    } finally {
      raw.close();
    }
  });
});

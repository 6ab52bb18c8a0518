// Web console session records on a real etcd (one member): two masters' records over one prefix
// see each other's sessions, last uses and ends; an ended session is not brought back by a late
// refresh; etcd ends an idle session by its lease.

import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { EtcdCluster, etcdNeeds } from "../../../test/support/etcd.ts";
import { EtcdClient } from "./client.ts";
import { EtcdSessionRecords } from "./sessions.ts";

const PREFIX = "/corral/sessions-test/sessions/";

/** Polls until `check` holds, or fails after `ms`. */
async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

etcdNeeds.describe("web console session records on etcd", () => {
  let etcd: EtcdCluster;
  const clients: EtcdClient[] = [];
  const records: EtcdSessionRecords[] = [];
  const master = async (slack?: number) => {
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    clients.push(client);
    const r = await EtcdSessionRecords.open(client, PREFIX, slack);
    records.push(r);
    return r;
  };

  before(async () => {
    etcd = await EtcdCluster.start(1);
  });
  after(async () => {
    for (const r of records) r.close();
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  it("a session added on one master is seen, refreshed and ended on the other; a late refresh does not bring it back", async () => {
    const [one, two] = [await master(), await master()];
    await one.add("k1", { user: "alice", created: 1000, lastUsed: 1000 }, 3600_000);
    assert.deepEqual(await two.fetch("k1").then((r) => r && { ...r, lease: undefined }), { user: "alice", created: 1000, lastUsed: 1000, lease: undefined });
    await until("the session in the other copy", 2000, () => two.get("k1") !== undefined);
    assert.equal(await one.touch("k1", { user: "alice", created: 1000, lastUsed: 5000 }), true);
    await until("the refresh in the other copy", 2000, () => two.get("k1")?.lastUsed === 5000);
    assert.equal(two.size(), 1);
    await one.add("k2", { user: "bob", created: 2000, lastUsed: 2000 }, 3600_000);
    await until("both sessions in the other copy", 2000, () => two.size() === 2);
    assert.equal(two.oldest(), "k2", "the least recently used");

    await two.remove("k1");
    await until("the end in the first copy", 2000, () => one.get("k1") === undefined);
    assert.equal(await two.fetch("k1"), undefined);
    // A master that still held the session refreshes it after the end: refused, not re-created.
    const stale = await master();
    await stale.add("k3", { user: "carol", created: 1, lastUsed: 1 }, 3600_000);
    await one.remove("k3");
    assert.equal(await stale.touch("k3", { user: "carol", created: 1, lastUsed: 9 }), false);
    assert.equal(await one.fetch("k3"), undefined);
  });

  it("etcd ends a session whose lease is not kept alive (idle)", async () => {
    const [one, two] = [await master(0), await master(0)];
    // idle 1 s, no slack: etcd's minimum TTL (2 s) applies.
    await one.add("idle", { user: "alice", created: 1, lastUsed: 1 }, 1000);
    await until("the session in the other copy", 2000, () => two.get("idle") !== undefined);
    await until("the lease's expiry, on both copies", 6000, () => one.get("idle") === undefined && two.get("idle") === undefined);
    assert.equal(await two.fetch("idle"), undefined);
  });
});

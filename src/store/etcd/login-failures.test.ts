// Failed web console logins counted across masters, on a real etcd (one member): failures spread
// over two masters reach the limit on both (and on a third that saw none); etcd holds counts
// under the address's hash, never the address; a count whose window is over no longer counts.

import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { EtcdCluster, etcdNeeds } from "../../../test/support/etcd.ts";
import { LoginThrottle, waitFor } from "../login-failures.ts";
import { EtcdClient } from "./client.ts";
import { EtcdLoginFailures } from "./login-failures.ts";

const PREFIX = "/corral/login-test/login-failures/";
const ADDRESS = "192.0.2.7";

it("waits until enough of the open windows end to be under the limit", () => {
  const limits = { maxFailures: 4, windowMs: 60_000 };
  assert.equal(waitFor([{ since: 0, count: 3 }], limits, 1000), 0, "under the limit");
  assert.equal(waitFor([{ since: 0, count: 2 }, { since: 30_000, count: 2 }], limits, 40_000), 20, "the first window's end brings it under");
  assert.equal(waitFor([{ since: 0, count: 1 }, { since: 30_000, count: 4 }], limits, 40_000), 50, "the first window's end does not");
  assert.equal(waitFor([{ since: 0, count: 9 }], limits, 60_000), 0, "a window that is over counts no more");
});

etcdNeeds.describe("failed web console logins across masters, on etcd", () => {
  let etcd: EtcdCluster;
  const clients: EtcdClient[] = [];
  let clock = Date.now();
  const master = (name: string) => {
    const client = new EtcdClient({ endpoints: etcd.endpoints });
    clients.push(client);
    const now = () => clock;
    return new EtcdLoginFailures(client, PREFIX, name, new LoginThrottle({ maxFailures: 4, windowMs: 60_000 }, now), now);
  };

  before(async () => {
    etcd = await EtcdCluster.start(1);
  });
  after(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  it("refuses an address on every master once its failures on all of them reach the limit", async () => {
    const [a, b, c] = [master("a"), master("b"), master("c")];
    await a.failed(ADDRESS);
    await a.failed(ADDRESS);
    await b.failed(ADDRESS);
    assert.equal(await a.waitSeconds(ADDRESS), 0, "3 of 4");
    assert.equal(await a.waitSeconds("198.51.100.1"), 0, "another address is not counted with it");
    await b.failed(ADDRESS);
    for (const [name, m] of [["a", a], ["b", b], ["c (saw none)", c]] as const) {
      const wait = await m.waitSeconds(ADDRESS);
      assert.ok(wait > 55 && wait <= 60, `${name} refuses for the window's rest: ${wait} s`);
    }
    const raw = new EtcdClient({ endpoints: etcd.endpoints });
    clients.push(raw);
    const { kvs } = await raw.list(PREFIX);
    assert.equal(kvs.length, 2, "one key per master that saw failures");
    for (const kv of kvs) {
      assert.ok(!kv.key.toString().includes(ADDRESS) && !kv.value.toString().includes(ADDRESS), "no address in etcd");
      assert.notEqual(kv.lease, "0", "a key expires by its lease");
    }
    clock += 61_000;
    assert.equal(await c.waitSeconds(ADDRESS), 0, "the windows are over");
  });
});

// EtcdJobStore without etcd: what it makes of what etcd lists (a stand-in client answers the
// two reads open() makes). Its behaviour against real etcd is src/store/etcd/etcd.test.ts's.

import assert from "node:assert/strict";
import { it } from "node:test";
import type { IKeyValue } from "etcd3";
import type { DurableLog } from "../store/durable.ts";
import { EtcdKeys, type EtcdClient } from "../store/etcd/client.ts";
import type { Leadership } from "../store/leadership.ts";
import { EtcdJobStore } from "./etcd.ts";

const kv = (key: string, value: string): IKeyValue => ({ key: Buffer.from(key), value: Buffer.from(value), create_revision: "1", mod_revision: "1", version: "1", lease: "0" });

it("opens on more stored jobs than a function call takes arguments (200,000): every one readable, ids go on above the highest", async () => {
  const keys = new EtcdKeys("c");
  const jobs = 200_000;
  const active = [kv(keys.job(jobs), JSON.stringify({ id: jobs }))];
  const archived = Array.from({ length: jobs - 1 }, (_, i) => kv(keys.archivedJob(i + 1), JSON.stringify({ id: i + 1 })));
  const client = {
    list: async (prefix: string) => ({ revision: 9, kvs: prefix === keys.jobs ? active : prefix === keys.archivedJobs ? archived : [] }),
    etcd: { kv: { range: async () => ({ kvs: [] }) } },
  };
  // A stand-in for the etcd client (open() only lists and reads one key); the log and the
  // leadership are not used before a write.
  const store = await EtcdJobStore.open(client as unknown as EtcdClient, keys, undefined as unknown as DurableLog, undefined as unknown as Leadership);
  assert.equal(store.highestId(), jobs);
  assert.equal(store.loadOne(1)?.id, 1);
  assert.deepEqual(store.loadAll().map((j) => j.id), [jobs]);
});

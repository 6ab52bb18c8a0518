// The etcd backend against real etcd (Debian's etcd-server, members started by the test on
// loopback ports): transactions visible only once committed, group commit within etcd's txn
// limits, a transaction over 128 keys refused whole, fencing proven by an old leader's write
// that etcd refuses, lease loss revoking leadership (told by etcd, or self-fenced before the
// lease can expire), the same config after all members restart, and the cluster object kept as
// a base key and parameter-group keys, each written only when it changed, read back alike by a
// standby and a fresh reader, from a cluster key of the old one-key layout too.

import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { EtcdCluster, etcdNeeds, fillEtcd, freeEtcd } from "../../../test/support/etcd.ts";
import type { Cluster, Node } from "../../model/objects.ts";
import { initialConfig, initializeCluster } from "../../ops/init.ts";
import { NotLeaderError } from "../leadership.ts";
import type { ConfigTx } from "../store.ts";
import { openEtcdStores, type EtcdStoreOptions, type EtcdStores } from "./backend.ts";
import { EtcdClient, type EtcdKeys } from "./client.ts";
import { CLUSTER_PARTS, type ClusterPart } from "./cluster-parts.ts";
import { livenessKey } from "./liveness.ts";
import { EtcdNoSpaceError, TxnTooLargeError } from "./sink.ts";

const INIT = {
  clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
  enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node like the first one, under another name and uuid. */
function nodeNamed(name: string): Node {
  const { node } = initialConfig({ ...INIT, nodeName: name });
  return { ...node, uuid: `uuid-${name}` };
}
const addNode = (name: string) => (tx: ConfigTx) => tx.add("node", nodeNamed(name)).name;
const tag = (t: string) => (tx: ConfigTx) => tx.updateCluster((c) => void (c.tags = [...c.tags, t])).tags;

async function until(what: string, ok: () => boolean, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`not within ${withinMs} ms: ${what}`);
    await sleep(10);
  }
}

/** The config keys (below config/) that the last txn of `s` wrote: those whose mod revision is its revision. */
async function writtenByLastTxn(s: EtcdStores): Promise<string[]> {
  const { kvs } = await s.client.list(s.keys.config);
  return kvs.filter((kv) => Number(kv.mod_revision) === s.sink.revision).map((kv) => kv.key.toString().slice(s.keys.config.length)).sort();
}
const PART_KEYS = CLUSTER_PARTS.map((part) => `cluster-params/${part}`).sort();

/** The cluster in etcd as a master wrote it before the cluster had parts: one key with every field; `stale`: part keys left over. */
async function writeOldLayout(client: EtcdClient, keys: EtcdKeys, cluster: Cluster, stale: Partial<Record<ClusterPart, unknown>> = {}): Promise<void> {
  await client.etcd.delete().prefix(keys.configClusterParts);
  for (const [part, value] of Object.entries(stale)) await client.etcd.put(keys.configClusterPart(part)).value(JSON.stringify(value));
  await client.etcd.put(keys.configCluster).value(JSON.stringify(cluster));
}

let clusterNo = 0;
const NO_JOB_LISTENER = { shown: () => undefined, reloaded: () => undefined };

/** etcd members started before a suite's tests, and stopped after them with the masters' stores its tests opened. */
function etcdSuite(size: 1 | 3, extraArgs: readonly string[] = []) {
  const open: EtcdStores[] = [];
  const suite = {
    etcd: undefined as EtcdCluster | undefined,
    get members(): EtcdCluster {
      if (!suite.etcd) throw new Error("etcd is not started");
      return suite.etcd;
    },
    /** A master's stores on the cluster named `cluster` in etcd. */
    async stores(cluster: string, name: string, extra: Partial<EtcdStoreOptions> = {}): Promise<EtcdStores> {
      const s = await openEtcdStores({ endpoints: suite.members.endpoints, cluster, name, ttlSeconds: 5, ...extra });
      open.push(s);
      return s;
    },
    /** A new cluster in etcd, led by a master of its own. */
    async leader(extra: Partial<EtcdStoreOptions> = {}): Promise<EtcdStores> {
      const s = await suite.stores(`c${++clusterNo}`, "a", extra);
      await initializeCluster(s.config, INIT);
      await s.leadership.establish();
      return s;
    },
  };
  before(async () => (suite.etcd = await EtcdCluster.start(size, extraArgs)));
  after(async () => {
    for (const s of open) await s.close().catch(() => undefined);
    await suite.etcd?.stop();
  });
  return suite;
}

etcdNeeds.describe("etcd backend, one member", () => {
  const suite = etcdSuite(1);
  const { stores, leader } = suite;

  it("shows a transaction to readers only once etcd committed it, and a standby follows by watch", async () => {
    const a = await leader();
    const standby = await stores(a.keys.root.split("/")[2], "b");
    await standby.follow(NO_JOB_LISTENER);
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      const key = a.keys.configObject("node", "uuid-n2");
      // etcd paused: the txn is sent but cannot commit meanwhile.
      await suite.members.signal(0, "SIGSTOP");
      let pending: Promise<string>;
      try {
        pending = a.config.transact(addNode("n2"));
        assert.ok(a.config.head().nodes.has("uuid-n2"), "the head has it at once");
        await sleep(300);
        assert.ok(!a.config.snapshot().nodes.has("uuid-n2"), "readers do not, while etcd has not committed it");
      } finally {
        await suite.members.signal(0, "SIGCONT");
      }
      assert.equal(await pending, "n2");
      assert.ok(a.config.snapshot().nodes.has("uuid-n2"));
      assert.equal((await raw.etcd.kv.range({ key: Buffer.from(key) })).kvs.length, 1);
      assert.equal(a.config.snapshot().serial, 2);
      await until("the standby's copy has the node", () => standby.config.snapshot().nodes.has("uuid-n2"));
      assert.equal(standby.config.snapshot().serial, 2);
      assert.throws(() => standby.config.stage(tag("x")), NotLeaderError, "a standby does not write");
    } finally {
      raw.close();
    }
  });

  it("keeps a standby's config, jobs and tokens hot through one watch, holds none while it leads, and follows again once it no longer leads", async () => {
    const a = await leader();
    const cluster = a.keys.root.split("/")[2];
    const shown: number[] = [];
    let reloads = 0;
    const b = await stores(cluster, "b");
    await b.follow({ shown: (id) => void shown.push(id), reloaded: () => void reloads++ });
    assert.equal(b.feed.following, true);
    const job = (id: number) => ({ id, ops: [], status: "success", archived: false }) as unknown as Parameters<typeof a.jobs.write>[0];
    const token = (id: string) => ({ id, owner: "writer", description: "", grants: [], created: 1, created_by: "writer", expires: 2 ** 31, secret_sha256: "0".repeat(64) });
    const [j1] = await a.jobs.allocateIds(1);
    await Promise.all([a.config.transact(tag("from-a")), a.jobs.write(job(j1)), a.tokens.put(token("t-a"))]);
    await until("the standby has a's tag, job and token", () => b.config.snapshot().cluster.tags.includes("from-a") && shown.includes(j1) && b.tokens.get("t-a") !== undefined);
    await a.tokens.remove("t-a");
    await until("a revoked token is gone on the standby too", () => b.tokens.get("t-a") === undefined);
    // b takes over from its hot copy (its feed reached the fence: nothing is read again) and its feed stops.
    const [lastOfA] = await a.jobs.allocateIds(1);
    await a.config.transact(tag("last-of-a"));
    let relists = 0;
    const reload = b.jobs.reload.bind(b.jobs);
    b.jobs.reload = () => (relists++, reload());
    const leads = b.leadership.establish();
    await a.close();
    await leads;
    assert.equal(relists, 0, "the new leader took over from its copy");
    assert.ok(b.config.snapshot().cluster.tags.includes("last-of-a"), "with the old leader's last commit");
    const markOfA = Number(await b.client.etcd.get(a.keys.jobIds).string());
    assert.ok(markOfA > lastOfA);
    assert.ok((await b.jobs.allocateIds(1))[0] > markOfA, "ids above the old leader's reserved block");
    assert.equal(b.feed.following, false, "no watch while leading");
    await b.config.transact(tag("from-b"));
    // b stops leading; c leads. b reads everything again and follows c's writes.
    b.leadership.revoke("test: b stands by");
    const c = await stores(cluster, "c");
    await c.leadership.establish();
    assert.ok(c.config.snapshot().cluster.tags.includes("from-b"), "c (no feed: it read everything) has b's commit");
    await until("b follows again", () => b.feed.following && reloads === 1);
    const [j2] = await c.jobs.allocateIds(1);
    await Promise.all([c.config.transact(tag("from-c")), c.jobs.write(job(j2)), c.tokens.put(token("t-c"))]);
    await until("b has c's tag, job and token", () => b.config.snapshot().cluster.tags.includes("from-c") && shown.includes(j2) && b.tokens.get("t-c") !== undefined);
    assert.deepEqual(b.config.snapshot().cluster.tags, ["from-a", "last-of-a", "from-b", "from-c"]);
    assert.equal(relists, 1, "b read the jobs again once, when it stood by again");
  });

  it("writes a tag's cluster change as the base key and the serial, a parameter group only when it changed; a standby and a fresh reader have the same cluster", async () => {
    const a = await leader();
    const cluster = a.keys.root.split("/")[2];
    const initialized = (await a.client.list(a.keys.config)).kvs;
    const created = Number(initialized.find((kv) => kv.key.toString() === a.keys.configCluster)?.create_revision);
    assert.deepEqual(
      initialized.filter((kv) => Number(kv.mod_revision) === created).map((kv) => kv.key.toString().slice(a.keys.config.length)).filter((k) => k.startsWith("cluster")).sort(),
      ["cluster", ...PART_KEYS],
      "initialize wrote the base and every part in its one txn",
    );
    const b = await stores(cluster, "b");
    await b.follow(NO_JOB_LISTENER);
    let readers = 0;
    const agree = async (what: string) => {
      const head = a.config.snapshot();
      await until(`the standby has ${what}`, () => b.config.snapshot().serial === head.serial);
      assert.deepEqual(b.config.snapshot().cluster, head.cluster, `the standby after ${what}`);
      const reader = await stores(cluster, `reader${++readers}`);
      assert.deepEqual(reader.config.snapshot().cluster, head.cluster, `a fresh reader after ${what}`);
    };

    await a.config.transact(tag("t1"));
    assert.deepEqual(await writtenByLastTxn(a), ["cluster", "serial"]);
    const whole = JSON.stringify(a.config.snapshot().cluster).length;
    const base = (await a.client.etcd.get(a.keys.configCluster).string())?.length ?? 0;
    console.log(`# the cluster's base key: ${base} of the object's ${whole} bytes`);
    assert.ok(base > 0 && base < whole / 3, `base ${base} B of ${whole} B`);
    await agree("a tag");

    const standbyDiskparams = b.config.snapshot().cluster.diskparams;
    await a.config.transact((tx) => tx.updateCluster((c) => void (c.hvparams.fake = { ...c.hvparams.fake, corral_test: "changed" })));
    assert.deepEqual(await writtenByLastTxn(a), ["cluster", "cluster-params/hvparams", "serial"]);
    await agree("an hvparams change");
    assert.equal(b.config.snapshot().cluster.hvparams.fake.corral_test, "changed");
    assert.equal(b.config.snapshot().cluster.diskparams, standbyDiskparams, "the standby changed only the part that came");

    // Read in the change (so copied: another object), not changed: the same JSON, not written.
    const ipolicy = a.config.snapshot().cluster.ipolicy;
    await a.config.transact((tx) => tx.updateCluster((c) => void c.ipolicy.std));
    assert.notEqual(a.config.snapshot().cluster.ipolicy, ipolicy, "a copy");
    assert.deepEqual(await writtenByLastTxn(a), ["cluster", "serial"]);
    await agree("a copied, unchanged ipolicy");
  });

  it("loads a cluster key of the old one-key layout, and its first change moves every part out of the base, losing none", async () => {
    const a = await leader();
    const cluster = a.keys.root.split("/")[2];
    await a.config.transact(tag("before-upgrade"));
    const old = a.config.snapshot().cluster;
    await a.close();
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      // A part key left over with another value: the base's field wins.
      await writeOldLayout(raw, a.keys, old, { hvparams: {} });
      // Keys that are no part (their values no JSON): left alone.
      for (const stray of ["cluster-params/no_such_field", "cluster-params/hvparams/x", "clusterx", "cluster-params"]) await raw.etcd.put(a.keys.config + stray).value("not JSON");
      const b = await stores(cluster, "b");
      assert.deepEqual(b.config.snapshot().cluster, old, "loaded as it was");
      const c = await stores(cluster, "c");
      await c.follow(NO_JOB_LISTENER);
      await b.leadership.establish();
      // A change too large for one txn writes nothing: its parts are still to be written.
      await assert.rejects(
        b.config.transact((tx) => {
          tag("too-large")(tx);
          for (let i = 0; i < 128; i++) tx.add("node", nodeNamed(`big${i}`));
        }),
        TxnTooLargeError,
      );
      await b.config.transact(tag("after-upgrade"));
      assert.deepEqual(await writtenByLastTxn(b), ["cluster", ...PART_KEYS, "serial"], "every part written, changed or not");
      const base = JSON.parse((await raw.etcd.get(a.keys.configCluster).string()) ?? "{}") as Record<string, unknown>;
      assert.deepEqual(CLUSTER_PARTS.filter((part) => part in base), [], "the base carries no part now");
      const expected = { ...old, tags: ["before-upgrade", "after-upgrade"] };
      const reader = await stores(cluster, "reader");
      for (const s of [b, reader]) assert.deepEqual({ ...s.config.snapshot().cluster, serial_no: old.serial_no, mtime: old.mtime }, expected);
      await until("the standby follows", () => c.config.snapshot().serial === b.config.snapshot().serial);
      assert.deepEqual(c.config.snapshot().cluster, b.config.snapshot().cluster);
      await b.config.transact(tag("later"));
      assert.deepEqual(await writtenByLastTxn(b), ["cluster", "serial"], "then the base alone");
    } finally {
      raw.close();
    }
  });

  it("compacts etcd's history while leading, one interval behind; a standby does not", async () => {
    const a = await leader({ compactIntervalMs: 400 });
    const standby = await stores(a.keys.root.split("/")[2], "b", { compactIntervalMs: 400 });
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      const revision = async () => Number((await raw.etcd.kv.range({ key: Buffer.from(a.keys.configCluster) })).header.revision);
      await a.config.transact(tag("old"));
      const old = await revision();
      // At the first tick the leader notes the revision; at the next it compacts to it.
      await until("a compaction past the tagged revision", () => (a.compactor.last?.revision ?? 0) >= old, 5000);
      await a.config.transact(tag("new"));
      await assert.rejects(raw.etcd.kv.range({ key: Buffer.from(a.keys.configCluster), revision: String(old - 1) }), /required revision has been compacted/);
      // One interval of history is kept: the newest revision still reads.
      const now = await revision();
      assert.equal((await raw.etcd.kv.range({ key: Buffer.from(a.keys.configCluster), revision: String(now) })).kvs.length, 1);
      assert.equal(standby.compactor.last, undefined, "a standby does not compact");
      assert.equal(a.compactor.lastError, undefined);
      // Leadership lost: no more compactions from this master.
      a.leadership.revoke("test");
      const lastRevision = a.compactor.last?.revision;
      await a.config.transact(tag("after")).catch(() => undefined);
      await sleep(1000);
      assert.equal(a.compactor.last?.revision, lastRevision, "no compaction after the term ended");
    } finally {
      raw.close();
    }
  });

  it("a standby that starts after compaction passed the leader's election waits quietly, and ends at once a term whose liveness key is gone", async () => {
    const a = await leader({ compactIntervalMs: 300 });
    const cluster = a.keys.root.split("/")[2];
    await a.config.transact(tag("one"));
    await a.config.transact(tag("two"));
    await until("a compaction past the leader's election", () => (a.compactor.last?.revision ?? 0) > (a.leadership.epoch ?? Infinity) + 1, 5000);
    const grants = async () => {
      const text = await (await fetch(`http://${suite.members.endpoints[0]}/metrics`)).text();
      return [...text.matchAll(/^grpc_server_started_total\{[^}]*grpc_method="LeaseGrant"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const b = await stores(cluster, "b");
    const before = await grants();
    const campaign = b.leadership.establish();
    await sleep(2000);
    // A campaign attempt grants a liveness lease; one standing by tries once per lease TTL.
    const attempts = (await grants()) - before;
    assert.ok(attempts <= 3, `${attempts} campaign attempts in 2 s: the standby campaigns in a loop`);
    assert.equal(b.leadership.epoch, undefined);
    await a.close();
    // (Watched from the leader key's compacted revision, the standby never saw the key go.)
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([campaign, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("the standby did not lead within 10 s of the leader's stepping down")), 10_000)))]).finally(() => clearTimeout(timer));

    // A leader key whose liveness key is gone (its master stopped sending keepalives before this
    // standby watched): the campaign ends that term at once, not after the leader lease's TTL.
    await b.close();
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      // Its close revoked both leases: no liveness key is left for a campaign to wait on.
      assert.equal(await raw.etcd.get(livenessKey(a.keys.leader)).string(), null, "the closed leader's liveness key is gone");
      const lease = await raw.etcd.leaseClient.leaseGrant({ TTL: 30 });
      await raw.etcd.kv.put({ key: Buffer.from(a.keys.leader), value: Buffer.from("a-gone"), lease: lease.ID });
      const c = await stores(cluster, "c");
      const started = performance.now();
      await c.leadership.establish();
      const tookMs = performance.now() - started;
      assert.ok(tookMs < 3000, `won after ${Math.round(tookMs)} ms (the dead term's lease has 30 s)`);
    } finally {
      raw.close();
    }
  });

  it("lets a standby whose revision etcd compacted away list again and follow on", async () => {
    const a = await leader();
    const errors: Error[] = [];
    const standby = await stores(a.keys.root.split("/")[2], "b", { onFollowError: (err) => errors.push(err) });
    await standby.leader.start();
    const seen: string[] = [];
    standby.config.onCommit((_snap, commit) => seen.push(...(commit.clusterChanged ? ["cluster"] : []), ...(commit.objects.get("node")?.keys() ?? [])));
    for (const t of ["x", "y", "z"]) await a.config.transact(tag(t));
    await a.config.transact(addNode("c2"));
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      await raw.etcd.kv.compact({ revision: a.sink.revision });
    } finally {
      raw.close();
    }
    await standby.follow(NO_JOB_LISTENER);
    await until("the standby listed again", () => standby.config.snapshot().cluster.tags.includes("z"));
    assert.match(errors[0]?.message ?? "", /canceled|compacted/, "etcd cancelled the watch");
    assert.deepEqual(seen, ["cluster", "uuid-c2"], "listeners heard what the relist brought");
    await a.config.transact(tag("after-compaction"));
    await until("the standby follows on", () => standby.config.snapshot().cluster.tags.includes("after-compaction"));
  });

  it("group-commits one turn's transactions in one txn, and cuts batches at etcd's 128 keys between transactions", async () => {
    const a = await leader();
    const before = a.log.commits;
    await Promise.all([a.config.transact(tag("a")), a.config.transact(tag("b")), a.config.transact(addNode("n3"))]);
    assert.equal(a.log.commits - before, 1, "three transactions, one etcd txn");
    assert.deepEqual(a.config.snapshot().cluster.tags, ["a", "b"]);
    // 3 transactions of 60 nodes each: 61 keys each with the serial, so no two fit one txn together.
    const many = (from: number) => (tx: ConfigTx) => {
      for (let i = 0; i < 60; i++) tx.add("node", nodeNamed(`m${from + i}`));
    };
    const mid = a.log.commits;
    const revisionBefore = a.sink.revision;
    await Promise.all([a.config.transact(many(0)), a.config.transact(many(100)), a.config.transact(many(200))]);
    assert.equal(a.log.commits - mid, 2, "the first two transactions share a txn (121 keys: the serial once), the third does not fit");
    assert.equal(a.sink.revision - revisionBefore, 2);
    const reread = await stores(a.keys.root.split("/")[2], "reader");
    assert.equal(reread.config.snapshot().nodes.size, 1 + 1 + 180);
    assert.equal(reread.config.snapshot().serial, a.config.snapshot().serial);
  });

  it("refuses a transaction over 128 keys clearly, before it changes anything", async () => {
    const a = await leader();
    const serial = a.config.head().serial;
    await assert.rejects(
      a.config.transact((tx) => {
        for (let i = 0; i < 128; i++) tx.add("node", nodeNamed(`big${i}`));
      }),
      (err: Error) => err instanceof TxnTooLargeError && /129 etcd keys .* at most 128 keys/.test(err.message),
    );
    assert.equal(a.config.head().serial, serial, "the head did not move");
    assert.equal(a.config.head().nodes.size, 1);
    // 127 nodes and the serial: exactly 128 keys, which etcd takes.
    await a.config.transact((tx) => {
      for (let i = 0; i < 127; i++) tx.add("node", nodeNamed(`fit${i}`));
    });
    assert.equal(a.config.snapshot().nodes.size, 128);
    assert.equal(a.leadership.epoch !== undefined, true, "still leading");
  });

  it("refuses new job ids while a new leader is still loading (its takeover hooks run), and hands them out after", async () => {
    const a = await leader();
    // a hands out a few ids of its block; the rest of the block is never used.
    const before = await a.jobs.allocateIds(3);
    const b = await stores(a.keys.root.split("/")[2], "b");
    let release = () => {};
    const loading = new Promise<void>((resolve) => (release = resolve));
    let refusedWhileLoading: unknown;
    b.leadership.onEstablish(async () => {
      refusedWhileLoading = await b.jobs.allocateIds(1).then(() => "allocated", (err: unknown) => err);
      await loading;
    });
    const leads = b.leadership.establish();
    await a.leadership.close();
    while (refusedWhileLoading === undefined) await new Promise((r) => setTimeout(r, 10));
    assert.ok(refusedWhileLoading instanceof NotLeaderError && /taking over/.test(refusedWhileLoading.message), String(refusedWhileLoading));
    assert.equal(b.leadership.ready, false);
    release();
    await leads;
    assert.equal(b.leadership.ready, true);
    const [next] = await b.jobs.allocateIds(1);
    assert.ok(next > before[2] + 3, `the new leader's id ${next} is above the old leader's whole block, not only its ids (${before.join(", ")})`);
  });

  it("allocates job ids from reserved blocks: unique and increasing, archived and pruned", async () => {
    const a = await leader();
    const [first, second] = await Promise.all([a.jobs.allocateIds(20), a.jobs.allocateIds(20)]);
    const all = [...first, ...second];
    assert.equal(new Set(all).size, 40, "no id twice");
    assert.deepEqual(first, [...first].sort((x, y) => x - y));
    const later = await a.jobs.allocateIds(1);
    assert.ok(later[0] > Math.max(...all), "later ids are higher");
    assert.equal(a.jobs.highestId(), later[0]);
    const job = (id: number) => ({ id, ops: [], status: "success", archived: false }) as unknown as Parameters<typeof a.jobs.write>[0];
    await Promise.all(first.slice(0, 5).map((id) => a.jobs.write(job(id))));
    await a.jobs.archive(first.slice(0, 3));
    const b = await stores(a.keys.root.split("/")[2], "b");
    assert.deepEqual(b.jobs.loadAll().map((j) => j.id), first.slice(3, 5));
    assert.equal(b.jobs.loadOne(first[0])?.archived, true);
    assert.equal(b.jobs.highestId(), first[4], "the highest job held");
    // The reserved mark survives: whoever leads next allocates above every id handed out.
    const mark = Number(await b.client.etcd.get(a.keys.jobIds).string());
    assert.ok(mark >= later[0], `the mark ${mark} covers ${later[0]}`);
    assert.equal(await a.jobs.pruneArchived(1), 2);
    await b.jobs.reload();
    assert.equal(b.jobs.loadOne(first[0]), undefined, "pruned");
    assert.equal(b.jobs.loadOne(first[2])?.archived, true, "the newest archived one stays");
  });

  it("keeps only the newest archived jobs it is told to: archiving prunes the rest from etcd", async () => {
    const a = await leader({ keepArchivedJobs: 4 });
    const ids = await a.jobs.allocateIds(10);
    const job = (id: number) => ({ id, ops: [], status: "success", archived: false }) as unknown as Parameters<typeof a.jobs.write>[0];
    await Promise.all(ids.map((id) => a.jobs.write(job(id))));
    await a.jobs.archive(ids.slice(0, 3));
    await a.jobs.archive(ids.slice(3, 9));
    const archivedKeys = await a.client.list(a.keys.archivedJobs);
    assert.deepEqual(archivedKeys.kvs.map((kv) => Number(kv.key.toString().slice(-16))), ids.slice(5, 9), "the newest 4 archived jobs stay in etcd");
    assert.equal(a.jobs.loadOne(ids[0]), undefined, "pruned");
    assert.equal(a.jobs.loadOne(ids[5])?.archived, true);
    assert.deepEqual(a.jobs.loadAll().map((j) => j.id), [ids[9]], "the active job is not touched");
  });

  it("revokes leadership when etcd says the lease is gone, and self-fences when etcd stops answering", async () => {
    const a = await leader();
    const reasons: string[] = [];
    a.leadership.onRevoke((r) => reasons.push(r));
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      const holder = (await raw.etcd.kv.range({ key: Buffer.from(a.keys.leader) })).kvs[0];
      const lostAt = performance.now();
      await raw.etcd.leaseClient.leaseRevoke({ ID: holder.lease });
      await until("revoked", () => reasons.length > 0, 5000);
      console.log(`# lease revoked in etcd → revoke hooks ran after ${Math.round(performance.now() - lostAt)} ms`);
      // Keepalives go every TTL/3: the next one hears the lease is gone.
      assert.ok(performance.now() - lostAt < 5000 / 3 + 1000, `told within a keepalive period (${Math.round(performance.now() - lostAt)} ms)`);
      assert.match(reasons[0], /lease expired/);
      await assert.rejects(a.config.transact(tag("late")), NotLeaderError);
    } finally {
      raw.close();
    }
    // Leading again, then etcd stops answering (SIGSTOP): no keepalive is acknowledged.
    await a.leadership.establish();
    await sleep(200);
    const stoppedAt = performance.now();
    await suite.members.signal(0, "SIGSTOP");
    try {
      await until("self-fenced", () => reasons.length > 1, 6000);
      const after = performance.now() - stoppedAt;
      console.log(`# etcd stopped → self-fenced after ${Math.round(after)} ms (TTL 5000 ms)`);
      assert.match(reasons[1], /self-fenced/);
      // At S + TTL − 500 ms, S at most a keepalive period (TTL/3) before the stop: 4.5 s at most.
      assert.ok(after <= 4500 + 100, `stepped down ${Math.round(after)} ms after etcd stopped, before the lease could expire`);
      assert.ok(after >= 4500 - 5000 / 3 - 100, `not before S + TTL − 500 ms (${Math.round(after)} ms)`);
    } finally {
      await suite.members.signal(0, "SIGCONT");
    }
  });
});

etcdNeeds.describe("etcd backend, three members", () => {
  const suite = etcdSuite(3);
  const stores = suite.stores;

  it("refuses an old leader's write once a new leader is elected (fencing, tried)", async () => {
    const a = await stores("fence", "a");
    await initializeCluster(a.config, INIT);
    const oldEpoch = await a.leadership.establish();
    await a.config.transact(tag("from-a"));
    const b = await stores("fence", "b");
    const bLeads = b.leadership.establish();
    // A's lease ends in etcd (as when A was cut off past its TTL); A has not heard yet.
    const raw = new EtcdClient({ endpoints: suite.members.endpoints });
    try {
      const holder = (await raw.etcd.kv.range({ key: Buffer.from(a.keys.leader) })).kvs[0];
      await raw.etcd.leaseClient.leaseRevoke({ ID: holder.lease });
    } finally {
      raw.close();
    }
    const newEpoch = await bLeads;
    assert.ok(newEpoch > oldEpoch, "the fence moved on");
    // Etcd itself refuses a batch fenced by A's term, whatever A believes.
    await assert.rejects(a.sink.commit([{ t: "kv", key: a.keys.configCluster, value: "{}" }], oldEpoch), /fenced out/);
    // A writes as the leader it still believes it is (its next keepalive, at most TTL/3 away,
    // would tell it otherwise): etcd refuses the txn, which ends A's term.
    const reasons: string[] = [];
    a.leadership.onRevoke((r) => reasons.push(r));
    const believed = a.leadership.epoch === oldEpoch;
    await assert.rejects(a.config.transact(tag("from-old-a")), NotLeaderError);
    if (believed) assert.match(reasons[0] ?? "", /cannot write to etcd: .*fenced out/, "refused by etcd, not by A");
    else console.log("# A heard of its lease's end before it tried: its write was refused by A itself this time");
    await assert.rejects(a.jobs.allocateIds(1), NotLeaderError);
    assert.equal(a.leadership.epoch, undefined, "A's term ended");
    assert.deepEqual(b.config.snapshot().cluster.tags, ["from-a"], "B caught up with what A committed, and only that");
    await b.config.transact(tag("from-b"));
    const reader = await stores("fence", "reader");
    assert.deepEqual(reader.config.snapshot().cluster.tags, ["from-a", "from-b"]);
  });

  it("has the same config after every member restarts", async () => {
    const a = await stores("restart", "a");
    await initializeCluster(a.config, INIT);
    await a.leadership.establish();
    await a.config.transact(addNode("r2"));
    await a.config.transact(tag("kept"));
    const before = a.config.snapshot();
    await a.close();
    const pids = [0, 1, 2].map((i) => suite.members.pid(i));
    for (const i of [0, 1, 2]) await suite.members.signal(i, "SIGTERM");
    assert.deepEqual([0, 1, 2].map((i) => suite.members.pid(i)), [undefined, undefined, undefined], "every member stopped");
    await Promise.all([0, 1, 2].map((i) => suite.members.restart(i)));
    for (const i of [0, 1, 2]) assert.notEqual(suite.members.pid(i), pids[i], "a new process");
    const b = await stores("restart", "b");
    const after = b.config.snapshot();
    assert.equal(after.serial, before.serial);
    assert.deepEqual(after.cluster, before.cluster);
    assert.deepEqual([...after.nodes.entries()], [...before.nodes.entries()]);
    assert.deepEqual([...after.groups.entries()], [...before.groups.entries()]);
    await b.leadership.establish();
    await b.config.transact(tag("after-restart"));
    assert.deepEqual(b.config.snapshot().cluster.tags, ["kept", "after-restart"]);
  });
});

etcdNeeds.describe("etcd backend, full etcd (NOSPACE)", () => {
  const suite = etcdSuite(1, ["--quota-backend-bytes=16777216"]);

  it("refuses writes with a clear reason while etcd is out of space, and keeps leading", async () => {
    const a = await suite.leader();
    // The cluster as a master before the parts wrote it: the refused change below writes every part.
    const whole = a.config.snapshot().cluster;
    await writeOldLayout(a.client, a.keys, whole);
    await a.config.catchUp();
    assert.ok(await fillEtcd(suite.members.endpoints), "etcd filled up");
    const serial = a.config.snapshot().serial;
    await assert.rejects(a.config.transact(tag("no room")), (err: Error) => err instanceof EtcdNoSpaceError && /out of space .* alarm disarm/.test(err.message));
    assert.equal(a.config.head().serial, serial, "the head rolled back");
    assert.notEqual(a.leadership.epoch, undefined, "still the leader: every master would be refused alike");
    await assert.rejects(a.jobs.allocateIds(1), EtcdNoSpaceError);
    // Space freed: the parts the refused txn did not write are written with the next change.
    await freeEtcd(suite.members.endpoints);
    await a.config.transact(tag("room again"));
    assert.deepEqual(await writtenByLastTxn(a), ["cluster", ...PART_KEYS, "serial"]);
    const reader = await suite.stores(a.keys.root.split("/")[2], "reader");
    assert.deepEqual(reader.config.snapshot().cluster, a.config.snapshot().cluster);
    assert.deepEqual(reader.config.snapshot().cluster.hvparams, whole.hvparams);
  });
});

// Standby masters on etcd: two real `corral master --store etcd://…` processes on one 3-member
// etcd cluster. The first initializes the cluster and leads; the second stands by, answers reads
// from its followed copy and forwards writes to the leader; kill -9 of the leader makes the
// standby lead (the time is printed), every job acknowledged before the kill is final there, and
// the old master, started again, stands by.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { call, waitJob } from "../support/cluster.ts";
import type { StoreView } from "../../src/api/corral/store.ts";
import { EtcdClient } from "../../src/store/etcd/client.ts";
import { etcdNeeds } from "../support/etcd.ts";
import { EtcdMasters } from "../support/etcd-masters.ts";
import { officialClient, runPython } from "../support/python.ts";
import { killProcess, type MasterProcess } from "../support/process.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function storeOf(port: number): Promise<StoreView> {
  const r = await call(port, "GET", "/corral/1/store", { user: "reader" });
  assert.equal(r.status, 200, r.text);
  return r.json as StoreView;
}

/** Polls until `check` holds (it returns true), or fails after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

etcdNeeds.describe("standby masters on etcd (three members, two corral master processes)", () => {
  let masters: EtcdMasters;
  const start = (name: string, cluster = "ha-e2e", tls = false): Promise<MasterProcess> => masters.master(name, cluster, tls);
  /** What etcd holds for a job and what the master that should have it logged: when a job is missing. */
  const whereIs = async (id: number, port: number) => {
    const raw = new EtcdClient({ endpoints: masters.etcd.endpoints });
    try {
      const active = await raw.etcd.get(`/corral/ha-e2e/jobs/${String(id).padStart(16, "0")}`).string();
      const archived = await raw.etcd.get(`/corral/ha-e2e/jobs-archived/${String(id).padStart(16, "0")}`).string();
      return `etcd: active ${active ?? "none"}; archived ${archived ?? "none"}\nlog of :${port}:\n${masters.log(port)}`;
    } finally {
      raw.close();
    }
  };

  before(async () => {
    masters = await EtcdMasters.start(3);
  });
  after(async () => {
    await masters?.stop();
  });

  it("serves reads on a standby, fails over on kill -9 with no acknowledged job lost, and takes the old leader back as standby", async () => {
    const a = await start("ma");
    await until("ma leads", 15_000, async () => (await storeOf(a.port)).role === "leader");
    const b = await start("mb");
    const standby = await storeOf(b.port);
    assert.equal(standby.backend, "etcd");
    assert.equal(standby.role, "standby");
    assert.equal(standby.epoch, null);
    assert.deepEqual(standby.leader, { name: "ma", url: `http://127.0.0.1:${a.port}` });

    // Reads on the standby come from its copy of the leader's config.
    const info = await call(b.port, "GET", "/2/info");
    assert.equal(info.status, 200, info.text);
    assert.equal((info.json as { name: string }).name, "ha-e2e");
    const created = await call(a.port, "PUT", "/2/tags?tag=seen-on-standby", { user: "writer" });
    assert.equal((await waitJob(a.port, created.json as number)).status, "success");
    const shownAt = performance.now();
    await until("the leader's tag on the standby", 1000, async () => ((await call(b.port, "GET", "/2/tags")).json as string[]).includes("seen-on-standby"));
    const lag = Math.round(performance.now() - shownAt);
    const instances = await call(b.port, "GET", "/2/instances?bulk=1");
    assert.equal(instances.status, 200, instances.text);
    // The job too: the standby follows the job queue (its list, not only reads by id).
    await until("the leader's job on the standby", 1000, async () => ((await call(b.port, "GET", `/2/jobs/${created.json as number}`)).json as { status: string }).status === "success");
    const listed = (await call(b.port, "GET", "/2/jobs?bulk=1")).json as { id: number; status: string }[];
    assert.deepEqual(listed.find((j) => j.id === created.json), { ...listed.find((j) => j.id === created.json), status: "success" }, "the job in the standby's /2/jobs");

    // A write on the standby is forwarded to the leader: the job is the leader's, and the
    // standby shows it once it followed.
    const forwarded = await call(b.port, "PUT", "/2/tags?tag=via-standby", { user: "writer" });
    assert.equal(forwarded.status, 200, forwarded.text);
    assert.equal((await waitJob(a.port, forwarded.json as number)).status, "success");
    await until("the forwarded write on the standby", 1000, async () => ((await call(b.port, "GET", "/2/tags")).json as string[]).includes("via-standby"));

    // Eight clients submit jobs to the leader; kill -9 while they do. Acknowledged: id → its tag.
    const acked = new Map<number, string>();
    let stop = false;
    const client = async (c: number) => {
      for (let n = 0; !stop; n++) {
        const tag = `before-c${c}n${n}`;
        const r = await call(a.port, "PUT", `/2/tags?tag=${tag}`, { user: "writer" }).catch(() => undefined);
        if (r === undefined) return; // the leader is gone: this one was never acknowledged
        assert.equal(r.status, 200, r.text);
        acked.set(r.json as number, tag);
      }
    };
    const clients = Array.from({ length: 8 }, (_, c) => client(c));
    await sleep(800);
    await killProcess(a.proc);
    const killedAt = performance.now();
    stop = true;
    await Promise.all(clients);
    assert.ok(acked.size > 8, `only ${acked.size} jobs acknowledged before the kill`);
    let next: number | undefined;
    await until("a write accepted by the standby", 15_000, async () => {
      const r = await call(b.port, "PUT", "/2/tags?tag=after-failover", { user: "writer" });
      if (r.status !== 200) return false;
      next = r.json as number;
      return true;
    });
    const failoverMs = Math.round(performance.now() - killedAt);
    const led = await storeOf(b.port);
    assert.equal(led.role, "leader");
    assert.ok(typeof led.epoch === "number");

    // Every acknowledged job is there, final; those that succeeded did their work.
    const statuses: string[] = [];
    const tags = async () => (await call(b.port, "GET", "/2/tags")).json as string[];
    for (const [id, tag] of acked) {
      const job = await waitJob(b.port, id, 20_000).catch(async (err: Error) => assert.fail(`${err.message}\n${await whereIs(id, b.port)}`));
      assert.ok(["success", "error"].includes(job.status as string), `job ${id}: ${String(job.status)}`);
      statuses.push(job.status as string);
      if (job.status === "success") assert.ok((await tags()).includes(tag), `job ${id} succeeded but its tag ${tag} is missing`);
    }
    assert.equal((await waitJob(b.port, next as number)).status, "success");
    assert.ok((next as number) > Math.max(...acked.keys()), "job ids keep increasing across the failover");

    // The old master, started again, stands by behind the new leader.
    const again = await start("ma");
    const back = await storeOf(again.port);
    assert.equal(back.role, "standby");
    assert.equal(back.leader?.name, "mb");
    await until("the new leader's tag on the restarted standby", 2000, async () => ((await call(again.port, "GET", "/2/tags")).json as string[]).includes("after-failover"));

    // A leader stopped in order (SIGTERM) gives its lease back: the standby leads at once.
    const stopped = new Promise<void>((resolve) => b.proc.once("exit", () => resolve()));
    b.proc.kill("SIGTERM");
    await stopped;
    const stoppedAt = performance.now();
    await until("the standby leads after the leader's orderly stop", 3000, async () => (await storeOf(again.port)).role === "leader");
    const handoverMs = Math.round(performance.now() - stoppedAt);
    console.log(`standby lag ${lag} ms; kill -9 → write accepted by the standby ${failoverMs} ms; acknowledged jobs: ${statuses.filter((s) => s === "success").length} success, ${statuses.filter((s) => s === "error").length} error; SIGTERM → standby leads ${handoverMs} ms`);
  });
  officialClient().test("Ganeti's official Python client pointed at a standby (TLS masters): its tag job and WaitForJobChange reach the leader", async () => {
    const a = await start("pa", "ha-py", true);
    await until("pa leads", 15_000, async () => ((await call(a.port, "GET", "/corral/1/store", { user: "reader" }, true)).json as StoreView).role === "leader");
    const b = await start("pb", "ha-py", true);
    const standby = (await call(b.port, "GET", "/corral/1/store", { user: "reader" }, true)).json as StoreView;
    assert.equal(standby.role, "standby");
    // The standby pins the leader's certificate from the leader key; the client trusts the standby's.
    const r = await runPython("rapi_forward.py", ["localhost", String(b.port), "writer", "writerpass", join(masters.dir, "pb", "rapi.pem")]);
    assert.equal(r.code, 0, r.out);
    const out = JSON.parse(r.out.trim().split("\n").at(-1)!) as { job: number; status: string };
    assert.equal(out.status, "success");
    const job = (await call(a.port, "GET", `/2/jobs/${out.job}`, { user: "reader" }, true)).json as { status: string; ops: unknown[] };
    assert.equal(job.status, "success", "the job is the leader's");
    assert.ok(((await call(a.port, "GET", "/2/tags", {}, true)).json as string[]).includes("forwarded-by-standby"));
  });
});

// Capacity, verify and balancing plans run on a worker thread, not the master's event loop
// (issue 16): while one of them computes on a cluster big enough to take a while, the master
// keeps answering other requests; the answer is the one the same computation gives in this
// process on the dicts the RAPI serves; a model error is a 400 in Ganeti's error body, and
// more than 8 computations waiting a 503 with Retry-After.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { capacity } from "../../src/balance/capacity.ts";
import { policiesFromRapi } from "../../src/balance/ipolicy.ts";
import { modelFromRapi, type RapiData } from "../../src/balance/model.ts";
import { planBalance } from "../../src/balance/plan.ts";
import { verifyCluster } from "../../src/balance/verify.ts";
import { call, suiteMaster, USERS } from "../support/cluster.ts";

const NODES = 80;
const INSTANCES = 1600;
const MAX_WAITING = 8;

/** Nodes served by the master's own agent (so each reports facts), shared-storage instances piled on the first ones. */
async function seed(t: ReturnType<typeof suiteMaster>["t"]): Promise<void> {
  await t.master.store.transact((tx) => {
    const master = [...tx.current.nodes.values()][0];
    const uuids = [master.uuid];
    for (let n = 1; n < NODES; n++) {
      const ip = `127.2.${n >> 8}.${n & 255}`;
      const node = { ...master, uuid: randomUUID(), name: `node${n + 1}.corral.test`, primary_ip: ip, secondary_ip: ip, master_candidate: false, tags: [] };
      tx.add("node", node);
      uuids.push(node.uuid);
    }
    for (let i = 0; i < INSTANCES; i++) {
      const pnode = uuids[Math.floor((((i * 7919) % 1000) / 1000) * (((i * 104729) % 1000) / 1000) * NODES)];
      tx.add("instance", {
        uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [], name: `inst${i}.corral.test`,
        primary_node: pnode, secondary_nodes: [], os: "noop", hypervisor: "fake", hvparams: {},
        beparams: { minmem: 1024, maxmem: 1024 * (1 + (i % 8)), vcpus: 1 }, osparams: {}, osparams_private: {},
        admin_state: "up", admin_state_source: "admin", disk_template: "sharedfile", nics: [], network_port: null, disks_active: false,
        // On shared storage, so that the balancer may move them anywhere.
        disks: [{ uuid: randomUUID(), name: null, size: 1024, mode: "rw", dev_type: "sharedfile", spindles: null, logical_id: [], params: {}, nodes: [pnode], serial_no: 1, ctime: 0, mtime: 0 }],
      });
    }
  });
}

describe("balancing, capacity and verify off the master's event loop", () => {
  // No periodic refresh: the nodes' facts stay the ones both sides of a comparison read.
  const m = suiteMaster({ localMemoryMiB: 262144, liveRefreshMs: 3_600_000 });
  const get = (path: string) => call(m.port, "GET", path, { user: "reader" });

  /** What hbal reads, through the RAPI. */
  async function rapiData(): Promise<RapiData> {
    const [groups, nodes, instances, info] = await Promise.all(["/2/groups?bulk=1", "/2/nodes?bulk=1", "/2/instances?bulk=1", "/2/info"].map(get));
    return { groups: groups.json, nodes: nodes.json, instances: instances.json, info: info.json } as RapiData;
  }

  /**
   * Asks `path`, then /version and /2/info one after the other until its answer arrives: the
   * order in which the answers came. A computation on the event loop would hold both back.
   */
  async function answersWhileComputing(path: string): Promise<{ answer: Awaited<ReturnType<typeof get>>; order: string[] }> {
    const order: string[] = [];
    let done = false;
    const answer = get(path).then((r) => {
      order.push(path);
      done = true;
      return r;
    });
    while (!done) {
      for (const quick of ["/version", "/2/info"]) {
        const r = await get(quick);
        assert.equal(r.status, 200, `${quick}: ${r.text}`);
        if (!done) order.push(quick);
      }
    }
    return { answer: await answer, order };
  }

  test("seed a cluster whose computations take a while", async () => {
    await seed(m.t);
    await m.t.master.live.refresh();
    const nodes = await get("/2/nodes?bulk=1");
    assert.equal((nodes.json as { mtotal: unknown }[]).filter((n) => n.mtotal === 262144).length, NODES, "every node reported its facts");
  });

  test("GET /corral/1/capacity: other requests are answered while it computes, and it answers what hspace's computation here does", async () => {
    const data = await rapiData();
    const { answer, order } = await answersWhileComputing("/corral/1/capacity");
    assert.equal(answer.status, 200, answer.text);
    const rounds = order.indexOf("/corral/1/capacity");
    assert.ok(rounds >= 10 && order.slice(0, rounds).includes("/2/info"), `/version and /2/info answered before the capacity: ${order.join(", ")}`);
    const model = modelFromRapi(data);
    assert.deepEqual(answer.json, JSON.parse(JSON.stringify(capacity(model, policiesFromRapi(model, data), { spec: {} }))));
  });

  test("GET /corral/1/verify: the same, against hcheck's computation here", async () => {
    const data = await rapiData();
    const { answer, order } = await answersWhileComputing("/corral/1/verify");
    assert.equal(answer.status, 200, answer.text);
    assert.ok(order.indexOf("/corral/1/verify") >= 10, `/version and /2/info answered before the verify: ${order.join(", ")}`);
    const model = modelFromRapi(data);
    assert.deepEqual(answer.json, JSON.parse(JSON.stringify(verifyCluster(model, policiesFromRapi(model, data)))));
  });

  test("GET and POST /corral/1/balance answer hbal's plan as computed here", async () => {
    const data = await rapiData();
    const expected = JSON.parse(JSON.stringify(planBalance(modelFromRapi(data), { group: "default", maxMoves: 3 })));
    const plan = await get("/corral/1/balance?group=default&max-moves=3");
    assert.equal(plan.status, 200, plan.text);
    assert.deepEqual(plan.json, expected);
    assert.equal(expected.moves.length, 3, "the piled cluster has moves to plan");
    const dryRun = await call(m.port, "POST", "/corral/1/balance?group=default&max-moves=3&dry-run=1", { user: "writer" });
    assert.equal(dryRun.status, 200, dryRun.text);
    const { job_ids, jobs, ...posted } = dryRun.json as Record<string, unknown>;
    assert.deepEqual(posted, expected);
    assert.deepEqual(job_ids, expected.moves.map(() => null));
    assert.equal((jobs as unknown[]).length, expected.moves.length);
  });

  test("a model error in the worker is a 400 in Ganeti's error body", async () => {
    for (const path of ["/corral/1/capacity?group=nosuch", "/corral/1/verify?group=nosuch", "/corral/1/balance?group=nosuch"]) {
      const r = await get(path);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      const body = r.json as { code: number; message: string; explain: string };
      assert.equal(body.code, 400);
      assert.match(body.message, /nosuch/);
      assert.equal(body.explain, "Bad request syntax or unsupported method");
    }
  });

  test(`with ${MAX_WAITING} computations waiting behind a running one, the next is a 503 with Retry-After; the worker serves on once the clients leave`, async () => {
    const auth = `Basic ${Buffer.from(`reader:${USERS.reader}`).toString("base64")}`;
    const clients = Array.from({ length: MAX_WAITING + 3 }, () => new AbortController());
    const refused: { status: number; retryAfter: string | null; body: unknown }[] = [];
    let sawRefusals: () => void = () => undefined;
    const twoRefused = new Promise<void>((resolve) => (sawRefusals = resolve));
    const replies = clients.map((c) =>
      fetch(`http://127.0.0.1:${m.port}/corral/1/capacity`, { headers: { Authorization: auth }, signal: c.signal }).then(
        async (r) => {
          const reply = { status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.json() };
          if (r.status === 503 && refused.push(reply) === 2) sawRefusals();
          return reply.status;
        },
        () => "client left",
      ),
    );
    // Both refusals, or every answer if there are not two (a computation that blocks the loop).
    await Promise.race([twoRefused, Promise.all(replies)]);
    for (const c of clients) c.abort();
    const statuses = await Promise.all(replies);
    assert.deepEqual(statuses.filter((s) => s === 503).length, 2, `statuses: ${statuses.join(", ")}`);
    for (const r of refused) {
      assert.equal(r.retryAfter, "5");
      assert.deepEqual(Object.keys(r.body as object), ["code", "message", "explain"]);
      assert.equal((r.body as { code: number }).code, 503);
    }
    const after = await get("/corral/1/verify");
    assert.equal(after.status, 200, after.text);
  });
});

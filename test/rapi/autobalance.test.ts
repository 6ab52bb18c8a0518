// Automatic balancing (issue 16) on three agents with the fake hypervisor: off by default,
// set through PUT /2/modify's auto_balancing (bad values: 400, nothing changed), shown by
// /2/info; when on and the score is over the threshold, the master submits the plan's moves
// (at most max_moves) as normal jobs naming the round in their reason trail; no further
// round starts within the cooldown, nor while a balancing job is unfinished; a failed round
// is recorded, logged, and tried again after the cooldown; the last round outlives a master
// restart. API tokens on the balancing routes.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Plan } from "../../src/balance/plan.ts";
import { AUTO_BALANCE_DEFAULTS, type AutoBalance, type AutoBalanceStatus } from "../../src/model/autobalance.ts";
import { call } from "../support/cluster.ts";
import { createTestInstance, scoreTermTolerance, startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";

const INTERVAL_MS = 100;

describe("automatic balancing", () => {
  let c: MultiNodeCluster;
  const logged: string[] = [];
  const roundLines = (round: number) => logged.filter((line) => line.startsWith(`automatic balancing round ${round}`));
  const get = async <T>(uri: string): Promise<T> => (await c.client("reader").request("GET", uri)) as T;
  const status = () => get<AutoBalanceStatus>("/corral/1/balance/auto");
  const setting = async () => (await status()).setting;
  const jobCount = async () => (await get<unknown[]>("/2/jobs")).length;
  /** Waits until every job is final: a round's moves still running would change what the next test plans. */
  const jobsSettled = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const jobs = await get<{ id: number; status: string }[]>("/2/jobs?bulk=1");
      const open = jobs.filter((j) => !["success", "error", "canceled"].includes(j.status));
      if (open.length === 0) return;
      assert.ok(Date.now() < deadline, `jobs still open: ${JSON.stringify(open)}`);
      await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
    }
  };
  const modify = async (auto_balancing: Partial<AutoBalance>) => {
    const client = c.client();
    const job = await client.waitForJob((await client.request("PUT", "/2/modify", { auto_balancing })) as number);
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
  };
  /** Waits until the master has checked `n` more times: whatever a check would do is done. */
  const afterChecks = async (n: number) => {
    const target = (await status()).checks + n;
    const deadline = Date.now() + 20_000;
    while ((await status()).checks < target) {
      assert.ok(Date.now() < deadline, "the master stopped checking");
      await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
    }
  };
  const roundNumbered = async (round: number) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await status();
      if (s.last_round && s.last_round.round >= round) return s.last_round;
      assert.ok(Date.now() < deadline, `no round ${round} started: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
    }
  };

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 8192, templates: ["diskless", "sharedfile"], master: { autoBalanceIntervalMs: INTERVAL_MS, log: (line) => void logged.push(line) } });
    // Everything on node1: a plan of several migrations.
    for (const [i, mem] of [[1, 1024], [2, 512], [3, 768], [4, 256], [5, 640]] as const) await createTestInstance(c, `app${i}`, "node1", "sharedfile", mem);
  });
  after(() => c?.close());

  it("is off by default: /2/info shows the defaults and no round starts", async () => {
    assert.deepEqual(await setting(), AUTO_BALANCE_DEFAULTS);
    const jobs = await jobCount();
    await afterChecks(3);
    const s = await status();
    assert.deepEqual([s.setting, s.interval, s.last_round], [AUTO_BALANCE_DEFAULTS, INTERVAL_MS / 1000, null]);
    assert.equal(await jobCount(), jobs);
  });

  it("refuses bad settings with 400 and changes nothing", async () => {
    const bad: unknown[] = [
      { enabled: "yes" }, { threshold: -1 }, { threshold: "1" }, { cooldown: 1.5 }, { cooldown: -1 },
      { max_moves: 0 }, { max_moves: 2.5 }, { enabeld: true }, 5, [true],
    ];
    for (const auto_balancing of bad) {
      const r = await call(c.master.port, "PUT", "/2/modify", { user: "writer", body: { auto_balancing } });
      assert.equal(r.status, 400, JSON.stringify(auto_balancing));
      assert.match(JSON.stringify(r.json), /auto_balancing/);
    }
    assert.equal((await call(c.master.port, "PUT", "/2/modify", { user: "reader", body: { auto_balancing: { enabled: true } } })).status, 403);
    assert.deepEqual(await setting(), AUTO_BALANCE_DEFAULTS);
  });

  it("starts no round while the score is under the threshold", async () => {
    const plan = await get<Plan>("/corral/1/balance");
    assert.ok(plan.moves.length > 0 && plan.initial_score > 0, "the piled-up cluster needs moves");
    await modify({ enabled: true, threshold: plan.initial_score + 1, cooldown: 0 });
    assert.deepEqual(await setting(), { enabled: true, threshold: plan.initial_score + 1, cooldown: 0, max_moves: AUTO_BALANCE_DEFAULTS.max_moves });
    const jobs = await jobCount();
    await afterChecks(3);
    assert.equal((await status()).last_round, null);
    assert.equal(await jobCount(), jobs);
  });

  it("submits the plan's first max_moves moves as jobs with the round in their reason trail, and the cluster scores what the plan said", async () => {
    const expected = await get<Plan>("/corral/1/balance?max-moves=1");
    assert.equal(expected.moves.length, 1);
    // Only the threshold and the move limit change; cooldown 3600 holds the next round back.
    await modify({ threshold: 0, max_moves: 1, cooldown: 3600 });
    const round = await roundNumbered(1);
    assert.equal(round.error, null);
    assert.equal(round.groups.length, 1);
    const [g] = round.groups;
    assert.deepEqual([g.group, g.moves, g.job_ids.length], ["default", 1, 1]);
    assert.ok(Math.abs(g.initial_score - expected.initial_score) < 1e-3, `round's score ${g.initial_score}, plan's ${expected.initial_score}`);

    const job = await c.client().waitForJob(g.job_ids[0]);
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    const ops = job.ops as { OP_ID: string; instance_name: string; reason: [string, string, number][] }[];
    assert.deepEqual(ops.map((op) => [op.OP_ID, op.instance_name]), [["OP_INSTANCE_MIGRATE", expected.moves[0].instance]]);
    const trail = ops[0].reason.find((r) => r[0] === "corral:autobalance");
    assert.ok(trail, JSON.stringify(ops[0].reason));
    assert.match(trail[1], /^round 1: group default: score [\d.]+ -> [\d.]+, 1 moves$/);

    const moved = await get<{ pnode: string }>(`/2/instances/${expected.moves[0].instance}`);
    assert.equal(moved.pnode, expected.moves[0].to.primary);
    // As in the POST /corral/1/balance test: every agent reports the one host file system's
    // free space, which drifts as tests write; every other term is what the plan said.
    const now = await get<Plan>("/corral/1/balance");
    for (const [name, planned] of Object.entries(expected.final_metrics)) {
      const tolerance = scoreTermTolerance(name);
      assert.ok(Math.abs(now.initial_metrics[name] - planned) < tolerance, `${name}: ${now.initial_metrics[name]} after the move, ${planned} planned`);
    }
    assert.ok(Math.abs(now.initial_score - g.final_score) < 1e-3, `score after the round ${now.initial_score}, planned ${g.final_score}`);
    assert.equal(roundLines(1).length, 1, "one log line per round");
    assert.match(roundLines(1)[0], new RegExp(`^automatic balancing round 1: group default score [\\d.]+ -> [\\d.]+, 1 moves \\(jobs ${g.job_ids[0]}\\)$`));
  });

  it("starts no second round within the cooldown, and the next once the cooldown is over", async () => {
    const still = await get<Plan>("/corral/1/balance");
    assert.ok(still.moves.length > 0, "one move left the cluster still unbalanced");
    const jobs = await jobCount();
    await afterChecks(5);
    assert.equal((await status()).last_round?.round, 1);
    assert.equal(await jobCount(), jobs);
    assert.deepEqual(roundLines(2), []);

    await modify({ cooldown: 0 });
    const second = await roundNumbered(2);
    assert.equal(second.round, 2);
    assert.deepEqual(second.groups.map((g) => g.moves), [1]);
    const job = await c.client().waitForJob(second.groups[0].job_ids[0]);
    assert.equal(job.status, "success", JSON.stringify(job.opresult));

    // Turned off, it stays off: no round after the one (if any) under way when it was.
    await modify({ enabled: false });
    await afterChecks(1);
    const last = (await status()).last_round?.round;
    const settled = await jobCount();
    await afterChecks(3);
    assert.equal((await status()).last_round?.round, last);
    assert.equal(await jobCount(), settled);
  });

  it("starts no round while a job of POST /corral/1/balance is unfinished", async () => {
    // Two more instances on node1 leave work for a round after the POST's move.
    await createTestInstance(c, "app6", "node1", "sharedfile", 1024);
    await createTestInstance(c, "app7", "node1", "sharedfile", 896);
    // A PAUSE rule holds the POST's job queued.
    const rule = await call(c.master.port, "POST", "/2/filters", {
      user: "writer", body: { priority: 1, action: "PAUSE", predicates: [["reason", ["=", "source", "gnt:library:rlib2:corral_balance"]]] },
    });
    assert.equal(rule.status, 200, rule.text);
    const posted = (await c.client().request("POST", "/corral/1/balance?max-moves=1")) as { job_ids: number[] };
    assert.equal(posted.job_ids.length, 1);
    const before = (await status()).last_round?.round ?? 0;
    await modify({ enabled: true, threshold: 0, cooldown: 0, max_moves: 1 });
    await afterChecks(3);
    assert.equal((await status()).last_round?.round ?? 0, before);
    assert.equal((await get<{ status: string }>(`/2/jobs/${posted.job_ids[0]}`)).status, "queued");

    // Once it is done, the next check starts a round.
    assert.equal((await call(c.master.port, "DELETE", `/2/filters/${rule.json as string}`, { user: "writer" })).status, 200);
    const done = await c.client().waitForJob(posted.job_ids[0]);
    assert.equal(done.status, "success", JSON.stringify(done.opresult));
    assert.ok((await get<Plan>("/corral/1/balance")).moves.length > 0, "moves are left for a round");
    const next = await roundNumbered(before + 1);
    for (const id of next.groups.flatMap((g) => g.job_ids)) await c.client().waitForJob(id);
    await modify({ enabled: false });
  });

  it("records and logs a failed round, and tries again only after the cooldown", async () => {
    // A tag the balancer does not model yet: every plan is refused.
    const tagged = await c.client().waitForJob((await c.client().request("PUT", "/2/tags?tag=htools:nlocation:rack1")) as number);
    assert.equal(tagged.status, "success");
    const before = (await status()).last_round?.round ?? 0;
    const jobs = await jobCount();
    // Cooldown 0: the failed round is tried again at the next check.
    await modify({ enabled: true, threshold: 0, cooldown: 0 });
    const failed = await roundNumbered(before + 2);
    assert.deepEqual(failed.groups, []);
    assert.match(failed.error ?? "", /htools:nlocation:rack1/);
    assert.equal(roundLines(before + 1).length, 1);
    assert.match(roundLines(before + 1)[0], /failed, next try after the cooldown \(0 s\): .*htools:nlocation:rack1/);
    // An hour's cooldown: no retry.
    await modify({ cooldown: 3600 });
    await afterChecks(1);
    const last = (await status()).last_round?.round;
    await afterChecks(3);
    assert.equal((await status()).last_round?.round, last, "no retry within the cooldown");
    await modify({ enabled: false });
    assert.equal(await jobCount(), jobs + 3, "only the three modify jobs");
  });

  it("keeps the last round across a master restart: shown, numbered on, and the cooldown counts from it", async () => {
    const kept = (await status()).last_round;
    assert.ok(kept && kept.error !== null, `the failed round of the test before: ${JSON.stringify(kept)}`);
    // No automatic job left in the queue: only the round kept on disk can hold the next one back.
    c.master.queue.archiveOld(0);
    await c.restart();
    const s = await status();
    assert.deepEqual([s.last_round, s.checks], [kept, 0], "the restarted master shows the round kept");
    await modify({ enabled: true, threshold: 0, cooldown: 3600 });
    await afterChecks(3);
    assert.deepEqual((await status()).last_round, kept, "no round within the kept round's cooldown");
    await modify({ cooldown: 0 });
    const next = await roundNumbered(kept.round + 1);
    assert.equal(next.round, kept.round + 1);
    await modify({ enabled: false });
    // Its moves (and any round started before it was turned off) end before the next test plans.
    await jobsSettled();
  });

  it("answers API tokens: reads need read on cluster; POST needs write on cluster, and its jobs write on the instances (else 403 and no job)", async () => {
    await jobsSettled();
    const untagged = await c.client().waitForJob((await c.client().request("DELETE", "/2/tags?tag=htools:nlocation:rack1")) as number);
    assert.equal(untagged.status, "success");
    await createTestInstance(c, "app8", "node1", "sharedfile", 1024);
    const token = async (grants: unknown[]) => {
      const r = await call(c.master.port, "POST", "/corral/1/tokens", { user: "writer", body: { grants, expires_in: 600 } });
      assert.equal(r.status, 200, r.text);
      return { headers: { Authorization: `Bearer ${(r.json as { token: string }).token}` } };
    };
    const clusterReader = await token([{ access: "read", kind: "cluster" }]);
    const nodeReader = await token([{ access: "read", kind: "node" }]);
    for (const path of ["/corral/1/balance", "/corral/1/balance/auto", "/corral/1/capacity", "/corral/1/verify"]) {
      assert.equal((await call(c.master.port, "GET", path, clusterReader)).status, 200, path);
      assert.equal((await call(c.master.port, "GET", path, nodeReader)).status, 403, path);
    }
    const jobs = c.master.queue.highestJobId();
    const refusedRoute = await call(c.master.port, "POST", "/corral/1/balance?max-moves=1", clusterReader);
    assert.equal(refusedRoute.status, 403, refusedRoute.text);
    assert.match((refusedRoute.json as { message: string }).message, /does not allow write on all clusters/);
    const clusterOnly = await token([{ access: "write", kind: "cluster" }, { access: "read", kind: "*" }]);
    const refusedJobs = await call(c.master.port, "POST", "/corral/1/balance?max-moves=1", clusterOnly);
    assert.equal(refusedJobs.status, 403, refusedJobs.text);
    assert.match((refusedJobs.json as { message: string }).message, /does not allow OP_INSTANCE_MIGRATE on instance app\d\.corral\.test/);
    assert.equal(c.master.queue.highestJobId(), jobs, "no job");

    const balancer = await token([{ access: "write", kind: "cluster" }, { access: "write", kind: "instance" }, { access: "read", kind: "*" }]);
    const applied = await call(c.master.port, "POST", "/corral/1/balance?max-moves=1", balancer);
    assert.equal(applied.status, 200, applied.text);
    const [id] = (applied.json as { job_ids: number[] }).job_ids;
    assert.equal((await c.client().waitForJob(id)).status, "success");
  });
});

// Issue 17's HA test: three real `corral master --store etcd://…` processes on a 3-member etcd;
// 8 clients submit tag jobs without pause, each round-robin over every running master (so writes
// through standbys are forwarded too); 10 times the leader (GET /corral/1/store) is killed -9,
// the time from the kill to the first write a surviving master accepts is measured, and the
// killed master is started again and must stand by. At the end: every acknowledged job is found
// and final on the leader and a successful one's tag is there; no job ran twice; job ids are
// unique and increase per client; the three masters agree on the tags and serials.
//
// Each client tags a node group of its own (an object holds at most 4096 tags, which one
// object under this load reaches). "No job ran twice" is counted: a tag job commits one change
// to its group, which bumps the group's serial_no by one even when the tag is there already,
// and each job's tag is its own; so each group's serial moved by exactly the number of the
// load's tags on it — a job run twice would move it once more.

import assert from "node:assert/strict";
import { it } from "node:test";
import { percentiles } from "../../bench/lib/stats.ts";
import { call, runJob, waitJob } from "../support/cluster.ts";
import { etcdNeeds } from "../support/etcd.ts";
import { etcdMastersSuite, sleep, storeOf, until } from "../support/ha-masters.ts";
import { killProcess, type MasterProcess } from "../support/process.ts";

const CLUSTER = "ha-kills";
const CLIENTS = 8;
const KILLS = 10;
/** Load between a restarted master standing by and the next kill. */
const LOAD_BETWEEN_KILLS_MS = 1000;
/**
 * A killed master started again listens within this (a start loads the job queue from etcd:
 * 4–10 s at load average 10–12 on two cores, over 20 s once at 22). Its times are printed.
 */
const RESTART_WITHIN_MS = 60_000;
/**
 * Issue 17: a standby answers writes within 3 s of the leader's kill -9 — the median of the ten
 * must be. ~2 s of each is the liveness lease's TTL (etcd's minimum), so a takeover on a starved
 * CPU sometimes needs more: at load average 12–22 three of six runs had one or two kills of ten
 * at 3.0–3.4 s (bench/README.md). Each kill must still be under the leader lease's 5 s TTL: the
 * liveness lease, not the leader lease running out, made the standby lead.
 */
const FAILOVER_MEDIAN_MS = 3000;
const FAILOVER_EACH_MS = 5000;
const LOAD_TAG = "k-";
/**
 * Jobs the leader acknowledges just before each kill and holds queued: a PAUSE filter rule
 * holds every job on the burst's group; after the failover the rule is deleted through a
 * surviving master and the new leader must run them. The steady load leaves no acknowledged
 * job queued at a kill (a leader runs a tag job by the time its submission is durable): a
 * test without the rule passed with a new leader that skipped recovered queued jobs.
 */
const BURST_BEFORE_KILL = 20;
const group = (c: number) => `g${c}`;
/** The burst's group: the one after the clients'. */
const BURST_GROUP = CLIENTS;
const PAUSE_BURST = { priority: 0, predicates: [["opcode", ["=", "name", group(BURST_GROUP)]]], action: "PAUSE", reason: [] };


/** Tags and serial_no of the cluster (its ETag "<uuid>-<serial_no>") and of each client's group, as the master on `port` reads them. */
async function configState(port: number): Promise<{ cluster: { tags: string[]; serial: number }; groups: { tags: string[]; serial: number }[] }> {
  const info = await call(port, "GET", "/2/info");
  assert.equal(info.status, 200, info.text);
  const serial = Number(/-(\d+)"$/.exec(String(info.headers.etag))?.[1]);
  assert.ok(Number.isInteger(serial), `no serial in /2/info's ETag ${String(info.headers.etag)}`);
  const tags = await call(port, "GET", "/2/tags");
  assert.equal(tags.status, 200, tags.text);
  const groups = await Promise.all(
    Array.from({ length: CLIENTS + 1 }, async (_, c) => {
      const r = await call(port, "GET", `/2/groups/${group(c)}`);
      assert.equal(r.status, 200, r.text);
      const g = r.json as { tags: string[]; serial_no: number };
      return { tags: g.tags.slice().sort(), serial: g.serial_no };
    }),
  );
  return { cluster: { tags: (tags.json as string[]).slice().sort(), serial }, groups };
}

interface Ack {
  id: number;
  tag: string;
  client: number;
}
/** One kill: which master, when, and the first write a surviving master accepted after it. */
interface Kill {
  killed: string;
  killedAt: number;
  acceptedAt?: number;
  /** The killed master's start again → it answers as a standby, ms. */
  restartMs?: number;
  /** What it logged until it listened: where a slow start spent its time. */
  restartLog?: string;
  /** Answers other than 200 while the round lasted, by status or error. */
  refused: Record<string, number>;
  /** The new leader's establish hooks (loading, recovering the queue), ms, as it logged. */
  takeoverMs?: number;
}

etcdNeeds.describe("kill -9 of the leading master, 10 times, under an 8-client job load (three masters on a 3-member etcd)", () => {
  const suite = etcdMastersSuite("corral-etcd-kills-");

  it("a surviving master takes writes within 3 s of each kill; every acknowledged job is final, none ran twice, all masters agree", async () => {
    const masters = suite.masters;
    // The running masters, by name; clients pick among them.
    const running = new Map<string, MasterProcess>();
    running.set("m0", await masters.start("m0", CLUSTER));
    await until("m0 leads", 15_000, async () => (await storeOf(running.get("m0")!.port)).role === "leader");
    for (const name of ["m1", "m2"]) running.set(name, await masters.start(name, CLUSTER));
    for (const name of ["m1", "m2"]) assert.equal((await storeOf(running.get(name)!.port)).role, "standby");
    for (let c = 0; c <= BURST_GROUP; c++) assert.equal((await runJob(running.get("m0")!.port, "POST", "/2/groups", { group_name: group(c) })).status, "success");
    const before = await configState(running.get("m0")!.port);

    const acked: Ack[] = [];
    const kills: Kill[] = [];
    const otherAnswers: Record<string, number> = {};
    let stop = false;
    const client = async (c: number) => {
      for (let n = 0; !stop; n++) {
        const ports = [...running.values()].map((m) => m.port);
        const tag = `${LOAD_TAG}c${c}n${n}`;
        const sentAt = performance.now();
        const r = await call(ports[(c + n) % ports.length], "PUT", `/2/groups/${group(c)}/tags?tag=${tag}`, { user: "writer" }).catch((err: Error) => err);
        const kill = kills.at(-1);
        if (!(r instanceof Error) && r.status === 200) {
          assert.equal(typeof r.json, "number", r.text);
          acked.push({ id: r.json as number, tag, client: c });
          if (kill && kill.acceptedAt === undefined && sentAt >= kill.killedAt) kill.acceptedAt = performance.now();
          continue;
        }
        const why = r instanceof Error ? ((r as NodeJS.ErrnoException).code ?? r.message.slice(0, 40)) : String(r.status);
        const into = kill && kill.acceptedAt === undefined ? kill.refused : otherAnswers;
        into[why] = (into[why] ?? 0) + 1;
        await sleep(20);
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));

    const leaderNow = async (): Promise<string> => {
      let leader: string | undefined;
      await until("one leader that every standby names", 15_000, async () => {
        const views = await Promise.all([...running].map(async ([name, m]) => ({ name, view: await storeOf(m.port) })));
        const leaders = views.filter((v) => v.view.role === "leader");
        if (leaders.length !== 1) return false;
        leader = leaders[0].name;
        return views.every((v) => v.name === leader || (v.view.role === "standby" && v.view.leader?.name === leader));
      });
      return leader!;
    };

    const killLeaders = async () => {
      for (let k = 0; k < KILLS; k++) {
        await sleep(LOAD_BETWEEN_KILLS_MS);
        await killLeader(k);
      }
    };
    const killLeader = async (k: number) => {
      const killed = await leaderNow();
      const { proc, port } = running.get(killed)!;
      // Acknowledged and held queued: the leader dies with them.
      const rule = await call(port, "POST", "/2/filters", { user: "writer", body: PAUSE_BURST });
      assert.equal(rule.status, 200, rule.text);
      const burst: number[] = [];
      for (let i = 0; i < BURST_BEFORE_KILL; i++) {
        const tag = `${LOAD_TAG}burst${k}-${i}`;
        const r = await call(port, "PUT", `/2/groups/${group(BURST_GROUP)}/tags?tag=${tag}`, { user: "writer" });
        assert.equal(r.status, 200, r.text);
        acked.push({ id: r.json as number, tag, client: BURST_GROUP });
        burst.push(r.json as number);
      }
      assert.equal(((await call(port, "GET", `/2/jobs/${burst.at(-1)}`)).json as { status: string }).status, "queued", "the burst is held");
      running.delete(killed); // clients stop picking it; requests in flight to it fail
      await killProcess(proc);
      const kill: Kill = { killed, killedAt: performance.now(), refused: {} };
      kills.push(kill);
      await until(`kill ${k + 1} (${killed}): a write accepted by a surviving master`, 20_000, async () => kill.acceptedAt !== undefined);
      const survivor = [...running.values()][0].port;
      const newLeader = running.get(await leaderNow());
      const took = [...(newLeader ? masters.log(newLeader.port) : "").matchAll(/taking over took (\d+) ms/g)].at(-1);
      if (took) kill.takeoverMs = Number(took[1]);
      await until(`kill ${k + 1}: the pause rule deleted`, 10_000, async () => (await call(survivor, "DELETE", `/2/filters/${rule.json as string}`, { user: "writer" })).status === 200);
      // The killed master, started again on its data directory, stands by.
      const restartAt = performance.now();
      const again = await masters.start(killed, CLUSTER, { withinMs: RESTART_WITHIN_MS });
      assert.equal((await storeOf(again.port)).role, "standby", `${killed} started again`);
      kill.restartMs = Math.round(performance.now() - restartAt);
      kill.restartLog = again.startLog;
      running.set(killed, again);
    };
    // However the kills end, the clients stop (or they would keep the test's process alive).
    try {
      await killLeaders();
    } finally {
      stop = true;
      await Promise.allSettled(clients);
    }
    await Promise.all(clients);
    const times = kills.map((k) => Math.round(k.acceptedAt! - k.killedAt));
    const p = percentiles(times);
    const slowest = kills.reduce((a, b) => ((b.restartMs ?? 0) > (a.restartMs ?? 0) ? b : a));
    const startLines = (slowest.restartLog ?? "").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { time: string; msg: string });
    console.log(`the slowest restart (${slowest.restartMs} ms), what it logged:\n${startLines.map((l) => `  ${l.time} ${l.msg.slice(0, 120)}`).join("\n")}`);
    console.log(
      `kill -9 of the leader → first write accepted by a surviving master, ${KILLS} kills under ${CLIENTS} clients: min ${Math.min(...times)} · p50 ${p.p50} · p90 ${p.p90} · max ${p.max} ms (${times.join(", ")}); ` +
        `answers before it: ${kills.map((k) => JSON.stringify(k.refused)).join(" ")}; other refusals ${JSON.stringify(otherAnswers)}; restarts as standby ${kills.map((k) => k.restartMs).join(", ")} ms; takeovers (the new leader's loading) ${kills.map((k) => k.takeoverMs ?? "?").join(", ")} ms; ${acked.length} jobs acknowledged`,
    );

    // Every acknowledged job is on the leader, final; one that succeeded did its work.
    const leader = running.get(await leaderNow())!;
    const final = await configState(leader.port);
    const tags = new Set(final.groups.flatMap((g) => g.tags));
    const statuses: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < acked.length) {
          const { id, tag } = acked[next++];
          const job = await waitJob(leader.port, id, 20_000).catch(async (err: Error) => assert.fail(`${err.message}\n${await masters.whereIs(CLUSTER, id, leader.port)}`));
          const status = job.status as string;
          assert.ok(status === "success" || status === "error", `job ${id}: ${status}`);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === "error") {
            const why = JSON.stringify(job.opresult).slice(0, 120);
            errors[why] = (errors[why] ?? 0) + 1;
          }
          if (status === "success") assert.ok(tags.has(tag), `job ${id} succeeded but its tag ${tag} is missing`);
        }
      }),
    );
    // Job ids: unique, and increasing in the order each client was given them.
    assert.equal(new Set(acked.map((a) => a.id)).size, acked.length, "a job id acknowledged twice");
    for (let c = 0; c < CLIENTS; c++) {
      const ids = acked.filter((a) => a.client === c).map((a) => a.id);
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `client ${c}: job id ${ids[i]} after ${ids[i - 1]}`);
    }
    // No job ran twice: each group's serial moved once per tag the load added to it (acknowledged or not).
    let loadTags = 0;
    for (let c = 0; c <= BURST_GROUP; c++) {
      const [was, is] = [before.groups[c], final.groups[c]];
      const added = is.tags.filter((t) => t.startsWith(LOAD_TAG)).length;
      assert.equal(is.serial - was.serial, added, `${group(c)}'s serial moved ${is.serial - was.serial} times for ${added} tags: a job committed twice`);
      loadTags += added;
    }
    assert.ok(loadTags >= (statuses.success ?? 0), "fewer load tags than successful jobs");
    // The three masters read the same tags and serials.
    for (const [name, m] of running) {
      await until(`${name} reads the leader's tags and serials`, 5000, async () => JSON.stringify(await configState(m.port)) === JSON.stringify(final));
    }
    console.log(`acknowledged jobs: ${JSON.stringify(statuses)} (errors: ${JSON.stringify(errors)}); load tags ${loadTags}; group serials ${before.groups.map((g) => g.serial).join(",")} → ${final.groups.map((g) => g.serial).join(",")}`);
    for (const [k, ms] of times.entries()) assert.ok(ms <= FAILOVER_EACH_MS, `kill ${k + 1} (${kills[k].killed}): ${ms} ms to a write accepted, over ${FAILOVER_EACH_MS} ms`);
    const median = [...times].sort((a, b) => a - b)[Math.floor((times.length - 1) / 2)];
    assert.ok(median <= FAILOVER_MEDIAN_MS, `the median failover ${median} ms is over ${FAILOVER_MEDIAN_MS} ms (all: ${times.join(", ")})`);
  });
});

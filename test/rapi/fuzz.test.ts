// A bounded, seeded fuzz of both APIs: random routes of the RAPI and PVC tables, random methods,
// path parameters (existing objects, missing ones, odd characters), query strings and bodies
// (random JSON up to ~50 levels deep, huge numbers, wrong types, wrong content types), as a
// writer, a reader and anonymously. No answer may be a 5xx that Ganeti does not give for that
// case, or show a stack trace or JS error text; jobs may run, but fail only with Ganeti-style
// errors; reads and anonymous requests never change anything; the master still answers fast.
//
// CORRAL_FUZZ_SEED=N replays a run (the seed is printed); CORRAL_FUZZ_REQUESTS and
// CORRAL_FUZZ_SECONDS change its size (10,000 requests, 60 s at most, by default).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { call, type Reply } from "../support/cluster.ts";
import { Gen, makeRequest, type FuzzRequest, type Who } from "../support/fuzzgen.ts";
import {
  allRoutes, answerProblems, firstDifference, isGaneti5xx, jobProblems, MISSING_PARAMS, PVC_TOKEN, startHostileCluster, type HostileCluster,
} from "../support/hostile.ts";

const SEED = Number(process.env.CORRAL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = Number(process.env.CORRAL_FUZZ_REQUESTS ?? 10_000);
const BUDGET_MS = Number(process.env.CORRAL_FUZZ_SECONDS ?? 60) * 1000;
/** Requests in flight at once: the machine has two cores, shared with the master under test. */
const CONCURRENCY = 4;
/** Alternating rounds of writer requests and of read-only/anonymous ones (checked to change nothing). */
const ROUNDS = 10;

/** Opcodes that only read, which public GETs submit as jobs. */
const READ_ONLY_OPCODES = new Set(["OP_INSTANCE_QUERY_DATA", "OP_OS_DIAGNOSE"]);

describe(`fuzz: ${REQUESTS} requests, ${BUDGET_MS / 1000} s at most, seed ${SEED} (CORRAL_FUZZ_SEED=${SEED} replays it)`, () => {
  let h: HostileCluster;
  before(async () => {
    h = await startHostileCluster();
  });
  after(() => h?.close());

  it("answers cleanly, never changes state for readers or anonymous clients, and keeps serving", { timeout: BUDGET_MS + 180_000 }, async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const g = new Gen(SEED);
    const routes = allRoutes();
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    /** The 5xx answers seen besides 501 (each one Ganeti's own for its case, or a problem): shown, to be read. */
    const ganeti5xx = new Set<string>();
    const deadline = Date.now() + BUDGET_MS;
    let sent = 0;

    const send = async (r: FuzzRequest): Promise<void> => {
      let res: Reply;
      const line = `${r.who} ${r.method} ${r.path.slice(0, 200)} ${String(r.o.contentType)} ${(r.o.rawBody ?? "").slice(0, 160)}`;
      try {
        res = await call(r.route.api === "rapi" ? h.rapiPort : h.pvcPort, r.method, r.path, r.o);
      } catch (err) {
        problems.push(`${line}: no answer (${err instanceof Error ? err.message : String(err)})`);
        return;
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      problems.push(...answerProblems(r.route.api, res).map((p) => `${line} -> ${res.status}: ${p}`));
      if (res.status > 501) ganeti5xx.add(`${r.method} ${r.route.pattern} ${res.status} ${String((res.json as { message?: unknown } | undefined)?.message).slice(0, 40)}`);
      else if (res.status === 500) ganeti5xx.add(`${r.method} ${r.route.pattern} 500`);
      if (res.status >= 500 && !isGaneti5xx(r.route, r.method, res)) problems.push(`${line} -> ${res.status}: a 5xx Ganeti does not give here: ${res.text.slice(0, 200)}`);
      // RAPI refuses every change from a reader or anonymous client before it happens.
      if (r.who !== "writer" && r.route.api === "rapi" && r.method !== "GET" && res.status < 400) problems.push(`${line} -> ${res.status}: accepted from a ${r.who}`);
    };

    /** Runs `count` requests of the given kinds, CONCURRENCY at a time, until the deadline. */
    const runBatch = async (count: number, kinds: readonly Who[]) => {
      const batch = Array.from({ length: count }, () => makeRequest(g, routes, g.pick(kinds), { existing: h.existing, missing: MISSING_PARAMS, pvcToken: PVC_TOKEN }));
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < batch.length && Date.now() < deadline) {
          const r = batch[next++];
          sent++;
          await send(r);
        }
      }));
    };

    const perRound = Math.ceil(REQUESTS / ROUNDS);
    for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
      // Writers first (two thirds of the requests); their jobs finish, fixtures are put back.
      await runBatch(Math.ceil((perRound * 2) / 3), ["writer"]);
      await h.repair();
      // Then readers and anonymous clients alone: the state must be the same afterwards.
      const before = await h.fingerprint();
      const lastJob = h.c.master.queue.highestJobId();
      await runBatch(Math.floor(perRound / 3), ["reader", "anonymous"]);
      // Public reads may submit query jobs (GET /2/instances/X/info and GET /2/os do, as in Ganeti); nothing else.
      const submitted = [...h.c.master.queue.all()].filter((j) => j.id > lastJob).flatMap((j) => j.ops.map((op) => String(op.input.OP_ID)));
      const notQueries = submitted.filter((id) => !READ_ONLY_OPCODES.has(id));
      if (notQueries.length > 0) problems.push(`round ${round}: readers or anonymous clients submitted ${notQueries.join(", ")}`);
      const afterReads = await h.fingerprint();
      if (afterReads !== before) problems.push(`round ${round}: reads and anonymous requests changed state: ${firstDifference(before, afterReads)}`);
    }

    await h.c.master.queue.idle();
    const jobs = [...h.c.master.queue.all()];
    problems.push(...jobProblems(jobs));
    t.diagnostic(`5xx answers: ${[...ganeti5xx].sort().join(" | ")}`);
    t.diagnostic(`sent ${sent} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${jobs.length} jobs`);
    assert.deepEqual(problems.slice(0, 50), [], `${problems.length} problems (seed ${SEED})`);
    assert.ok(sent >= Math.min(REQUESTS, 1000), `only ${sent} requests in the time budget`);

    const started = performance.now();
    assert.equal((await call(h.rapiPort, "GET", "/version")).text, "2\n");
    const ms = performance.now() - started;
    assert.ok(ms < 500, `GET /version took ${ms.toFixed(0)} ms after the fuzz`);
    assert.equal((await h.pvcCall("GET", "/api/v1")).status, 209);
  });
});

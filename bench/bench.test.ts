// The bench at toy sizes with one-second measures: it must run end to end and write a
// complete result file. How fast anything is, is not this test's business.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { etcdNeeds } from "../test/support/etcd.ts";
import type { BenchResult } from "./lib/report.ts";

const RUN = fileURLToPath(new URL("./run.sh", import.meta.url));

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return runScript("bash", [RUN, ...args], timeoutMs);
}

function runScript(command: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const guard = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(guard);
      resolve({ code, output });
    });
  });
}

const isNumber = (x: unknown) => typeof x === "number" && Number.isFinite(x);

describe("bench/run.sh --tiny", () => {
  const out = mkdtempSync(join(tmpdir(), "corral-bench-"));
  after(() => rmSync(out, { recursive: true, force: true }));

  it("writes a complete result (JSON and Markdown) for every measure", { timeout: 240_000 }, async () => {
    const { code, output } = await runBench(["--tiny", "--out", out], 200_000);
    assert.equal(code, 0, output);

    const files = readdirSync(out);
    assert.ok(files.some((f) => /-tiny\.json$/.test(f)), `no result JSON in ${files.join(", ")}`);
    assert.ok(files.includes("latest.md"));
    const r = JSON.parse(readFileSync(join(out, "latest.json"), "utf8")) as BenchResult;

    assert.equal(r.schema, 1);
    assert.equal(r.mode, "tiny");
    for (const k of ["nproc", "memory_gib", "cpu_model", "node", "wrk"] as const) assert.ok(r.machine[k], `machine.${k}`);

    const s = r.small;
    assert.ok(s.cluster.instances > 0 && s.cluster.build.length > 0);
    assert.ok(isNumber(s.startup.ready_ms));
    for (const w of [s.info.corral, s.info.ceiling]) {
      assert.ok(w.requests > 0 && isNumber(w.req_per_s) && isNumber(w.latency_ms.p50) && isNumber(w.latency_ms.p99));
    }
    // Until GET /2/instances exists this measure says so instead of failing.
    const bulk = s.instances_bulk.corral;
    if ("available" in bulk) assert.match(bulk.note, /not available yet/);
    else assert.ok(bulk.requests > 0);

    const burst = s.tag_burst.corral;
    assert.equal(burst.jobs, 10);
    assert.equal(burst.statuses.success, 10);
    assert.ok(isNumber(burst.jobs_per_s) && isNumber(burst.latency_ms.p50));
    assert.ok(s.tag_burst.corral_first && s.tag_burst.corral_first.jobs === 10);
    const h = s.hostile;
    assert.ok(h && !("available" in h), "the hostile run ran");
    if (h && !("available" in h)) {
      // The bursts again under the attack; the attacker did something of each kind and stopped by itself.
      assert.equal(h.burst.jobs, 10);
      assert.equal(h.burst.statuses.success, 10);
      assert.ok(isNumber(h.ratio) && h.ratio > 0 && h.quiet_jobs_per_s === burst.jobs_per_s);
      assert.ok(h.attack.fuzz.requests > 0 && Object.keys(h.attack.fuzz.by_class).length > 0, JSON.stringify(h.attack.fuzz));
      assert.ok(h.attack.slow.connections >= h.attack.slow.body_clients + h.attack.slow.header_clients, JSON.stringify(h.attack.slow));
      assert.ok(h.attack.seconds < 30);
    }
    const hostileJobs = h && !("available" in h) ? h.job_ids.length : 0;
    assert.equal(s.tag_burst.durability.checked, 10 * (1 + (s.tag_burst.corral_runs_jobs_per_s?.length ?? 0)) + s.single_job.corral.jobs + hostileJobs);
    assert.equal(s.tag_burst.durability.ok, true);
    assert.equal(s.single_job.corral.statuses.success, s.single_job.corral.jobs);
    assert.ok(isNumber(s.memory_after_measures?.rss_mib));

    assert.ok(!("available" in r.big), "the large-cluster phase ran");
    if (!("available" in r.big)) {
      assert.equal(r.big.cluster.instances, 200);
      assert.ok(r.big.startups.length >= 1 && isNumber(r.big.startup_ms));
      assert.ok(isNumber(r.big.memory_after_lists.peak_rss_mib));
    }
    // The event stream: bursts with no listener, with --listeners (20 in --tiny), none again.
    const ev = r.events;
    assert.ok(ev && !("available" in ev), `the event stream measure ran: ${JSON.stringify(ev)}`);
    if (ev && !("available" in ev)) {
      assert.equal(ev.listeners, 20);
      for (const series of [ev.quiet_before, ev.with_listeners, ev.quiet_after]) {
        assert.equal(series.median.statuses.success, series.median.jobs);
        assert.ok(isNumber(series.median.jobs_per_s) && isNumber(series.master_cpu_ms_per_job));
      }
      assert.ok(isNumber(ev.ratio) && ev.ratio > 0);
      assert.deepEqual(ev.connect.failed, {});
      assert.equal(ev.delivery.complete, 20, "every listener saw every job's end");
      assert.equal(ev.delivery.job_ends_seen, 20 * ev.delivery.jobs);
      assert.equal(ev.summary.out_of_order, 0);
      assert.equal(ev.summary.overflows, 0);
      assert.ok(r.targets.some((t) => t.measure.includes("event stream listeners")));
    }
    assert.ok(r.targets.length >= 8);
    const md = readFileSync(join(out, "latest.md"), "utf8");
    assert.ok(md.includes("| GET /2/info |"));
    assert.ok(md.includes("under attack"));
    assert.ok(md.includes("GET /corral/1/events"));
  });
});

etcdNeeds.describe("bench/ha.ts --tiny (etcd mode beside SQLite mode, issue 17)", () => {
  const out = mkdtempSync(join(tmpdir(), "corral-bench-ha-"));
  after(() => rmSync(out, { recursive: true, force: true }));

  it("measures both modes, reads on the standby and two failovers under a 2-client load, and writes the result", { timeout: 120_000 }, async () => {
    const ha = fileURLToPath(new URL("./ha.ts", import.meta.url));
    const { code, output } = await runScript(process.execPath, ["--disable-warning=ExperimentalWarning", ha, "--tiny", "--out", out], 100_000);
    assert.equal(code, 0, output);
    const file = readdirSync(out).find((f) => f.endsWith("-ha.json"));
    assert.ok(file && readdirSync(out).includes(file.replace(/json$/, "md")), readdirSync(out).join(", "));
    const r = JSON.parse(readFileSync(join(out, file), "utf8")) as {
      sizes: { rounds: number; kills: number };
      sqlite: Record<string, number[]>;
      etcd: Record<string, number[]>;
      ratios: Record<string, number>;
      failover: {
        kills: { write_accepted_ms: number; job_status: string }[];
        load: { clients: number; acked: number; statuses: Record<string, number> };
        write_accepted_ms: { min: number; median: number; max: number };
      };
    };
    for (const k of ["jobsPerS", "singleP50Ms", "masterCpuMsPerJob", "infoPerS", "bulkPerS"]) {
      assert.equal(r.sqlite[k].length, r.sizes.rounds, `sqlite.${k}`);
      assert.equal(r.etcd[k].length, r.sizes.rounds, `etcd.${k}`);
      assert.ok([...r.sqlite[k], ...r.etcd[k]].every((x) => isNumber(x) && x > 0), `${k}: ${r.sqlite[k]} / ${r.etcd[k]}`);
    }
    // The etcd side really ran on etcd: its members worked and committed raft proposals for the
    // jobs (fewer than one a job: several jobs' writes share a group-committed txn, and job ids
    // come from reserved blocks), and its standby answered reads.
    for (const k of ["proposalsPerJob", "etcdCpuMsPerJob", "standbyCpuMsPerJob", "walFsyncMs", "standbyInfoPerS", "standbyBulkPerS"]) assert.equal(r.etcd[k].length, r.sizes.rounds, `etcd.${k}`);
    assert.ok(r.etcd.proposalsPerJob.every((x) => x > 0), `proposals per job ${r.etcd.proposalsPerJob}`);
    assert.ok(r.etcd.etcdCpuMsPerJob.every((x) => x > 0), `etcd CPU per job ${r.etcd.etcdCpuMsPerJob}`);
    assert.ok([...r.etcd.standbyInfoPerS, ...r.etcd.standbyBulkPerS].every((x) => x > 0));
    assert.equal(r.sqlite.proposalsPerJob.length, 0);
    for (const k of ["jobs_per_s", "single_p50", "info", "bulk", "standby_info", "standby_bulk"]) assert.ok(isNumber(r.ratios[k]) && r.ratios[k] > 0, `ratio ${k}`);
    // Two kill -9 failovers: a write accepted through the standby after each, its job run; no
    // sooner than the 2 s liveness lease allows, nor later than the bench's bound.
    assert.equal(r.failover.kills.length, 2);
    for (const k of r.failover.kills) {
      assert.ok(k.write_accepted_ms > 1000 && k.write_accepted_ms < 30_000, `failover ${k.write_accepted_ms} ms`);
      assert.equal(k.job_status, "success");
    }
    assert.ok(r.failover.write_accepted_ms.min <= r.failover.write_accepted_ms.median && r.failover.write_accepted_ms.median <= r.failover.write_accepted_ms.max);
    // Under load: two clients' jobs went on through the kills, each found final on the last leader.
    const { load } = r.failover;
    assert.equal(load.clients, 2);
    assert.ok(load.acked > 0, "no load job acknowledged");
    assert.equal(Object.values(load.statuses).reduce((a, b) => a + b, 0), load.acked, JSON.stringify(load));
    assert.deepEqual(Object.keys(load.statuses).filter((s) => s !== "success" && s !== "error"), [], JSON.stringify(load.statuses));
  });
});

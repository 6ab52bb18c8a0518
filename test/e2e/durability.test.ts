// A killed master loses no acknowledged job and no committed config: the master runs as a
// real process, is killed with SIGKILL right after a submit returns, and is started again.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SqliteJobStore } from "../../src/jobs/writer.ts";
import { LOST_JOB_MESSAGE } from "../../src/jobs/state.ts";
import { timestampNow, type Job } from "../../src/model/job.ts";
import { openDatabase } from "../../src/store/sqlite.ts";
import { call, usersFileText, waitJob } from "../support/cluster.ts";
import { killProcess, startMasterProcess } from "../support/process.ts";

/** The smallest instance the default policy allows: a sparse file disk, the shipped test OS. */
function crashCreateBody(name: string): Record<string, unknown> {
  return {
    __version__: 1, mode: "create", name, disk_template: "file", disks: [{ size: 1024 }], nics: [{}],
    os_type: "corral-marker+minimal", beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, start: false,
    ip_check: false, name_check: false,
  };
}

const startProcess = startMasterProcess;
const kill = killProcess;

describe("durability", () => {
  const dirs: string[] = [];
  const procs: ChildProcess[] = [];
  after(async () => {
    for (const p of procs) await kill(p);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const newDataDir = () => {
    const d = mkdtempSync(join(tmpdir(), "corral-durable-"));
    dirs.push(d);
    const users = join(d, "users");
    writeFileSync(users, usersFileText());
    return { dataDir: join(d, "data"), users };
  };

  it("finds every acknowledged job and its effect after SIGKILL", async () => {
    const { dataDir, users } = newDataDir();
    let { proc, port } = await startProcess(dataDir, users);
    procs.push(proc);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call(port, "PUT", `/2/tags?tag=t${i}`, { user: "writer" });
      ids.push(r.json as number);
    }
    await kill(proc); // right after the last submit returned

    ({ proc, port } = await startProcess(dataDir, users));
    procs.push(proc);
    for (const id of ids) {
      const job = await waitJob(port, id);
      assert.equal(job.id, id);
      assert.equal(job.status, "success", `job ${id}`);
    }
    const tags = (await call(port, "GET", "/2/tags")).json as string[];
    assert.deepEqual(tags, ["t0", "t1", "t2", "t3", "t4"]);
    const next = (await call(port, "PUT", "/2/tags?tag=after", { user: "writer" })).json as number;
    assert.ok(next > Math.max(...ids), "job ids keep increasing across restarts");
    await kill(proc);
  });

  it("loses no acknowledged job when killed while eight clients' jobs are running", async () => {
    const { dataDir, users } = newDataDir();
    let { proc, port } = await startProcess(dataDir, users);
    procs.push(proc);
    // Eight 1-vCPU instances on one node of maybe 2 CPUs: more than hail's CPU rule lets in at
    // the default vcpu-ratio 4 (the node's own CPUs count too). This test is about durability.
    const ratio = await call(port, "PUT", "/2/modify", { user: "writer", body: { ipolicy: { "vcpu-ratio": 32 } } });
    assert.equal((await waitJob(port, ratio.json as number)).status, "success");
    // One instance per client; reinstalling it runs the OS's create script (a real process).
    const instance = (c: number) => `crash${c}.corral.test`;
    for (let c = 0; c < 8; c++) {
      const r = await call(port, "POST", "/2/instances", { user: "writer", body: crashCreateBody(instance(c)) });
      const job = await waitJob(port, r.json as number);
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
    }
    // Acknowledged jobs: id → the tag it sets (on an instance or the cluster), or none.
    const acked = new Map<number, { tag?: string; on?: string }>();
    for (let round = 0; round < 3; round++) {
      let stop = false;
      const client = async (c: number) => {
        for (let n = 0; !stop; n++) {
          const tag = `r${round}c${c}n${n}`;
          const [path, what] =
            n % 3 === 0 ? [`/2/instances/${instance(c)}/reinstall?os=corral-marker%2Bminimal&nostartup=1`, {}]
            : n % 3 === 1 ? [`/2/instances/${instance(c)}/tags?tag=${tag}`, { tag, on: instance(c) }]
            : [`/2/tags?tag=${tag}`, { tag }];
          try {
            const r = await call(port, n % 3 === 0 ? "POST" : "PUT", path, { user: "writer" });
            if (r.status === 200 && typeof r.json === "number") acked.set(r.json, what);
            else assert.fail(`${path}: ${r.status} ${r.text}`);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            return; // the master is gone: this request was never acknowledged
          }
        }
      };
      const clients = Array.from({ length: 8 }, (_, c) => client(c));
      await new Promise((r) => setTimeout(r, 1000));
      const states = ((await call(port, "GET", "/2/jobs?bulk=1")).json as { status: string }[]).map((j) => j.status);
      await kill(proc);
      stop = true;
      await Promise.all(clients);
      assert.ok(states.includes("running"), `round ${round}: jobs were running at the kill`);
      ({ proc, port } = await startProcess(dataDir, users));
      procs.push(proc);
    }

    assert.ok(acked.size > 50, `only ${acked.size} jobs were acknowledged`);
    // Queued jobs run again after the last restart: read the effects once all have ended.
    const jobs = new Map<number, Record<string, unknown>>();
    for (const id of acked.keys()) jobs.set(id, await waitJob(port, id, 60_000));
    const clusterTags = new Set((await call(port, "GET", "/2/tags")).json as string[]);
    const instanceTags = new Map<string, Set<string>>();
    for (let c = 0; c < 8; c++) {
      instanceTags.set(instance(c), new Set((await call(port, "GET", `/2/instances/${instance(c)}/tags`)).json as string[]));
    }
    let lost = 0;
    for (const [id, what] of acked) {
      const job = jobs.get(id)!;
      assert.equal(job.id, id);
      // Finished, or lost mid-run (and then said so); never missing, never stuck.
      if (job.status === "error") {
        // The opcodes before the lost one succeeded (result null); the first error says why.
        const firstError = (job.opresult as unknown[]).find((r) => r !== null);
        assert.deepEqual(firstError, ["OpExecError", [LOST_JOB_MESSAGE]], `job ${id}`);
        lost++;
        continue;
      }
      assert.equal(job.status, "success", `job ${id}`);
      if (what.tag === undefined) continue;
      const tags = what.on === undefined ? clusterTags : instanceTags.get(what.on)!;
      assert.ok(tags.has(what.tag), `tag ${what.tag} of job ${id}`);
    }
    // Only jobs running at a kill are lost; most acknowledged jobs had finished or were queued.
    assert.ok(lost < acked.size / 4, `${lost} of ${acked.size} jobs lost mid-run`);
  });

  it("runs queued jobs after a restart and fails the ones that were running", async () => {
    const { dataDir, users } = newDataDir();
    let { proc } = await startProcess(dataDir, users);
    procs.push(proc);
    await kill(proc);

    // Leave the queue as a crash mid-run would: one job running, one queued.
    const db = openDatabase(join(dataDir, "config.db"));
    const writer = new SqliteJobStore(db);
    const op = (tags: string[], status: Job["ops"][number]["status"]) => ({
      input: { OP_ID: "OP_TAGS_SET", kind: "cluster", tags, name: null, dry_run: false, debug_level: 0, priority: 0, depends: null, comment: null, reason: [] },
      status,
      result: null,
      log: [],
      priority: 0,
      start_timestamp: status === "running" ? timestampNow() : null,
      exec_timestamp: status === "running" ? timestampNow() : null,
      end_timestamp: null,
    });
    const base = { received_ts: timestampNow(), end_ts: null, log_serial: 0, archived: false };
    await writer.write({ ...base, id: 101, ops: [op(["was-running"], "running")], start_ts: timestampNow() });
    await writer.write({ ...base, id: 102, ops: [op(["was-queued"], "queued")], start_ts: null });
    db.close();

    let port: number;
    ({ proc, port } = await startProcess(dataDir, users));
    procs.push(proc);
    const lost = await waitJob(port, 101);
    assert.equal(lost.status, "error");
    assert.deepEqual(lost.opresult, [["OpExecError", [LOST_JOB_MESSAGE]]]);
    const queued = await waitJob(port, 102);
    assert.equal(queued.status, "success");
    assert.deepEqual((await call(port, "GET", "/2/tags")).json, ["was-queued"]);
    await kill(proc);
  });
});

// A killed master loses no acknowledged job and no committed config: the master runs as a
// real process, is killed with SIGKILL right after a submit returns, and is started again.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { JobWriter } from "../../src/jobs/writer.ts";
import { LOST_JOB_MESSAGE } from "../../src/jobs/queue.ts";
import { timestampNow, type Job } from "../../src/model/job.ts";
import { openDatabase } from "../../src/store/sqlite.ts";
import { call, usersFileText, waitJob } from "../support/cluster.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));

async function startProcess(dataDir: string, usersFile: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(CORRAL, ["master", "--no-ssl", "-b", "127.0.0.1", "-p", "0", "--data-dir", dataDir, "--users-file", usersFile, "--node-name", "node1.corral.test"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`master did not start: ${seen}`)), 20_000);
    proc.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /RAPI listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => reject(new Error(`master exited with ${code}: ${seen}`)));
  });
  return { proc, port };
}

function kill(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill("SIGKILL");
  });
}

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

  it("runs queued jobs after a restart and fails the ones that were running", async () => {
    const { dataDir, users } = newDataDir();
    let { proc } = await startProcess(dataDir, users);
    procs.push(proc);
    await kill(proc);

    // Leave the queue as a crash mid-run would: one job running, one queued.
    const db = openDatabase(join(dataDir, "config.db"));
    const writer = new JobWriter(db);
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

// A three-node cluster of real processes, as an operator runs one: `corral master` and two
// `corral node-agent` processes on loopback ports, joined with `corral node add`; then an
// instance's life over RAPI across the nodes (create by iallocator, start, migrate, failover,
// reboot, grow, remove), checked through RAPI and the disk files the agents keep.

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { call, usersFileText, USERS } from "../support/cluster.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));

/** Spawns `corral ARGS` and resolves once a line of its stderr matches `ready`. */
function daemon(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(CORRAL, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`corral ${args[0]} did not start: ${seen}`)), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = ready.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`corral ${args[0]} exited with ${code}: ${seen}`));
    });
  });
}

function corral(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(CORRAL, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: stdout + stderr });
    });
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

describe("a cluster of processes", () => {
  let dir: string;
  let dataDir: string;
  let port: number;
  const children: ChildProcess[] = [];
  let conn: string[];

  const rapi = (method: string, path: string, body?: unknown) =>
    call(port, method, path, { user: "writer", body }, true);

  async function job(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await rapi(method, path, body);
    assert.equal(r.status, 200, r.text);
    const id = r.json as number;
    for (let i = 0; i < 600; i++) {
      const w = await call(port, "GET", `/2/jobs/${id}/wait`, { user: "writer", body: { fields: ["status"], previous_job_info: null, previous_log_serial: null } }, true);
      const status = (w.json as { job_info: [string] }).job_info[0];
      if (["success", "error", "canceled"].includes(status)) {
        const j = (await rapi("GET", `/2/jobs/${id}`)).json as Record<string, unknown>;
        assert.equal(j.status, "success", `${method} ${path}: ${JSON.stringify(j.opresult)}`);
        return j;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${id} did not finish`);
  }

  const instance = async (name: string) => (await rapi("GET", `/2/instances/${name}`)).json as Record<string, unknown>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "corral-procs-"));
    dataDir = join(dir, "master");
    const users = join(dir, "users");
    writeFileSync(users, usersFileText());
    const master = await daemon(
      ["master", "-b", "127.0.0.1", "-p", "0", "--data-dir", dataDir, "--users-file", users, "--node-name", "node1.corral.test", "--cluster-name", "cluster.corral.test"],
      /RAPI listening on https:\/\/127\.0\.0\.1:(\d+)/,
    );
    children.push(master.child);
    port = Number(master.match[1]);
    const passwordFile = join(dir, "password");
    writeFileSync(passwordFile, `${USERS.writer}\n`);
    conn = ["--rapi", `https://127.0.0.1:${port}`, "--user", "writer", "--password-file", passwordFile, "--ca", join(dataDir, "rapi.pem")];
    const shared = join(dataDir, "storage", "sharedfile");
    for (const n of [2, 3]) {
      const name = `node${n}.corral.test`;
      const agent = await daemon(
        ["node-agent", "-b", "127.0.0.1", "-p", "0", "--state-dir", join(dir, `node${n}`), "--node-name", name,
          "--cluster-cert", join(dataDir, "cluster", "cluster.pem"), "--cluster-key", join(dataDir, "cluster", "cluster.key"),
          "--memory", "8192", "--shared-file-storage-dir", shared],
        /listening on (https:\/\/\S+)/,
      );
      children.push(agent.child);
      const joined = await corral(["node", "add", name, "--endpoint", agent.match[1], "--primary-ip", `127.0.1.${n}`, ...conn]);
      assert.equal(joined.code, 0, joined.out);
    }
    await job("PUT", "/2/modify", {
      enabled_disk_templates: ["diskless", "file", "sharedfile"],
      ipolicy: { "disk-templates": ["diskless", "file", "sharedfile"] },
    });
  });

  after(async () => {
    for (const c of children.reverse()) await stop(c);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("has three nodes with live facts from three agents", async () => {
    const nodes = (await rapi("GET", "/2/nodes?bulk=1")).json as Record<string, unknown>[];
    assert.deepEqual(nodes.map((n) => n.name), ["node1.corral.test", "node2.corral.test", "node3.corral.test"]);
    assert.deepEqual(nodes.map((n) => n.mtotal).slice(1), [8192, 8192]);
  });

  it("creates an instance where the allocator puts it, on a shared-file disk", async () => {
    const created = await job("POST", "/2/instances", {
      __version__: 1, mode: "create", name: "app1.corral.test", disk_template: "sharedfile",
      disks: [{ size: 1024 }], nics: [{}], os_type: "corral-marker+default", iallocator: "hail",
      beparams: { maxmem: 512, minmem: 512, vcpus: 1 },
    });
    const [nodes] = created.opresult as string[][];
    const inst = await instance("app1");
    assert.equal(inst.status, "running");
    assert.equal(inst.pnode, nodes[0]);
    const files = readdirSync(join(dataDir, "storage", "sharedfile", "app1.corral.test"));
    assert.equal(files.length, 1);
    const disk = statSync(join(dataDir, "storage", "sharedfile", "app1.corral.test", files[0]));
    assert.equal(disk.size, 1024 * 1024 * 1024);
    assert.ok(disk.blocks * 512 < disk.size, "the disk file is sparse");
  });

  it("migrates it live to another node and fails it over back", async () => {
    const from = (await instance("app1")).pnode as string;
    const to = from === "node2.corral.test" ? "node3.corral.test" : "node2.corral.test";
    await job("PUT", "/2/instances/app1/migrate", { target_node: to });
    let inst = await instance("app1");
    assert.equal(inst.pnode, to);
    assert.equal(inst.status, "running");
    await job("PUT", "/2/instances/app1/failover", { target_node: from, ignore_consistency: true });
    inst = await instance("app1");
    assert.equal(inst.pnode, from);
    assert.equal(inst.status, "running");
  });

  it("reboots, grows the disk, and removes it with its files", async () => {
    await job("POST", "/2/instances/app1/reboot?type=hard");
    await job("POST", "/2/instances/app1/disk/0/grow", { amount: 256 });
    assert.deepEqual((await instance("app1"))["disk.sizes"], [1280]);
    await job("DELETE", "/2/instances/app1");
    assert.equal((await rapi("GET", "/2/instances/app1")).status, 404);
    assert.equal(existsSync(join(dataDir, "storage", "sharedfile", "app1.corral.test")), false);
  });
});

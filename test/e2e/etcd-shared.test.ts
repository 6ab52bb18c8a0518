// What masters on etcd share (issue 17), with real `corral master` processes on one etcd: two
// masters with empty, separate data directories, only the first given a users file. The
// second takes the first's cluster certificate (the same bytes) and users (HA1 only) from etcd;
// a user of the first's file writes through the second (forwarded) and reads on it; a user
// added by `corral store users put` works on both without a restart; no log line holds a secret.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { call, usersFileText } from "../support/cluster.ts";
import type { StoreView } from "../../src/api/corral/store.ts";
import { EtcdCluster, etcdNeeds } from "../support/etcd.ts";
import { killProcess, runCorral, startMasterProcess, type MasterProcess } from "../support/process.ts";
import { ADDED_USER, PVC_TOKENS, testSecrets } from "../support/secrets.ts";
import { pvcYaml } from "../pvc/support.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Waits for a job to succeed (reads need credentials here: --require-authentication). */
async function succeeded(port: number, id: number): Promise<void> {
  await until(`job ${id} succeeds on :${port}`, 20_000, async () => ((await call(port, "GET", `/2/jobs/${id}`, { user: "reader" })).json as { status: string }).status === "success");
}


etcdNeeds.describe("masters on etcd share certificates and users (issue 17)", () => {
  let etcd: EtcdCluster;
  let dir: string;
  const procs: ChildProcess[] = [];
  /** Every line every process of this test wrote (masters' logs, the command's output). */
  let output = "";
  const start = async (name: string, usersFile?: string, cluster = "ha-shared", more: string[] = []): Promise<MasterProcess> => {
    const args = ["--store", `etcd://${etcd.endpoints.join(",")}`, "--cluster-name", cluster, "--node-name", name, "--require-authentication", ...more];
    const m = await startMasterProcess(join(dir, name), usersFile, args);
    procs.push(m.proc);
    output += m.startLog;
    m.proc.stderr?.on("data", (c: Buffer) => (output += c.toString()));
    m.proc.stdout?.on("data", (c: Buffer) => (output += c.toString()));
    return m;
  };

  before(async () => {
    etcd = await EtcdCluster.start(1);
    dir = mkdtempSync(join(tmpdir(), "corral-etcd-shared-"));
  });
  after(async () => {
    for (const p of procs) await killProcess(p);
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a second master with an empty data dir takes the cluster certificate and users from etcd, and follows `corral store users put`", async () => {
    const usersA = join(dir, "users-of-a");
    writeFileSync(usersA, usersFileText());
    const a = await start("ma", usersA);
    await until("ma leads", 15_000, async () => ((await call(a.port, "GET", "/corral/1/store", { user: "reader" })).json as StoreView).role === "leader");
    const b = await start("mb");
    assert.equal(((await call(b.port, "GET", "/corral/1/store", { user: "reader" })).json as StoreView).role, "standby");

    // The same cluster certificate, byte for byte; the copies are private.
    for (const file of ["cluster.pem", "cluster.key"]) {
      assert.equal(readFileSync(join(dir, "mb", "cluster", file), "utf8"), readFileSync(join(dir, "ma", "cluster", file), "utf8"), `${file} of mb is ma's`);
    }
    assert.equal(statSync(join(dir, "mb", "cluster", "cluster.key")).mode & 0o777, 0o600);
    // The users as etcd has them: mb's copy holds no cleartext password.
    const copy = join(dir, "mb", "rapi", "users");
    assert.equal(statSync(copy).mode & 0o777, 0o600);
    const copied = readFileSync(copy, "utf8");
    for (const password of ["readerpass", "adminpass", "nobodypass"]) assert.ok(!copied.includes(password), `cleartext ${password} in mb's users copy`);

    // ma's users on mb: a read checked by mb, a write forwarded to ma.
    assert.equal((await call(b.port, "GET", "/2/tags", { user: "reader" })).status, 200);
    assert.equal((await call(b.port, "GET", "/2/tags", { user: "admin" })).status, 200, "{CLEARTEXT} stored as {HA1} still accepts the password");
    assert.equal((await call(b.port, "GET", "/2/tags", { user: ADDED_USER })).status, 401, "a user nobody defined is refused");
    const written = await call(b.port, "PUT", "/2/tags?tag=through-mb", { user: "writer" });
    assert.equal(written.status, 200, written.text);
    await succeeded(a.port, written.json as number);
    await until("the forwarded tag read on mb", 2000, async () => ((await call(b.port, "GET", "/2/tags", { user: "writer" })).json as string[]).includes("through-mb"));

    // A new user through the chosen way: both masters know it without a restart.
    const replacement = join(dir, "users-new");
    writeFileSync(replacement, `${usersFileText()}${ADDED_USER.name} ${ADDED_USER.password} write\n`);
    const put = await runCorral(["store", "users", "put", replacement, "--store", `etcd://${etcd.endpoints.join(",")}`, "--cluster-name", "ha-shared"]);
    output += put.out;
    assert.equal(put.code, 0, put.out);
    for (const m of [a, b]) {
      await until(`${ADDED_USER.name} on :${m.port}`, 3000, async () => (await call(m.port, "GET", "/2/tags", { user: ADDED_USER })).status === 200);
    }
    const added = await call(b.port, "PUT", "/2/tags?tag=by-added-user", { user: ADDED_USER });
    assert.equal(added.status, 200, added.text);
    await succeeded(a.port, added.json as number);
    assert.equal((await call(a.port, "GET", "/2/tags", { user: "reader" })).status, 200, "the old users stay");

    // No secret in any line: the test passwords, their Basic credentials, or a private key.
    for (const [name, value] of testSecrets()) assert.ok(!output.includes(value), `${name} in a log line`);
    assert.ok(!output.includes("PRIVATE KEY"), "a private key in a log line");
    // The start's lines were checked too (mb said where its certificate came from).
    assert.match(output, /cluster certificate [0-9A-F:]+: the cluster's from etcd/);
  });

  it("pvc-api.yaml: the first master's, from etcd, on a master given another file", async () => {
    const first = join(dir, "pvc-first.yaml");
    const other = join(dir, "pvc-other.yaml");
    writeFileSync(first, pvcYaml({ enabled: true, tokens: [PVC_TOKENS.auth] }));
    writeFileSync(other, pvcYaml({ enabled: true, tokens: [PVC_TOKENS.authSecond] }));
    const users = join(dir, "users-pvc");
    writeFileSync(users, usersFileText());
    const a = await start("pa", users, "ha-pvc", ["--pvc-config", first, "--pvc-on-rapi-port"]);
    const b = await start("pb", undefined, "ha-pvc", ["--pvc-config", other, "--pvc-on-rapi-port"]);
    const copy = join(dir, "pb", "pvc-api.yaml");
    assert.equal(readFileSync(copy, "utf8"), readFileSync(first, "utf8"));
    assert.equal(statSync(copy).mode & 0o777, 0o600);
    for (const m of [a, b]) {
      assert.equal((await call(m.port, "GET", "/api/v1/node", { headers: { "X-Api-Key": PVC_TOKENS.auth } })).status, 200, `the first file's token on :${m.port}`);
      assert.equal((await call(m.port, "GET", "/api/v1/node", { headers: { "X-Api-Key": PVC_TOKENS.authSecond } })).status, 401, `the unused file's token on :${m.port}`);
    }
    assert.match(output, /pvc-api\.yaml: \S+pvc-other\.yaml differs from the cluster's in etcd and is not used/);
    for (const [name, value] of testSecrets()) assert.ok(!output.includes(value), `${name} in a log line`);
  });
});

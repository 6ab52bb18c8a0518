// The `corral` command line against a running two-node master (fake hypervisor), run as a
// user runs it: bin/corral as a subprocess, connection settings from the environment and a
// password file. The instance life cycle, lists checked against RAPI, --submit and job watch,
// exit codes, filters and job cancel, the shell completion run in bash, and balancing
// (plan, apply, capacity, verify-capacity, the automatic setting) against the API's answers.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Capacity } from "../../src/balance/capacity.ts";
import type { Plan } from "../../src/balance/plan.ts";
import type { Health } from "../../src/balance/verify.ts";
import type { AutoBalanceStatus } from "../../src/model/autobalance.ts";
import { call, USERS } from "../support/cluster.ts";
import { startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));
const NODE1 = "node1.corral.test";
const NODE2 = "node2.corral.test";

type Dict = Record<string, unknown>;

describe("the corral command line", () => {
  let c: MultiNodeCluster;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  /** Runs bin/corral; stdin is not a terminal, as in a script. */
  const corral = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      execFile(CORRAL, args, { timeout: 60_000, env: { ...env, ...extraEnv } }, (error, stdout, stderr) => {
        const code = error ? (error as { code?: number }).code : 0;
        resolve({ code: typeof code === "number" ? code : 1, out: stdout, err: stderr });
      });
    });
  const ok = async (args: string[]) => {
    const r = await corral(args);
    assert.equal(r.code, 0, `corral ${args.join(" ")}: ${r.out}${r.err}`);
    return r.out;
  };
  const rapi = async (path: string) => (await call(c.master.port, "GET", path, {}, true)).json as Dict;
  const instance = (name: string) => rapi(`/2/instances/${name}`);
  /** Corral's own routes answer users only. */
  const corralApi = async (path: string) => (await call(c.master.port, "GET", path, { user: "reader" }, true)).json;
  /**
   * A command's output with the API's answer of the same moment: the API asked before and
   * after the command until both answers agree (the agents report the one host file system's
   * free disk, which drifts as anything on the machine writes, and the scores with it).
   */
  const steady = async <T,>(path: string, args: string[]): Promise<{ api: T; out: string }> => {
    for (let tries = 0; tries < 10; tries++) {
      const before = JSON.stringify(await corralApi(path));
      const out = await ok(args);
      const after = JSON.stringify(await corralApi(path));
      if (before === after) return { api: JSON.parse(after) as T, out };
    }
    throw new Error(`${path} never answered the same twice in a row`);
  };

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 1, templates: ["diskless", "sharedfile", "file"], master: { ssl: true } });
    dir = mkdtempSync(join(tmpdir(), "corral-cli-"));
    writeFileSync(join(dir, "password"), `${USERS.writer}\n`);
    env = {
      PATH: `${dirname(CORRAL)}:${process.env.PATH ?? ""}`,
      HOME: dir,
      CORRAL_RAPI_URL: `https://127.0.0.1:${c.master.port}`,
      CORRAL_RAPI_USER: "writer",
      CORRAL_RAPI_PASSWORD_FILE: join(dir, "password"),
      CORRAL_RAPI_CA: join(c.dataDir, "rapi.pem"),
    };
  });
  after(async () => {
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("takes an instance through its life: add, list, info, stop, start, reboot, migrate, failover, modify, grow-disk, tags, rename, remove", async () => {
    const add = await ok([
      "instance", "add", "cli1.corral.test", "-t", "sharedfile", "--disk", "0:size=1G", "-o", "corral-marker+default",
      "-B", "maxmem=256M,vcpus=1", "-n", NODE1, "--no-name-check", "--no-ip-check",
    ]);
    assert.match(add, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \* creating instance disks\.\.\.$/m, "the job's log, line by line");
    assert.match(add, /\* starting instance\.\.\.$/m);
    assert.equal((await instance("cli1.corral.test")).status, "running");
    assert.match(await ok(["instance", "list"]), /^cli1\.corral\.test\s+fake\s+corral-marker\+default\s+node1\.corral\.test\s+running\s+256M$/m);
    const info = await ok(["instance", "info", "cli1.corral.test"]);
    assert.match(info, /cli1\.corral\.test:/);
    assert.match(info, /pnode: node1\.corral\.test/);

    await ok(["instance", "stop", "cli1.corral.test", "--timeout", "0"]);
    assert.equal((await instance("cli1.corral.test")).status, "ADMIN_down");
    await ok(["instance", "start", "cli1.corral.test"]);
    await ok(["instance", "reboot", "cli1.corral.test", "--type", "soft"]);
    assert.equal((await instance("cli1.corral.test")).status, "running");

    const migrate = await ok(["instance", "migrate", "cli1.corral.test", "-n", NODE2]);
    assert.match(migrate, /\* migrating instance to node2\.corral\.test/);
    assert.equal((await instance("cli1.corral.test")).pnode, NODE2);
    await ok(["instance", "failover", "cli1.corral.test", "-n", NODE1]);
    assert.equal((await instance("cli1.corral.test")).pnode, NODE1);

    await ok(["instance", "modify", "cli1.corral.test", "-B", "vcpus=2"]);
    await ok(["instance", "grow-disk", "cli1.corral.test", "0", "128M"]);
    const after = await instance("cli1.corral.test");
    assert.equal((after.beparams as Dict).vcpus, 2);
    assert.deepEqual(after["disk.sizes"], [1152]);

    await ok(["instance", "tags", "add", "cli1.corral.test", "web", "prod"]);
    await ok(["instance", "tags", "remove", "cli1.corral.test", "prod"]);
    assert.equal(await ok(["instance", "tags", "list", "cli1.corral.test"]), "web\n");

    await ok(["instance", "stop", "cli1.corral.test", "--timeout", "0"]);
    await ok(["instance", "rename", "cli1.corral.test", "cli2.corral.test", "--no-name-check", "--no-ip-check"]);
    const unconfirmed = await corral(["instance", "remove", "cli2.corral.test"]);
    assert.equal(unconfirmed.code, 2, "no terminal to ask: --force is needed");
    assert.match(unconfirmed.err, /This will remove instance cli2\.corral\.test and all its disks\. Give --force/);
    await ok(["instance", "remove", "cli2.corral.test", "--force"]);
    assert.equal(await ok(["instance", "list", "--no-headers"]), "");
  });

  it("lists what RAPI has: -o, -o +FIELD, --filter, --separator, --no-headers, --units, JSON", async () => {
    for (const [name, vcpus, node] of [["lista.corral.test", 1, NODE1], ["listb.corral.test", 2, NODE2], ["other.corral.test", 4, NODE2]] as const) {
      await ok(["instance", "add", name, "-t", "diskless", "-o", "corral-marker+default", "-B", `maxmem=128M,vcpus=${vcpus}`, "-n", node, "--no-name-check", "--no-ip-check", "--no-start"]);
    }
    const bulk = (await call(c.master.port, "GET", "/2/instances?bulk=1", {}, true)).json as Dict[];
    const json = JSON.parse(await ok(["instance", "list", "-o", "name,pnode,be/vcpus,admin_state", "--format", "json", "-F", "be/vcpus >= 2 and name =~ m/^LIST/i"])) as Dict[];
    const expected = bulk.filter((i) => ((i.beparams as Dict).vcpus as number) >= 2 && /^list/.test(i.name as string))
      .map((i) => ({ name: i.name, pnode: i.pnode, "be/vcpus": (i.beparams as Dict).vcpus, admin_state: i.admin_state }));
    assert.deepEqual(json, expected);
    assert.equal(json.length, 1);

    const text = await ok(["instance", "list", "-o", "+be/vcpus", "--separator", "|", "--no-headers", "-F", `pnode == "${NODE2}"`]);
    assert.deepEqual(text.trim().split("\n"), [
      "listb.corral.test|fake|corral-marker+default|node2.corral.test|ADMIN_down|-|2",
      "other.corral.test|fake|corral-marker+default|node2.corral.test|ADMIN_down|-|4",
    ]);
    assert.match(await ok(["instance", "list", "lista.corral.test", "-o", "name,be/maxmem", "--units", "g"]), /^Instance\s+ConfigMaxMem\nlista\.corral\.test\s+0\.1$/m);
    assert.match(await ok(["instance", "list-fields", "be/vcpus"]), /^be\/vcpus\s+number\s+ConfigVCPUs\s+The "vcpus" backend parameter$/m);

    const unknownField = await corral(["instance", "list", "-o", "name,nosuchfield"]);
    assert.equal(unknownField.code, 2);
    assert.match(unknownField.err, /unknown field nosuchfield/);
    const badFilter = await corral(["instance", "list", "-F", "name == "]);
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.err, /a value missing at the end in the filter/);
    for (const name of ["lista", "listb", "other"]) await ok(["instance", "remove", `${name}.corral.test`, "--force"]);
  });

  it("--submit prints the job id; job watch follows that job to its end; job list and info show it", async () => {
    const submitted = await ok(["instance", "add", "watched.corral.test", "-t", "diskless", "-o", "corral-marker+default", "-B", "maxmem=128M", "-n", NODE1, "--no-name-check", "--no-ip-check", "--submit"]);
    const m = /^JobID: (\d+)$/.exec(submitted.trim());
    assert.ok(m, submitted);
    const watched = await ok(["job", "watch", m[1]]);
    assert.match(watched, /\* creating instance disks\.\.\./);
    assert.match(watched, /\* starting instance\.\.\./);
    assert.match(await ok(["job", "list", m[1]]), new RegExp(`^\\s*${m[1]}\\s+success\\s+INSTANCE_CREATE\\(watched\\.corral\\.test\\)$`, "m"));
    const info = JSON.parse(await ok(["job", "info", m[1], "--format", "json"])) as Dict;
    assert.equal(info.id, Number(m[1]));
    assert.equal(info.status, "success");
    await ok(["instance", "remove", "watched.corral.test", "--force"]);
  });

  it("a failed job exits 1 with Ganeti's wording; refused input exits 2; so does a wrong password", async () => {
    const missing = await corral(["instance", "start", "nosuch.corral.test"]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^Failure: prerequisites not met for this operation:\nerror type: unknown_entity, error details:\nInstance 'nosuch\.corral\.test' not known/m);
    const usage = await corral(["instance", "add", "x.corral.test"]);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /required option '-t, --disk-template <template>' not specified/);
    const size = await corral(["instance", "grow-disk", "x.corral.test", "0", "ten"]);
    assert.equal(size.code, 2);
    assert.match(size.err, /invalid size 'ten'/);
    writeFileSync(join(dir, "wrong"), "wrong\n");
    const denied = await corral(["cluster", "tags", "add", "x"], { CORRAL_RAPI_PASSWORD_FILE: join(dir, "wrong") });
    assert.equal(denied.code, 1);
    assert.match(denied.err, /^corral: 401 /);
  });

  it("nodes, groups, networks, the cluster and the rest of an instance's commands", async () => {
    await ok(["instance", "add", "rest.corral.test", "-t", "sharedfile", "--disk", "0:size=1G", "-o", "corral-marker+default", "-B", "maxmem=128M", "-n", NODE2, "--no-name-check", "--no-ip-check"]);
    // node migrate moves node2's primary instances live, each in a job of its own that is followed.
    const migrated = await ok(["node", "migrate", NODE2, "-n", NODE1, "--tls", "--force"]);
    const child = /^Job (\d+):$/m.exec(migrated)?.[1];
    assert.ok(child, migrated);
    // Corral's extension reaches the instance's migration job.
    const ops = (await rapi(`/2/jobs/${child}`)).ops as Dict[];
    assert.equal(ops[0].OP_ID, "OP_INSTANCE_MIGRATE");
    assert.equal(ops[0].migrate_tls, true);
    assert.equal((await instance("rest.corral.test")).pnode, NODE1);
    assert.match(await ok(["node", "evacuate", NODE1, "--mode", "primary-only", "--force"]), /^Job \d+:$/m);
    assert.equal((await instance("rest.corral.test")).pnode, NODE2);
    assert.equal((await ok(["node", "role", "get", NODE1])).trim(), "master");
    await ok(["node", "modify", NODE2, "-D", "yes"]);
    assert.equal(((await rapi(`/2/nodes/${NODE2}`)) as Dict).drained, true);
    assert.equal((await ok(["node", "role", "get", NODE2])).trim(), "drained");
    await ok(["node", "role", "set", NODE2, "master-candidate"]);
    assert.match(await ok(["node", "info", NODE2]), /^role: C$/m);

    await ok(["instance", "deactivate-disks", "rest.corral.test", "--force"]);
    await ok(["instance", "activate-disks", "rest.corral.test"]);
    await ok(["instance", "reinstall", "rest.corral.test", "--force"]);
    assert.equal((await instance("rest.corral.test")).status, "running");
    const consoleInfo = await ok(["instance", "console", "rest.corral.test"]);
    assert.ok(consoleInfo.trim().length > 0, "says how to reach the console");

    await ok(["group", "add", "ghost", "--dry-run"]);
    assert.doesNotMatch(await ok(["group", "list"]), /ghost/, "--dry-run changes nothing");
    await ok(["group", "add", "spare", "--alloc-policy", "last_resort"]);
    assert.match(await ok(["group", "list", "-o", "name,alloc_policy"]), /^spare\s+last_resort$/m);
    await ok(["group", "rename", "spare", "reserve"]);
    await ok(["group", "remove", "reserve"]);
    assert.doesNotMatch(await ok(["group", "list"]), /reserve/);

    await ok(["network", "add", "lan", "--network", "192.0.2.0/24", "--gateway", "192.0.2.1"]);
    assert.match(await ok(["network", "list", "-o", "name,network,gateway"]), /^lan\s+192\.0\.2\.0\/24\s+192\.0\.2\.1$/m);
    await ok(["network", "connect", "lan", "default", "bridged", "br0"]);
    await ok(["network", "disconnect", "lan", "default"]);
    await ok(["network", "remove", "lan"]);

    await ok(["cluster", "modify", "-B", "vcpus=2", "--candidate-pool-size", "5"]);
    const info = JSON.parse(await ok(["cluster", "info", "--format", "json"])) as Dict;
    assert.equal((info.beparams as Record<string, Dict>).default.vcpus, 2);
    assert.equal(info.candidate_pool_size, 5);
    await ok(["cluster", "modify", "-B", "vcpus=1"]);
    const nothing = await corral(["cluster", "modify"]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.err, /nothing to change/);
    await ok(["instance", "remove", "rest.corral.test", "--force"]);
  });

  it("node evacuate moves file-disk instances only with --with-storage (Corral's migrate_storage)", async () => {
    await ok(["instance", "add", "local.corral.test", "-t", "file", "--disk", "0:size=1G", "-o", "corral-marker+default", "-B", "maxmem=128M", "-n", NODE2, "--no-name-check", "--no-ip-check"]);
    const refused = await corral(["node", "evacuate", NODE2, "--mode", "primary-only", "--force"]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Unable to evacuate instances local\.corral\.test \(Instances of type file cannot be relocated\)/);
    // With it, the instance's job is a live migration that takes the disks along: kvm only, as
    // the job says of this fake instance; the command reports the failed job and exits 1.
    const moved = await corral(["node", "evacuate", NODE2, "--mode", "primary-only", "--with-storage", "--tls", "--force"]);
    const child = /^Job (\d+):$/m.exec(moved.out)?.[1];
    assert.ok(child, moved.out + moved.err);
    const job = await rapi(`/2/jobs/${child}`);
    const op = (job.ops as Dict[])[0];
    assert.deepEqual([op.OP_ID, op.mode, op.migrate_storage, op.migrate_tls], ["OP_INSTANCE_MIGRATE", "live", true, true]);
    assert.equal(moved.code, 1);
    assert.match(moved.err, /Migrating an instance's storage needs the kvm hypervisor; instance local\.corral\.test uses 'fake'/);
    assert.match(moved.err, /1 of 1 jobs failed/);
    await ok(["instance", "remove", "local.corral.test", "--force"]);
  });

  it("filter add holds jobs, job cancel cancels a held one, filter remove lets the rest run", async () => {
    const uuid = (await ok(["filter", "add", "--action", "PAUSE", "--opcode", 'OP_ID == "OP_TAGS_SET"'])).trim();
    assert.match(await ok(["filter", "list", "-o", "uuid,action"]), new RegExp(`^${uuid}\\s+PAUSE$`, "m"));
    const held = /^JobID: (\d+)$/.exec((await ok(["cluster", "tags", "add", "held", "--submit"])).trim())![1];
    const later = /^JobID: (\d+)$/.exec((await ok(["cluster", "tags", "add", "later", "--submit"])).trim())![1];
    assert.match(await ok(["job", "list", held, "-o", "id,status"]), new RegExp(`^\\s*${held}\\s+queued$`, "m"));
    // Ctrl-C while watching detaches: the command says how to follow again, the job goes on.
    const watcher = spawn(CORRAL, ["job", "watch", held], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    watcher.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => watcher.on("exit", (code) => resolve(code)));
    // gnt-job watch's header: printed once following has begun.
    await new Promise<void>((resolve) => {
      let stdout = "";
      watcher.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes(`Output from job ${held} follows`)) resolve();
      });
    });
    watcher.kill("SIGINT");
    assert.equal(await exited, 130);
    assert.match(stderr, new RegExp(`Detached from job ${held}; it goes on\\. Follow it with: corral job watch ${held}`));
    assert.match(await ok(["job", "list", held, "-o", "status", "--no-headers"]), /^queued$/m);
    assert.match(await ok(["job", "cancel", held]), new RegExp(`Dequeued job ${held}`));
    await ok(["filter", "remove", uuid, "--force"]);
    await ok(["job", "watch", later]);
    assert.equal(await ok(["cluster", "tags", "list"]), "later\n");
  });

  it("completes commands, flags and instance names in bash, from the command table", async () => {
    await ok(["instance", "add", "compl.corral.test", "-t", "diskless", "-o", "corral-marker+default", "-B", "maxmem=128M", "-n", NODE1, "--no-name-check", "--no-ip-check", "--no-start"]);
    const script = await ok(["completion", "bash"]);
    assert.match(script, /^complete -F _corral_complete corral$/m);
    writeFileSync(join(dir, "corral.bash"), script);
    const complete = async (...words: string[]) => {
      const cmd = `source ${join(dir, "corral.bash")}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _corral_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return new Promise<string[]>((resolve, reject) =>
        execFile("bash", ["-c", cmd], { env, timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout.split("\n").filter(Boolean).sort()))));
    };
    assert.deepEqual(await complete("corral", "inst"), ["instance"]);
    assert.deepEqual(await complete("corral", "instance", "st"), ["start", "stop"]);
    assert.ok((await complete("corral", "instance", "migrate", "--")).includes("--target-node"));
    assert.deepEqual(await complete("corral", "instance", "start", "comp"), ["compl.corral.test"]);
    assert.deepEqual(await complete("corral", "node", "info", ""), [NODE1, NODE2]);
    const zsh = await ok(["completion", "zsh"]);
    assert.match(zsh, /^#compdef corral\nautoload -U \+X bashcompinit && bashcompinit\n/);
    await ok(["instance", "remove", "compl.corral.test", "--force"]);
  });

  it("token create prints a token once; with --token-file the command line acts within its grant and is refused outside it", async () => {
    for (const name of ["tweb.corral.test", "tother.corral.test"]) {
      await ok(["instance", "add", name, "-t", "diskless", "-o", "corral-marker+default", "-B", "maxmem=128M", "-n", NODE1, "--no-name-check", "--no-ip-check", "--no-start"]);
    }
    await ok(["instance", "tags", "add", "tweb.corral.test", "team:web"]);
    const created = await corral(["token", "create", "--grant", "write:instance:tag=team:web", "--grant", "read:instance", "--grant", "read:node", "--expires", "1h", "--description", "cli test"]);
    assert.equal(created.code, 0, created.err);
    const token = created.out.trim();
    assert.match(token, /^corral_[A-Za-z0-9]+_[A-Za-z0-9_-]{20,}$/, "stdout is the token alone");
    const id = token.split("_")[1];
    assert.match(created.err, new RegExp(`Created API token ${id}`));
    writeFileSync(join(dir, "token"), `${token}\n`);
    const asToken = (args: string[]) => corral(["--token-file", join(dir, "token"), ...args], { CORRAL_RAPI_USER: undefined, CORRAL_RAPI_PASSWORD_FILE: undefined });

    const listed = await asToken(["instance", "list", "-o", "name", "--no-headers"]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /^tweb\.corral\.test$/m);
    const started = await asToken(["instance", "start", "tweb.corral.test"]);
    assert.equal(started.code, 0, started.err);
    assert.equal((await instance("tweb.corral.test")).status, "running");
    const refused = await asToken(["instance", "start", "tother.corral.test"]);
    assert.equal(refused.code, 1, refused.out + refused.err);
    assert.match(refused.err, /^corral: 403 API token \w+ does not allow write on instance tother\.corral\.test/m);
    assert.doesNotMatch(refused.err, /needs a RAPI user/);
    assert.equal((await instance("tother.corral.test")).status, "ADMIN_down", "a refusal changes nothing");
    const manage = await asToken(["token", "list"]);
    assert.notEqual(manage.code, 0, "a token cannot manage tokens");
    const both = await corral(["--token-file", join(dir, "token"), "--user", "writer", "instance", "list"]);
    assert.equal(both.code, 2, "a token and a user together are a usage error");

    assert.match(await ok(["token", "list"]), new RegExp(`^${id}\\s+writer\\s`, "m"));
    assert.match(await ok(["token", "revoke", id]), new RegExp(`Revoked API token ${id}`));
    assert.notEqual((await asToken(["instance", "list"])).code, 0, "a revoked token is refused");
    for (const name of ["tweb.corral.test", "tother.corral.test"]) await ok(["instance", "remove", name, "--force"]);
  });

  it("cluster balance prints the API's plan; --dry-run shows its jobs, --apply submits and follows them", async () => {
    const names = ["bal1.corral.test", "bal2.corral.test", "bal3.corral.test"];
    for (const [i, name] of names.entries()) {
      await ok(["instance", "add", name, "-t", "sharedfile", "--disk", "0:size=1G", "-o", "corral-marker+default", "-B", `maxmem=${1024 + 512 * i}M`, "-n", NODE1, "--no-name-check", "--no-ip-check"]);
    }
    const { api: plan, out: text } = await steady<Plan>("/corral/1/balance", ["cluster", "balance"]);
    assert.ok(plan.moves.length > 0, "everything on node1: moves to plan");
    assert.match(text, new RegExp(`^Group: default\nInitial score: ${plan.initial_score.toFixed(8)}\nFinal score: ${plan.final_score.toFixed(8)} \\(optimal ${plan.optimal_score.toFixed(8)}\\)\nMoves: ${plan.moves.length}$`, "m"));
    const where = (n: { primary: string; secondary: string | null }) => (n.secondary === null ? n.primary : `${n.primary}:${n.secondary}`).replaceAll(".", "\\.");
    plan.moves.forEach((m, i) => {
      assert.match(text, new RegExp(`^\\s*${i + 1}\\s+${m.instance.replaceAll(".", "\\.")}\\s+${m.kind}\\s+${where(m.from)}\\s+${where(m.to)}\\s+${m.score.toFixed(8)}$`, "m"));
    });
    assert.match(text, new RegExp(`^Jobsets \\(moves that may run together, in order\\): ${plan.jobsets.map((set) => set.map((m) => m + 1).join(",")).join(" \\| ")}$`, "m"));
    const asJson = await steady<Plan>("/corral/1/balance", ["cluster", "balance", "--format", "json"]);
    assert.deepEqual(JSON.parse(asJson.out), asJson.api);
    assert.equal((JSON.parse(await ok(["cluster", "balance", "--max-moves", "1", "--format", "json"])) as Plan).moves.length, 1);
    const bad = await corral(["cluster", "balance", "--max-moves=-1"]);
    assert.equal(bad.code, 1, "the API's 400");
    assert.match(bad.err, /^corral: 400 Invalid value for the (&#x27;|')max-moves(&#x27;|') parameter: (&#x27;|')-1(&#x27;|') \(expected 0 or more\)/m);

    const jobsBefore = c.master.queue.highestJobId();
    const dry = await ok(["cluster", "balance", "--dry-run"]);
    assert.match(dry, /^Jobs \(dry run, nothing submitted\):$/m);
    plan.moves.forEach((m, i) => assert.match(dry, new RegExp(`^  move ${i + 1}: OP_INSTANCE_(MIGRATE|FAILOVER) ${m.instance.replaceAll(".", "\\.")} -> ${m.to.primary.replaceAll(".", "\\.")}$`, "m")));
    assert.equal(c.master.queue.highestJobId(), jobsBefore, "a dry run submits nothing");

    const applied = await ok(["cluster", "balance", "--apply"]);
    const followed = [...applied.matchAll(/^Job (\d+) \(move (\d+): (\S+)\):$/gm)];
    assert.deepEqual(followed.map((m) => [Number(m[2]), m[3]]), plan.moves.map((m, i) => [i + 1, m.instance]), applied);
    assert.match(applied, /\* migrating instance to node2\.corral\.test/, "the jobs' logs");
    for (const m of followed) assert.equal((await rapi(`/2/jobs/${m[1]}`)).status, "success");
    const last = new Map(plan.moves.map((m) => [m.instance, m.to.primary]));
    for (const [name, pnode] of last) assert.equal((await instance(name)).pnode, pnode, name);
    for (const name of names) await ok(["instance", "remove", name, "--force"]);
  });

  it("cluster capacity, verify-capacity and autobalance show what the API answers and change the setting through PUT /2/modify", async () => {
    const cap = (await corralApi("/corral/1/capacity?memory=1024&disk_template=sharedfile")) as { cluster: Capacity; groups: Capacity[] };
    const capText = await ok(["cluster", "capacity", "--memory", "1G", "-t", "sharedfile"]);
    const s = cap.cluster.spec;
    assert.match(capText, new RegExp(`^Instance spec: memory 1\\.0G, disk ${s.disk < 1024 ? `${s.disk}M` : `${(s.disk / 1024).toFixed(1)}G`}, ${s.vcpus} vCPUs, spindles ${s.spindles}, spindle use ${s.spindle_use}, disk template sharedfile$`, "m"));
    for (const g of [cap.cluster, ...cap.groups]) {
      const why = g.stopped_by === "failure" ? (g.failure_reason ?? "-") : g.stopped_by;
      assert.match(capText, new RegExp(`^${g.group ?? "\\(cluster\\)"}\\s+${g.count}\\s+${why}\\s+${g.before.instances}\\s`, "m"), capText);
    }
    const capJson = JSON.parse(await ok(["cluster", "capacity", "--memory", "1024", "--disk-template", "sharedfile", "--format", "json"])) as { cluster: Capacity };
    assert.deepEqual([capJson.cluster.spec, capJson.cluster.count], [cap.cluster.spec, cap.cluster.count]);
    const zero = await corral(["cluster", "capacity", "--memory", "0"]);
    assert.equal(zero.code, 1);
    assert.match(zero.err, /memory.*expected 1 or more/);

    const health = (await corralApi("/corral/1/verify")) as Health;
    const verify = await ok(["cluster", "verify-capacity"]);
    for (const g of health.groups) {
      const counts = [g.n1_failures, g.evacuation_failures, g.offline_primaries, g.offline_nodes, g.conflicting_tags, g.nodes_over_policy.length, g.instances_violating_policy.length];
      assert.match(verify, new RegExp(`^${g.group}\\s+[\\d.]+\\s+${counts.join("\\s+")}\\s`, "m"), verify);
    }
    assert.match(verify, new RegExp(`^Needs rebalance: ${health.cluster.needs_rebalance ? "yes" : "no"}$`, "m"));
    assert.deepEqual((JSON.parse(await ok(["cluster", "verify-capacity", "--format", "json"])) as Health).cluster, health.cluster);

    const auto = async () => (await corralApi("/corral/1/balance/auto")) as AutoBalanceStatus;
    // A threshold no score reaches: no round starts while the test runs.
    await ok(["cluster", "autobalance", "enable", "--threshold", "1000", "--cooldown", "7200", "--max-moves", "2"]);
    assert.deepEqual((await auto()).setting, { enabled: true, threshold: 1000, cooldown: 7200, max_moves: 2 });
    await ok(["cluster", "autobalance", "set", "--cooldown", "60"]);
    const status = await auto();
    assert.deepEqual(status.setting, { enabled: true, threshold: 1000, cooldown: 60, max_moves: 2 });
    const shown = await ok(["cluster", "autobalance", "show"]);
    assert.match(shown, new RegExp(`^Automatic balancing: enabled\\n  threshold: 1000\\n  cooldown: 60 s\\n  max moves a round: 2\\n  checked every ${status.interval} s \\(\\d+ checks since the master started\\)\\nLast round: none$`, "m"));
    const shownJson = JSON.parse(await ok(["cluster", "autobalance", "show", "--format", "json"])) as AutoBalanceStatus;
    assert.deepEqual([shownJson.setting, shownJson.last_round], [status.setting, status.last_round]);
    await ok(["cluster", "autobalance", "disable"]);
    assert.equal((await auto()).setting.enabled, false);
    const nothing = await corral(["cluster", "autobalance", "set"]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.err, /nothing to change/);
    assert.equal((await corral(["cluster", "autobalance", "set", "--threshold", "lots"])).code, 2);
    const refused = await corral(["cluster", "autobalance", "set", "--max-moves", "0"]);
    assert.equal(refused.code, 1, "the API's 400");
    assert.match(refused.err, /auto_balancing/);
    assert.deepEqual((await auto()).setting, { enabled: false, threshold: 1000, cooldown: 60, max_moves: 2 }, "a refusal changes nothing");
  });
});

// Corral's balancer against Debian's hbal (ganeti-htools-3.0): the same cluster must get the
// same initial score (within 1e-6), and Corral's plan must end no worse than hbal's. Two
// sources: htools' own test clusters (test/fixtures/htools/, read by `hbal -t`), and live
// Corral clusters read by `hbal -m` over RAPI next to GET /corral/1/balance.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { modelFromHtoolsText } from "../../src/balance/model.ts";
import { planBalance, type Plan } from "../../src/balance/plan.ts";
import { scoreTermTolerance, startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";
import { requireTools } from "../support/tools.ts";

const htools = requireTools({ tools: ["hbal"] });
const FIXTURES = join(fileURLToPath(new URL(".", import.meta.url)), "..", "fixtures", "htools");

interface HbalResult {
  initial: number;
  final: number;
  /** "instance old => new" per move, as hbal prints them. */
  moves: string[];
  /** Moves per jobset, from -C. */
  jobsetSizes: number[];
  out: string;
}

function hbal(args: string[]): Promise<HbalResult> {
  return new Promise((resolve, reject) => {
    execFile(htools.path("hbal"), [...args, "-C"], { timeout: 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const out = stdout + stderr;
      if (err) return reject(new Error(`hbal ${args.join(" ")}: ${out}`));
      const initial = /Initial score: ([\d.]+)|initial score ([\d.e+-]+)/.exec(out);
      if (!initial) return reject(new Error(`hbal printed no initial score:\n${out}`));
      const ini = Number(initial[1] ?? initial[2]);
      const improved = /Cluster score improved from [\d.]+ to ([\d.]+)/.exec(out);
      const moves = [...out.matchAll(/^\s+\d+\. (\S+)\s+(\S+)\s+=>\s+(\S+)\s/gm)].map((m) => `${m[1]} ${m[2]} => ${m[3]}`);
      const jobsetSizes = [...out.matchAll(/echo jobset \d+, (\d+) jobs/g)].map((m) => Number(m[1]));
      resolve({ initial: ini, final: improved ? Number(improved[1]) : ini, moves, jobsetSizes, out });
    });
  });
}

/** A plan's moves in hbal's notation (short names: the cluster's common domain dropped). */
function movesOf(plan: Plan, domain = ""): string[] {
  const short = (n: string) => (domain && n.endsWith(domain) ? n.slice(0, -domain.length) : n);
  const where = (w: { primary: string; secondary: string | null }) => (w.secondary ? `${short(w.primary)}:${short(w.secondary)}` : short(w.primary));
  return plan.moves.map((m) => `${short(m.instance)} ${where(m.from)} => ${where(m.to)}`);
}

function assertSameAsHbal(plan: Plan, h: HbalResult, what: string, domain = ""): void {
  assert.ok(Math.abs(plan.initial_score - h.initial) < 1e-6, `${what}: initial score ${plan.initial_score} vs hbal's ${h.initial}\n${h.out}`);
  assert.ok(plan.final_score <= h.final + 1e-6, `${what}: final score ${plan.final_score} worse than hbal's ${h.final}\n${h.out}`);
  assert.deepEqual(movesOf(plan, domain), h.moves, `${what}: the same moves as hbal`);
  assert.deepEqual(plan.jobsets.map((s) => s.length), h.jobsetSizes, `${what}: the same jobsets as hbal -C`);
}

htools.describe("the balancer on htools' test clusters, next to hbal -t", () => {
  const cases: { file: string; group?: string }[] = [
    { file: "hbal-evac.data" }, // DRBD, an offline node: replace-primary and replace-secondary moves
    { file: "hbal-dyn.data" },
    { file: "partly-used.data" }, // two moves whose scores tie to 1e-15: hbal's arithmetic decides
    { file: "shared-n1-restriction.data" }, // shared storage: failover to any node
    { file: "shared-n1-failure.data" },
    { file: "hspace-groups-one.data" },
    { file: "hspace-groups-two.data", group: "group-01" },
    { file: "hspace-groups-two.data", group: "group-02" },
    { file: "hbal-excl-tags.data" }, // exclusion tags
    { file: "hbal-soft-errors2.data" }, // spindle policy violations refuse every move
    { file: "n1-failure.data" },
    { file: "hbal-cpu-speed.data" },
  ];
  for (const { file, group } of cases) {
    it(`${file}${group ? ` (${group})` : ""}: same score, same moves, same jobsets`, async () => {
      const path = join(FIXTURES, file);
      const h = await hbal(["-t", path, ...(group ? ["-G", group] : [])]);
      const plan = planBalance(modelFromHtoolsText(readFileSync(path, "utf8")), { group });
      assertSameAsHbal(plan, h, file);
    });
  }

  it("a move limit stops both after as many moves", async () => {
    const path = join(FIXTURES, "hbal-evac.data");
    const h = await hbal(["-t", path, "--max-length=2"]);
    const plan = planBalance(modelFromHtoolsText(readFileSync(path, "utf8")), { maxMoves: 2 });
    assert.equal(plan.moves.length, 2);
    assertSameAsHbal(plan, h, "hbal-evac.data, 2 moves");
  });

  it("without instance moves only secondaries change, as with hbal --no-instance-moves", async () => {
    const path = join(FIXTURES, "hbal-evac.data");
    const h = await hbal(["-t", path, "--no-instance-moves"]);
    const plan = planBalance(modelFromHtoolsText(readFileSync(path, "utf8")), { instanceMoves: false });
    assert.ok(plan.moves.every((m) => m.kind === "replace-secondary"));
    assertSameAsHbal(plan, h, "hbal-evac.data, no instance moves");
  });
});

htools.describe("GET /corral/1/balance next to hbal -m on live clusters", () => {
  let c: MultiNodeCluster;
  let url: string;
  const run = async (method: string, uri: string, body?: unknown) => {
    const client = c.client();
    const job = await client.waitForJob((await client.request(method, uri, body)) as number);
    assert.equal(job.status, "success", `${method} ${uri}: ${JSON.stringify(job.opresult)}`);
  };
  const createInstance = (name: string, pnode: string, template: string, memory: number, vcpus = 1) =>
    run("POST", "/2/instances", {
      __version__: 1, mode: "create", name: `${name}.corral.test`, os: "corral-marker+default", pnode: `${pnode}.corral.test`,
      disk_template: template, disks: template === "diskless" ? [] : [{ size: 1024 }], nics: [{}],
      beparams: { maxmem: memory, minmem: memory, vcpus },
    });
  const plan = async (query = "") => (await c.client("reader").request("GET", `/corral/1/balance${query}`)) as Plan;

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 8192, master: { ssl: true }, templates: ["diskless", "file", "sharedfile"] });
    url = `https://127.0.0.1:${c.master.port}`;
    // Piled on node1: shared-storage instances hbal can move, and a file and a diskless one it cannot.
    for (const [i, mem] of [[1, 1024], [2, 512], [3, 768], [4, 256]] as const) await createInstance(`web${i}`, "node1", "sharedfile", mem, i);
    await createInstance("files1", "node1", "file", 512);
    await createInstance("bare1", "node2", "diskless", 384);
  });
  after(() => c?.close());

  it("scores the cluster as hbal does and plans no worse", async () => {
    const h = await hbal(["-m", url]);
    assertSameAsHbal(await plan(), h, "three nodes", ".corral.test");
    assert.ok(h.moves.length > 0, "the piled-up cluster needs moves");
  });

  it("follows the move options as hbal does", async () => {
    const limited = await plan("?max-moves=1");
    assertSameAsHbal(limited, await hbal(["-m", url, "--max-length=1"]), "one move", ".corral.test");
    const excluded = await plan("?exclude=web1&exclude=web3");
    assertSameAsHbal(excluded, await hbal(["-m", url, "--exclude-instances=web1,web3"]), "excluded instances", ".corral.test");
    assert.ok(excluded.moves.every((m) => !/^web[13]\./.test(m.instance)));
  });

  it("answers 400 with Ganeti's error body for a bad query", async () => {
    await assert.rejects(c.client("reader").request("GET", "/corral/1/balance?moves=teleport"), /400|teleport/);
    await assert.rejects(c.client("reader").request("GET", "/corral/1/balance?group=nosuch"), /nosuch/);
  });

  it("with two node groups and a drained node, balances the group asked for, like hbal -G", async () => {
    await c.addAgent({ memoryMiB: 16384 });
    await run("POST", "/2/groups", { name: "rack2" });
    await run("PUT", "/2/groups/rack2/assign-nodes?force=1", { nodes: ["node3.corral.test", "node4.corral.test"] });
    await createInstance("db1", "node4", "sharedfile", 2048, 2);
    await createInstance("db2", "node4", "sharedfile", 1024, 1);
    await run("PUT", "/2/nodes/node2/role?auto-promote=1", "drained");
    await assert.rejects(plan(), /multiple node groups/);
    for (const group of ["default", "rack2"]) {
      assertSameAsHbal(await plan(`?group=${group}`), await hbal(["-m", url, "-G", group]), `group ${group}`, ".corral.test");
    }
  });
});

htools.describe("POST /corral/1/balance carries the plan out on three agents", () => {
  let c: MultiNodeCluster;
  const run = async (method: string, uri: string, body?: unknown) => {
    const client = c.client();
    const job = await client.waitForJob((await client.request(method, uri, body)) as number);
    assert.equal(job.status, "success", `${method} ${uri}: ${JSON.stringify(job.opresult)}`);
  };
  type Applied = Plan & { job_ids: (number | null)[]; jobs: { move: number; ops: { OP_ID: string; depends: unknown }[] }[] };

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 8192, master: { ssl: true }, templates: ["diskless", "sharedfile"] });
    for (const [i, mem] of [[1, 1024], [2, 512], [3, 768], [4, 256], [5, 640]] as const) {
      await run("POST", "/2/instances", {
        __version__: 1, mode: "create", name: `app${i}.corral.test`, os: "corral-marker+default", pnode: "node1.corral.test",
        disk_template: "sharedfile", disks: [{ size: 1024 }], nics: [{}], beparams: { maxmem: mem, minmem: mem, vcpus: 1 },
      });
    }
  });
  after(() => c?.close());

  it("a dry run answers the plan and its jobs without submitting any", async () => {
    const client = c.client();
    const jobsBefore = ((await client.request("GET", "/2/jobs")) as unknown[]).length;
    const dry = (await client.request("POST", "/corral/1/balance?dry-run=1")) as Applied;
    assert.ok(dry.moves.length > 0);
    assert.ok(dry.job_ids.every((id) => id === null));
    assert.equal(dry.jobs.length, dry.moves.length);
    assert.ok(dry.jobs.every((j) => j.ops.every((op) => op.OP_ID === "OP_INSTANCE_MIGRATE")), "running shared-storage instances migrate");
    assert.equal(((await client.request("GET", "/2/jobs")) as unknown[]).length, jobsBefore);
    await assert.rejects(c.client("reader").request("POST", "/corral/1/balance?dry-run=1"), /401|403|Forbidden|Unauthorized/i);
  });

  it("moves the instances where the plan said, and the cluster then scores what the plan said", async () => {
    const client = c.client();
    const applied = (await client.request("POST", "/corral/1/balance")) as Applied;
    assert.ok(applied.moves.length > 0);
    // A job of a later jobset waits for every job of the jobset before.
    applied.jobsets.forEach((set, k) => {
      for (const m of set) {
        const job = applied.jobs.find((j) => j.move === m);
        const deps = (job?.ops[0].depends ?? []) as unknown[];
        assert.equal(deps.length, k === 0 ? 0 : applied.jobsets[k - 1].length, `move ${m} depends on the jobset before`);
      }
    });
    for (const id of applied.job_ids) {
      const job = await client.waitForJob(id as number);
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
    }
    const placed = new Map(applied.moves.map((m) => [m.instance, m.to.primary]));
    for (const [instance, node] of placed) {
      const info = (await client.request("GET", `/2/instances/${instance}`)) as { pnode: string };
      assert.equal(info.pnode, node, `${instance} on ${node}`);
    }
    const after = (await client.request("GET", "/corral/1/balance")) as Plan;
    // Every agent here reports the free space of the one host file system, which moves as the
    // tests write; the free-disk terms follow it, every other term is what the plan said.
    for (const [name, planned] of Object.entries(applied.final_metrics)) {
      const tolerance = scoreTermTolerance(name);
      assert.ok(Math.abs(after.initial_metrics[name] - planned) < tolerance, `${name}: ${after.initial_metrics[name]} after the moves, ${planned} planned`);
    }
    const diskTerms = (p: Plan) => 0.5 * (p.initial_metrics.free_disk_cv + p.initial_metrics.free_disk_cv_forth);
    const plannedDisk = 0.5 * (applied.final_metrics.free_disk_cv + applied.final_metrics.free_disk_cv_forth);
    assert.ok(Math.abs(after.initial_score - diskTerms(after) - (applied.final_score - plannedDisk)) < 1e-6, `score after the moves ${after.initial_score}, planned ${applied.final_score}`);
  });
});

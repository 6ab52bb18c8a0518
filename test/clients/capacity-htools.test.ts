// Corral's capacity and verification against Debian's hspace and hcheck (ganeti-htools-3.0),
// both in their machine-readable output: the number of fixed-size instances that fit, the
// refusals of the last round per failure mode and the memory left must equal hspace's; the
// N+1, evacuation and offline counts must equal hcheck's. Two sources: htools' own test
// clusters (test/fixtures/htools/, read with -t; DRBD and N+1 reservations), and live Corral
// clusters read with -m next to GET /corral/1/capacity and /corral/1/verify.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { capacity, FAIL_MODES, type Capacity, type InstanceSpec } from "../../src/balance/capacity.ts";
import { policiesFromHtoolsText } from "../../src/balance/ipolicy.ts";
import { modelFromHtoolsText } from "../../src/balance/model.ts";
import { verifyCluster, type Health, type HealthCounts } from "../../src/balance/verify.ts";
import { RapiError } from "../../src/client/rapi.ts";
import { createTestInstance, runJob, startMultiNodeCluster, type MultiNodeCluster } from "../support/multinode.ts";
import { requireTools } from "../support/tools.ts";

const htools = requireTools({ tools: ["hspace", "hcheck"] });
const FIXTURES = join(fileURLToPath(new URL(".", import.meta.url)), "..", "fixtures", "htools");

/** Runs a tool and parses its KEY=VALUE lines (hcheck exits 1 when the cluster needs rebalancing). */
function machineReadable(tool: "hspace" | "hcheck", args: string[]): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    execFile(htools.path(tool), [...args, "--machine-readable"], { timeout: 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const keys = Object.fromEntries(stdout.split("\n").flatMap((l) => {
        const m = /^([A-Z0-9_]+)=(.*)$/.exec(l);
        return m ? [[m[1], m[2].replace(/^'(.*)'$/, "$1")]] : [];
      }));
      const ok = tool === "hspace" ? "HTS_OK" : "HCHECK_OK";
      if (keys[ok] !== "1") return reject(new Error(`${tool} ${args.join(" ")} failed (${String(err)}):\n${stdout}${stderr}`));
      resolve(keys);
    });
  });
}

/** hspace's fixed-size allocation result next to Corral's cluster-wide one. */
function assertSameAsHspace(c: Capacity, h: Record<string, string>, what: string): void {
  const dump = `\nCorral: ${JSON.stringify(c)}\nhspace: ${JSON.stringify(h)}`;
  assert.equal(c.count, Number(h.HTS_ALLOC_INSTANCES), `${what}: instances that fit${dump}`);
  const hspaceFailures = Object.fromEntries(FAIL_MODES.map((f) => [f, Number(h[`HTS_ALLOC_${f.toUpperCase()}_CNT`] ?? 0)]));
  assert.deepEqual(c.failures, hspaceFailures, `${what}: refusals of the last round${dump}`);
  if (c.failure_reason !== null) assert.equal(c.failure_reason.toUpperCase(), h.HTS_ALLOC_FAIL_REASON, `${what}: what runs out first${dump}`);
  assert.equal(c.spec.memory, Number(h.HTS_SPEC_MEM), `${what}: spec memory`);
  assert.equal(c.spec.disk, Number(h.HTS_SPEC_DSK), `${what}: spec disk`);
  assert.equal(c.spec.vcpus, Number(h.HTS_SPEC_CPU), `${what}: spec vCPUs`);
  assert.equal(c.spec.disk_template, h.HTS_SPEC_DISK_TEMPLATE, `${what}: spec template`);
  assert.equal(c.before.instances, Number(h.HTS_INI_INST_CNT), `${what}: instances before`);
  assert.equal(c.after.instances, Number(h.HTS_FIN_INST_CNT), `${what}: instances after`);
  assert.equal(c.after.memory_free, Number(h.HTS_FIN_MEM_FREE), `${what}: free memory after`);
  assert.equal(c.after.memory_available, Number(h.HTS_FIN_MEM_AVAIL), `${what}: available memory after`);
}

const HCHECK_KEYS: readonly (readonly [keyof HealthCounts, string])[] = [
  ["n1_failures", "N1_FAIL"], ["conflicting_tags", "CONFLICT_TAGS"], ["offline_primaries", "OFFLINE_PRI"],
  ["offline_nodes", "OFFLINE_SEC"], ["evacuation_failures", "GN1_FAIL"],
];

/** hcheck's initial per-group and cluster counts next to Corral's (groups matched by UUID). */
function assertSameAsHcheck(v: Health, h: Record<string, string>, uuids: ReadonlyMap<string, string>, what: string): void {
  const dump = `\nCorral: ${JSON.stringify(v)}\nhcheck: ${JSON.stringify(h)}`;
  for (const g of v.groups) {
    const idx = Object.entries(h).find(([k, val]) => k.startsWith("HCHECK_GROUP_UUID_") && val === uuids.get(g.group))?.[0].slice("HCHECK_GROUP_UUID_".length);
    assert.ok(idx !== undefined, `${what}: hcheck knows group ${g.group}${dump}`);
    for (const [ours, theirs] of HCHECK_KEYS) assert.equal(g[ours], Number(h[`HCHECK_INIT_GROUP_${idx}_${theirs}`]), `${what}, group ${g.group}: ${theirs}${dump}`);
    assert.ok(Math.abs(g.score - Number(h[`HCHECK_INIT_GROUP_${idx}_SCORE`])) < 1e-6, `${what}, group ${g.group}: score${dump}`);
  }
  for (const [ours, theirs] of HCHECK_KEYS) assert.equal(v.cluster[ours], Number(h[`HCHECK_INIT_CLUSTER_${theirs}`]), `${what}: cluster ${theirs}${dump}`);
  assert.equal(v.cluster.needs_rebalance, h.HCHECK_INIT_CLUSTER_NEED_REBALANCE === "1", `${what}: needs rebalancing${dump}`);
}

htools.describe("capacity and verification on htools' test clusters, next to hspace -t and hcheck -t", () => {
  const fixture = (file: string) => {
    const path = join(FIXTURES, file);
    const text = readFileSync(path, "utf8");
    const model = modelFromHtoolsText(text);
    return { path, model, policies: policiesFromHtoolsText(model, text), uuids: new Map(model.groups.map((g) => [g.name, g.uuid])) };
  };
  const cases = [
    "hbal-evac.data", // DRBD with an offline node: memory runs out first
    "hbal-dyn.data", // the vCPU ratio runs out first
    "partly-used.data", // no policy section: htools' default policy, diskless; hundreds of instances
    "hbal-cpu-speed.data", // DRBD placements stop at the global N+1 check
    "hbal-excl-tags.data",
    "hbal-soft-errors2.data", // spindles over the policy: nothing fits (FailDisk)
    "n1-failure.data", // a node already fails N+1: nothing is placed
    "hspace-groups-one.data",
    "hspace-groups-two.data",
    "shared-n1-failure.data", // shared storage: a node that cannot be lost
    "shared-n1-restriction.data",
  ];
  for (const file of cases) {
    it(`${file}: as many instances of the standard spec, the same refusals, the same health`, async () => {
      const f = fixture(file);
      assertSameAsHspace(capacity(f.model, f.policies).cluster, await machineReadable("hspace", ["-t", f.path]), file);
      assertSameAsHcheck(verifyCluster(f.model, f.policies), await machineReadable("hcheck", ["-t", f.path]), f.uuids, file);
    });
  }

  it("a given spec, template and limit count as hspace's --standard-alloc, --disk-template and -l", async () => {
    const f = fixture("hbal-evac.data");
    const specs: { spec: Partial<InstanceSpec>; args: string[]; limit?: number }[] = [
      { spec: { disk: 10240, memory: 512, vcpus: 2 }, args: ["--standard-alloc=10240,512,2"] },
      { spec: { disk: 1024, memory: 128, vcpus: 1, disk_template: "plain" }, args: ["--standard-alloc=1024,128,1", "--disk-template=plain"] },
      { spec: { disk: 1024, memory: 256, vcpus: 1 }, args: ["--standard-alloc=1024,256,1", "-l", "5"], limit: 5 },
    ];
    for (const { spec, args, limit } of specs) {
      const c = capacity(f.model, f.policies, { spec, limit }).cluster;
      const h = await machineReadable("hspace", ["-t", f.path, ...args]);
      assert.equal(c.count, Number(h.HTS_ALLOC_INSTANCES), `${args.join(" ")}: instances that fit`);
      if (limit === undefined) assertSameAsHspace(c, h, args.join(" "));
      else assert.equal(c.stopped_by, "limit");
    }
    const partly = fixture("partly-used.data");
    const unchecked = capacity(partly.model, partly.policies, { spec: { memory: 1024 }, noCapacityChecks: true }).cluster;
    assertSameAsHspace(unchecked, await machineReadable("hspace", ["-t", partly.path, "--standard-alloc=1024,1024,1", "--no-capacity-checks"]), "--no-capacity-checks");
  });
});

htools.describe("GET /corral/1/capacity and /corral/1/verify next to hspace -m and hcheck -m on live clusters", () => {
  let c: MultiNodeCluster;
  let url: string;
  const run = (method: string, uri: string, body?: unknown) => runJob(c, method, uri, body);
  const createInstance = (name: string, pnode: string, template: string, memory: number, vcpus = 1) => createTestInstance(c, name, pnode, template, memory, vcpus);
  const get = async <T>(uri: string) => (await c.client("reader").request("GET", uri)) as T;
  const groupUuids = async () => new Map((await get<{ name: string; uuid: string }[]>("/2/groups?bulk=1")).map((g) => [g.name, g.uuid]));

  before(async () => {
    c = await startMultiNodeCluster({ extraNodes: 2, memoryMiB: 8192, master: { ssl: true }, templates: ["diskless", "file", "sharedfile"] });
    url = `https://127.0.0.1:${c.master.port}`;
    await createInstance("web1", "node1", "sharedfile", 1024);
    await createInstance("web2", "node1", "sharedfile", 512, 2);
    await createInstance("files1", "node2", "file", 768);
    await createInstance("bare1", "node3", "diskless", 384);
  });
  after(() => c?.close());

  it("counts the standard spec as hspace does, for the cluster and its one group", async () => {
    const answer = await get<{ cluster: Capacity; groups: Capacity[] }>("/corral/1/capacity");
    assertSameAsHspace(answer.cluster, await machineReadable("hspace", ["-m", url]), "standard spec");
    assert.ok(answer.cluster.count > 0);
    assert.equal(answer.groups.length, 1);
    assert.equal(answer.groups[0].group, "default");
    assert.equal(answer.groups[0].count, answer.cluster.count, "one group: the group's capacity is the cluster's");
  });

  it("counts a given spec and template as hspace --standard-alloc --disk-template does", async () => {
    for (const [query, args] of [
      ["memory=1024&disk=2048&vcpus=1&disk_template=sharedfile", ["--standard-alloc=2048,1024,1", "--disk-template=sharedfile"]],
      ["memory=2048&vcpus=2&disk_template=file", ["--standard-alloc=1024,2048,2", "--disk-template=file"]],
      ["memory=512&disk_template=plain", ["--standard-alloc=1024,512,1", "--disk-template=plain"]], // not in the policy: FailDisk
    ] as const) {
      const answer = await get<{ cluster: Capacity }>(`/corral/1/capacity?${query}`);
      assertSameAsHspace(answer.cluster, await machineReadable("hspace", ["-m", url, ...args]), query);
    }
    const limited = await get<{ cluster: Capacity }>("/corral/1/capacity?memory=256&limit=3");
    assert.equal(limited.cluster.count, 3);
    assert.equal(limited.cluster.stopped_by, "limit");
  });

  it("answers 400 with Ganeti's error body for a bad query", async () => {
    const badRequest = (param: string) => (err: unknown) => {
      assert.ok(err instanceof RapiError, String(err));
      assert.equal(err.code, 400);
      assert.match(err.message, new RegExp(param), "the message names what is wrong");
      return true;
    };
    for (const [query, param] of [["memory=lots", "memory"], ["memory=0", "memory"], ["vcpus=-1", "vcpus"], ["disk_template=teleport", "teleport"], ["group=nosuch", "nosuch"], ["limit=-2", "limit"]]) {
      await assert.rejects(get(`/corral/1/capacity?${query}`), badRequest(param), query);
    }
    await assert.rejects(get("/corral/1/verify?group=nosuch"), badRequest("nosuch"));
  });

  it("verify counts as hcheck does: a healthy cluster, then nodes that could not be lost", async () => {
    assertSameAsHcheck(await get<Health>("/corral/1/verify"), await machineReadable("hcheck", ["-m", url]), await groupUuids(), "healthy");
    // Big instances on every node: none of them can take another's when it is lost.
    for (const n of ["node1", "node2", "node3"]) await createInstance(`big-${n}`, n, n === "node2" ? "file" : "sharedfile", 4096);
    const health = await get<Health>("/corral/1/verify");
    assertSameAsHcheck(health, await machineReadable("hcheck", ["-m", url]), await groupUuids(), "big instances");
    assert.ok(health.cluster.evacuation_failures > 0 && health.cluster.needs_rebalance, JSON.stringify(health.cluster));
    const answer = await get<{ cluster: Capacity }>("/corral/1/capacity");
    assertSameAsHspace(answer.cluster, await machineReadable("hspace", ["-m", url]), "unevacuable nodes");
    assert.equal(answer.cluster.count, 0, "no placement keeps every node losable");
    for (const n of ["node1", "node2", "node3"]) await run("DELETE", `/2/instances/big-${n}.corral.test`);
  });

  it("with two node groups and a drained node, counts each group and the cluster as hspace/hcheck do", async () => {
    await c.addAgent({ memoryMiB: 16384 });
    await run("POST", "/2/groups", { name: "rack2" });
    await run("PUT", "/2/groups/rack2/assign-nodes?force=1", { nodes: ["node3.corral.test", "node4.corral.test"] });
    await run("PUT", "/2/nodes/node2/role?auto-promote=1", "drained");
    const answer = await get<{ cluster: Capacity; groups: Capacity[] }>("/corral/1/capacity?memory=512");
    assertSameAsHspace(answer.cluster, await machineReadable("hspace", ["-m", url, "--standard-alloc=1024,512,1"]), "two groups");
    assert.deepEqual(answer.groups.map((g) => g.group), ["default", "rack2"]);
    const rack2 = await get<{ groups: Capacity[] }>("/corral/1/capacity?memory=512&group=rack2");
    assert.deepEqual(rack2.groups.map((g) => g.group), ["rack2"]);
    assertSameAsHcheck(await get<Health>("/corral/1/verify"), await machineReadable("hcheck", ["-m", url]), await groupUuids(), "two groups");
  });
});

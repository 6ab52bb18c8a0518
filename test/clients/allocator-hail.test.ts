// Corral's "hail" allocator against Debian's hail (ganeti-htools-3.0): for generated clusters,
// the iallocator request Ganeti would send for the cluster Corral sees (the config and the
// nodes' facts, written here field by field as Ganeti's iallocator protocol names them) goes
// to hail, and Corral's allocator, given the same cluster, must choose hail's node, or a node
// whose htools cluster score is the same, and refuse when hail refuses (with the same failure
// counts per group); the same for relocating a shared-storage instance (hail's "relocate").
// hail runs with --no-capacity-checks: Corral does not do its global N+1 check (allocator.ts).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { allocate, allocatorRanking, capacityModel, relocate, type AllocRequest, type CapacityModel } from "../../src/alloc/allocator.ts";
import { moveRequest } from "../../src/alloc/requests.ts";
import { newcomerFacts } from "../../src/alloc/accounting.ts";
import { groupIPolicy } from "../../src/alloc/policy.ts";
import { clusterScore } from "../../src/balance/metrics.ts";
import { filledBeparams } from "../../src/model/filled.ts";
import type { Instance, Node, NodeGroup } from "../../src/model/objects.ts";
import { initialConfig } from "../../src/ops/init.ts";
import { diskUsage } from "../../src/query/instance.ts";
import type { LiveState, NodeLive } from "../../src/query/live.ts";
import type { ConfigSnapshot } from "../../src/store/store.ts";
import { requireTools } from "../support/tools.ts";

const HAIL = "/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail";
const htools = requireTools({ files: [{ path: HAIL, package: "ganeti-htools-3.0" }] });
const work = mkdtempSync(join(tmpdir(), "corral-hail-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** A small deterministic generator (mulberry32), so a failing case can be run again. */
function random(seed: number): { int(lo: number, hi: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { int, pick: (xs) => xs[int(0, xs.length - 1)], chance: (p) => next() < p };
}

interface Generated {
  snap: ConfigSnapshot;
  live: LiveState;
  request: { name: string; memory: number; vcpus: number; template: string; disk: number; tags: string[] };
}

/**
 * A cluster of 3–12 nodes in one or two groups, with instances, some of them stopped. `tagged`:
 * also an exclusion tag prefix (cluster tag htools:iextags:svc), most instances and the request
 * tagged svc:web or svc:db (drawn apart, so a seed's cluster is otherwise the same).
 */
function generate(seed: number, tagged = false): Generated {
  const rnd = random(seed);
  const hypervisor = rnd.pick(["kvm", "fake"]);
  const templates = ["diskless", "file", "sharedfile"];
  const base = initialConfig({
    clusterName: "c.test", nodeName: "unused", nodeIp: "127.0.0.1", enabledHypervisors: [hypervisor],
    enabledDiskTemplates: templates, fileStorageDir: "/f", sharedFileStorageDir: "/s", agentEndpoint: "local",
  });
  const groups = new Map<string, NodeGroup>([["g-default", { ...base.group, uuid: "g-default", name: "default" }]]);
  if (rnd.chance(0.4)) groups.set("g-rack2", { ...base.group, uuid: "g-rack2", name: "rack2", alloc_policy: rnd.pick(["preferred", "last_resort"]) });
  if (rnd.chance(0.3)) (groups.get("g-default") as NodeGroup).ipolicy = { "vcpu-ratio": rnd.pick([1, 2, 8]) };
  const nodes = new Map<string, Node>();
  const liveNodes = new Map<string, NodeLive>();
  const instances = new Map<string, Instance>();
  const nodeCount = rnd.int(3, 12);
  // A third of the clusters are small and nearly full: memory and CPU refusals.
  const tight = rnd.chance(0.33);
  let k = 0;
  for (let n = 1; n <= nodeCount; n++) {
    const node: Node = {
      ...base.node, uuid: `u-node${n}`, name: `node${n}.c.test`, group: n > 2 && groups.has("g-rack2") && rnd.chance(0.5) ? "g-rack2" : "g-default",
      offline: rnd.chance(0.07), drained: rnd.chance(0.07), master_candidate: n === 1,
    };
    nodes.set(node.uuid, node);
    const total = rnd.pick(tight ? [8192, 12288] : [8192, 16384, 32768, 65536]);
    const dom0 = rnd.int(256, 2048);
    const cpus = rnd.pick(tight ? [1, 2] : [4, 8, 16, 32]);
    let used = 0;
    for (let i = rnd.int(0, 5); i > 0; i--) {
      const maxmem = rnd.pick([512, 1024, 2048, 4096]);
      if (used + maxmem > total - dom0 - (tight ? 512 : 4096)) break;
      const template = rnd.pick(templates);
      const size = rnd.int(1, 20) * 1024;
      const state = rnd.chance(0.75) ? "up" : rnd.chance(0.8) ? "down" : "offline";
      const name = `inst${++k}.c.test`;
      instances.set(`i-${k}`, {
        ...base.group, uuid: `i-${k}`, name, primary_node: node.uuid, secondary_nodes: [], os: "debootstrap", hypervisor, hvparams: {},
        beparams: { maxmem, minmem: maxmem, vcpus: rnd.int(1, 4) }, osparams: {}, osparams_private: {}, admin_state: state, admin_state_source: "admin",
        disk_template: template, nics: [], network_port: null, disks_active: true,
        disks: template === "diskless" ? [] : [{
          uuid: `d-${k}`, name: null, size, mode: "rw", dev_type: template, spindles: null, logical_id: [], params: {}, nodes: [node.uuid], serial_no: 1, ctime: 0, mtime: 0,
        }],
      } as Instance);
      // Instances marked up that do not run (a crash, a stop outside Ganeti) leave memory free.
      if (state === "up" && rnd.chance(0.85)) used += maxmem;
    }
    const fileTotal = rnd.pick([100_000, 400_000, 1_000_000]);
    liveNodes.set(node.uuid, {
      facts: {
        memory_total: total, memory_free: Math.max(0, total - dom0 - used - rnd.int(0, 600)), memory_dom0: dom0, cpu_total: cpus, cpu_nodes: 1, cpu_sockets: 1,
        cpu_dom0: rnd.pick([0, 1]), storage: [
          { name: "/f", type: "file", total: fileTotal, free: rnd.int(fileTotal / 2, fileTotal) },
          { name: "/s", type: "sharedfile", total: 4_000_000, free: 3_000_000 },
        ],
      },
    });
  }
  const tags = random(seed ^ 0x9e3779b9);
  const cluster = tagged ? { ...base.cluster, tags: ["htools:iextags:svc"] } : base.cluster;
  if (tagged) for (const inst of instances.values()) inst.tags = tags.chance(0.7) ? [tags.pick(["svc:web", "svc:db"])] : [];
  const snap: ConfigSnapshot = { serial: 1, cluster, nodes, groups, instances, networks: new Map(), filters: new Map() };
  const template = rnd.pick(["diskless", "sharedfile"]);
  return {
    snap, live: { nodes: liveNodes, instances: new Map() },
    request: {
      name: `new${seed}.c.test`, memory: rnd.pick([512, 1024, 2048, 4096, 8192, 24576, 30720]), vcpus: rnd.int(1, 8), template, disk: template === "diskless" ? 0 : rnd.int(1, 50) * 1024,
      tags: tagged ? ["svc:web"] : [],
    },
  };
}

const NIC = { mac: "aa:00:00:00:00:01", ip: null, mode: "bridged", link: "br0", bridge: "br0", network: null };

/** Ganeti's iallocator request (IAReqInstanceAlloc) for the generated cluster. */
function iallocatorRequest(g: Generated): unknown {
  const { snap, live } = g;
  const nodeName = (uuid: string) => snap.nodes.get(uuid)?.name ?? uuid;
  const nodes = Object.fromEntries([...snap.nodes.values()].map((n) => {
    const f = live.nodes.get(n.uuid)?.facts;
    const unit = f?.storage[0];
    return [n.name, {
      name: n.name, group: n.group, offline: n.offline, drained: n.drained, vm_capable: n.vm_capable, master_candidate: n.master_candidate,
      primary_ip: "192.0.2.1", secondary_ip: "192.0.2.1", tags: [], ndparams: { exclusive_storage: false, spindle_count: 1 },
      ...(n.offline || !f ? {} : {
        total_memory: f.memory_total, reserved_memory: f.memory_dom0, free_memory: f.memory_free, total_disk: unit?.total ?? 0, free_disk: unit?.free ?? 0,
        total_cpus: f.cpu_total, reserved_cpus: f.cpu_dom0 ?? 0, total_spindles: 0, free_spindles: 0,
      }),
    }];
  }));
  const instances = Object.fromEntries([...snap.instances.values()].map((i) => {
    const be = filledBeparams(snap.cluster, i.beparams);
    return [i.name, {
      memory: be["maxmem"], vcpus: be["vcpus"], spindle_use: be["spindle_use"], disk_template: i.disk_template, admin_state: i.admin_state,
      admin_state_source: i.admin_state_source, hypervisor: i.hypervisor, os: i.os, tags: i.tags, nics: [NIC],
      disks: i.disks.map((d) => ({ size: d.size, mode: d.mode, spindles: d.spindles })), disk_space_total: diskUsage(i),
      nodes: [nodeName(i.primary_node), ...i.secondary_nodes.map(nodeName)],
    }];
  }));
  const nodegroups = Object.fromEntries([...snap.groups.values()].map((gr) => [gr.uuid, {
    name: gr.name, alloc_policy: gr.alloc_policy, networks: [], tags: [], ipolicy: groupIPolicy(snap.cluster, gr),
  }]));
  const r = g.request;
  return {
    version: 2, cluster_name: "c.test", cluster_tags: snap.cluster.tags, enabled_hypervisors: snap.cluster.enabled_hypervisors, ipolicy: snap.cluster.ipolicy,
    nodegroups, nodes, instances,
    request: {
      type: "allocate", name: r.name, required_nodes: 1, memory: r.memory, vcpus: r.vcpus, spindle_use: 1, disk_template: r.template, os: "debootstrap",
      tags: r.tags, nics: [NIC], hypervisor: snap.cluster.enabled_hypervisors[0],
      disks: r.disk > 0 ? [{ size: r.disk, mode: "rw", spindles: null }] : [], disk_space_total: r.disk,
    },
  };
}

function hail(request: unknown, file: string, args: string[]): Promise<{ success: boolean; info: string; result: string[] }> {
  const path = join(work, file);
  writeFileSync(path, JSON.stringify(request));
  return new Promise((resolve, reject) => {
    execFile(HAIL, [...args, path], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`hail ${path}: ${stdout}${stderr}`));
      resolve(JSON.parse(stdout) as { success: boolean; info: string; result: string[] });
    });
  });
}

/** Corral's request for the generated one, as the instance-creation LU makes it (create-plan.ts). */
function corralRequest(g: Generated): AllocRequest {
  const r = g.request;
  return {
    name: r.name, memory: r.memory, vcpus: r.vcpus, disk: r.disk > 0 ? { type: r.template, size: r.disk } : null,
    shape: { memory: r.memory, vcpus: r.vcpus, spindleUse: 1, nics: 1, diskSizes: r.disk > 0 ? [r.disk] : [], diskTemplates: r.disk > 0 ? [r.template] : [] },
    ranking: allocatorRanking("hail"), tags: r.tags,
  };
}

/** The htools cluster score with the request placed on a node, computed from scratch. */
function scoreOn(m: CapacityModel, g: Generated, uuid: string): number {
  const index = m.accounting.index.get(uuid);
  assert.ok(index !== undefined, uuid);
  const after = m.states[index].copy();
  const r = g.request;
  after.addPrimary(newcomerFacts(m.accounting, { name: r.name, memory: r.memory, vcpus: r.vcpus, template: r.template, disk: r.disk, spindleUse: 1, tags: r.tags }), true);
  return clusterScore(m.states.map((s, i) => (i === index ? after : s)));
}

/** The score of the source's group with an instance moved to `uuid`, computed from scratch. */
function moveScore(m: CapacityModel, inst: Instance, uuid: string): number {
  const ix = m.accounting.instanceIndex.get(inst.uuid)!;
  const from = m.accounting.pnode[ix];
  const to = m.accounting.index.get(uuid)!;
  const source = m.states[from].copy();
  source.removePrimary(m.accounting.instances[ix]);
  const target = m.states[to].copy();
  target.addPrimary(m.accounting.instances[ix], true);
  const group = m.accounting.model.nodes[from].group;
  return clusterScore(m.states.flatMap((s, i) => (m.accounting.model.nodes[i].group !== group ? [] : [i === from ? source : i === to ? target : s])));
}

/** An instance hail can relocate (shared storage or diskless, marked up) from a node that takes part. */
function movable(g: Generated): Instance | undefined {
  return [...g.snap.instances.values()].find((i) => {
    const node = g.snap.nodes.get(i.primary_node)!;
    return ["sharedfile", "diskless"].includes(i.disk_template) && i.admin_state === "up" && !node.offline && !node.drained;
  });
}

/** Each group's failure counts in a refusal ("Group default (preferred): … failure reasons: FailMem: 2"). */
function failureReasons(info: string): Record<string, string> {
  return Object.fromEntries([...info.matchAll(/Group (\S+) \((\w+)\): No valid allocation solutions, failure reasons: ([\w:, ]+?)(?=[;,] Group|$)/g)].map((x) => [x[1], x[3]]));
}

/** A relocation (failover of a shared-storage instance) of the generated cluster: hail's target or one of equal score. */
async function sameRelocation(g: Generated, seed: number): Promise<"same" | "equal" | "refused" | "none"> {
  const inst = movable(g);
  if (!inst) return "none";
  const source = g.snap.nodes.get(inst.primary_node)!;
  const request = { ...(iallocatorRequest(g) as Record<string, unknown>), request: { type: "relocate", name: inst.name, required_nodes: 1, relocate_from: [source.name] } };
  const h = await hail(request, `reloc-${seed}.json`, ["--no-capacity-checks"]);
  const m = capacityModel(g.snap, g.live);
  const c = relocate(m, g.snap, { ...moveRequest(g.snap, inst), group: source.group, ranking: allocatorRanking("hail") });
  const what = `seed ${seed}, relocating ${inst.name} from ${source.name}: hail ${JSON.stringify(h)}, Corral ${JSON.stringify(c)}`;
  assert.equal(c.ok, h.success, what);
  if (!c.ok || !h.success) return "refused";
  const hailNode = [...g.snap.nodes.values()].find((n) => n.name === h.result[0]);
  assert.ok(hailNode, what);
  if (hailNode.uuid === c.node) return "same";
  assert.ok(Math.abs(moveScore(m, inst, hailNode.uuid) - moveScore(m, inst, c.node)) < 1e-9, `${what}: a node of another score`);
  return "equal";
}

const SEEDS = Array.from({ length: 60 }, (_, i) => 1000 + i);
/**
 * Clusters of this generator where hail's way of scoring a relocation (the instance leaves its
 * node; the score is over its group) and scoring it as a new instance over the whole cluster
 * choose different nodes (found by trying seeds 0–600).
 */
const MOVE_SEEDS = [83, 85, 179, 232, 474, 477, 530, 578];

/** Hail's and Corral's allocation for the generated cluster: the same node, one of equal score, or both refuse alike. */
async function sameAllocation(g: Generated, seed: number): Promise<"same" | "equal" | "refused"> {
  const h = await hail(iallocatorRequest(g), `req-${seed}.json`, ["--no-capacity-checks"]);
  const m = capacityModel(g.snap, g.live);
  const c = allocate(m, g.snap, corralRequest(g));
  const what = `seed ${seed}: hail ${JSON.stringify(h)}, Corral ${JSON.stringify(c)}`;
  assert.equal(c.ok, h.success, what);
  if (!c.ok || !h.success) {
    assert.ok(Object.keys(failureReasons(h.info)).length > 0, `${what}: hail's refusal read`);
    assert.deepEqual(failureReasons(c.info), failureReasons(h.info), `${what}: the same refusals per group`);
    return "refused";
  }
  const hailNode = [...g.snap.nodes.values()].find((n) => n.name === h.result[0]);
  assert.ok(hailNode, what);
  if (hailNode.uuid === c.node) return "same";
  assert.ok(Math.abs(scoreOn(m, g, hailNode.uuid) - scoreOn(m, g, c.node)) < 1e-9, `${what}: a node of another score`);
  return "equal";
}

htools.describe("the hail allocator next to Debian's hail", () => {
  it("chooses hail's node (or one of equal score) on 60 generated clusters, and refuses when hail refuses", async () => {
    let same = 0;
    let refused = 0;
    const moves = { same: 0, equal: 0, refused: 0, none: 0 };
    for (const seed of SEEDS) {
      const g = generate(seed);
      moves[await sameRelocation(g, seed)]++;
      const outcome = await sameAllocation(g, seed);
      if (outcome === "same") same++;
      if (outcome === "refused") refused++;
    }
    console.log(`hail: ${same} the same node, ${SEEDS.length - same - refused} another of equal score, ${refused} refused by both; relocations: ${JSON.stringify(moves)}`);
    assert.ok(moves.same >= SEEDS.length / 3, "relocations were compared too");
    assert.ok(same >= SEEDS.length / 2, "most choices are hail's very node");
    assert.ok(refused < SEEDS.length / 2, "most requests fit somewhere");
  });

  it("keeps a new instance away from those sharing its exclusion tag as hail does (htools:iextags), on 40 tagged clusters", async () => {
    const outcomes = { same: 0, equal: 0, refused: 0 };
    let tagsDecided = 0;
    for (let seed = 2000; seed < 2040; seed++) {
      const g = generate(seed, true);
      const outcome = await sameAllocation(g, seed);
      outcomes[outcome]++;
      // The cases where the tags changed the choice: without them Corral picks another node.
      const untagged = allocate(capacityModel(g.snap, g.live), g.snap, { ...corralRequest(g), tags: [] });
      const tagged = allocate(capacityModel(g.snap, g.live), g.snap, corralRequest(g));
      if (untagged.ok && tagged.ok && untagged.node !== tagged.node) tagsDecided++;
    }
    console.log(`hail with exclusion tags: ${JSON.stringify(outcomes)}; the tags changed the node in ${tagsDecided}`);
    assert.ok(tagsDecided >= 3, `the tags decided the node in ${tagsDecided} of 40 clusters: too few to show they are heeded`);
    assert.ok(outcomes.same >= 20, "most choices are hail's very node");
  });

  it("relocates as hail does where scoring the move differs from scoring a new instance", async () => {
    for (const seed of MOVE_SEEDS) assert.equal(await sameRelocation(generate(seed), seed), "same", `seed ${seed}`);
  });
});

import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { defaultIPolicy } from "../model/defaults.ts";
import type { Instance, Node, NodeGroup } from "../model/objects.ts";
import { initialConfig } from "../ops/init.ts";
import type { InstanceLive, LiveState, NodeLive } from "../query/live.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { allocate, allocateMany, allocatorRanking, capacityModel, isKnownAllocator, place, relocate, type AllocRequest, type Ranking } from "./allocator.ts";
import { groupIPolicy, specViolations } from "./policy.ts";
import { clusterScore } from "../balance/metrics.ts";
import { instanceFacts } from "../balance/state.ts";

interface NodeSpec {
  name: string;
  memFree: number;
  memTotal?: number;
  cpus?: number;
  fileFree?: number;
  group?: string;
  offline?: boolean;
  drained?: boolean;
  vmCapable?: boolean;
  answered?: boolean;
}

/** A snapshot and live state with the given nodes (and groups "default", "other", "spare"). */
function cluster(nodes: NodeSpec[], instances: Partial<Instance>[] = [], running: Record<string, boolean> = {}) {
  const base = initialConfig({
    clusterName: "c", nodeName: "unused", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
    enabledDiskTemplates: ["diskless", "file", "sharedfile", "ext"], fileStorageDir: "/f", sharedFileStorageDir: "/s", agentEndpoint: "local",
  });
  const groups = new Map<string, NodeGroup>();
  for (const [name, policy] of [["default", "preferred"], ["other", "preferred"], ["spare", "last_resort"]] as const) {
    groups.set(`g-${name}`, { ...base.group, uuid: `g-${name}`, name, alloc_policy: policy });
  }
  const nodeMap = new Map<string, Node>();
  const liveNodes = new Map<string, NodeLive>();
  for (const n of nodes) {
    const node: Node = {
      ...base.node, uuid: `u-${n.name}`, name: n.name, group: `g-${n.group ?? "default"}`, offline: n.offline ?? false,
      drained: n.drained ?? false, vm_capable: n.vmCapable ?? true,
    };
    nodeMap.set(node.uuid, node);
    if (n.answered === false) continue;
    liveNodes.set(node.uuid, {
      facts: {
        memory_total: n.memTotal ?? 32768, memory_free: n.memFree, memory_dom0: 1024, cpu_total: n.cpus ?? 4, cpu_nodes: 1, cpu_sockets: 1,
        storage: [{ name: "/f", type: "file", total: 100000, free: n.fileFree ?? 100000 }],
      },
    });
  }
  const instMap = new Map<string, Instance>();
  const liveInst = new Map<string, InstanceLive>();
  instances.forEach((i, k) => {
    const inst = {
      uuid: `i-${k}`, name: `i${k}`, admin_state: "up", beparams: {}, disks: [], nics: [], secondary_nodes: [], tags: [], disk_template: "diskless", hypervisor: "fake", ...i,
    } as Instance;
    instMap.set(inst.uuid, inst);
    if (running[inst.name]) liveInst.set(inst.uuid, { running: true, node: inst.primary_node, memory: 1024, vcpus: 1 });
  });
  const snap: ConfigSnapshot = {
    serial: 1, cluster: base.cluster, nodes: nodeMap, groups, instances: instMap, networks: new Map(), filters: new Map(),
  };
  const live: LiveState = { nodes: liveNodes, instances: liveInst };
  return { snap, live };
}

function request(over: Partial<AllocRequest> = {}): AllocRequest {
  return {
    name: "new",
    memory: 1024,
    vcpus: 1,
    disk: { type: "file", size: 2048 },
    shape: { memory: 1024, vcpus: 1, spindleUse: 1, nics: 1, diskSizes: [2048], diskTemplates: ["file"] },
    ...over,
  };
}

const pick = (nodes: NodeSpec[], req = request(), instances: Partial<Instance>[] = []) => {
  const { snap, live } = cluster(nodes, instances);
  const r = allocate(capacityModel(snap, live), snap, req);
  return r.ok ? snap.nodes.get(r.node)!.name : r.info;
};

test("knows its names: hail (what clients send), corral, and PVC's selectors as pvc-*", () => {
  assert.ok(isKnownAllocator("hail") && isKnownAllocator("corral"));
  assert.deepEqual(["hail", "corral", "pvc-mem", "pvc-vcpus", "pvc-load", "pvc-vms"].map(allocatorRanking), ["cluster", "headroom", "mem", "vcpus", "load", "vms"]);
  for (const unknown of ["dumb", "mem", "pvc-", "pvc-best", "PVC-MEM"]) assert.ok(!isKnownAllocator(unknown), unknown);
});

test("corral: prefers the node with the most memory left, then disk, then spare CPU", () => {
  const corral = request({ ranking: "headroom" });
  assert.equal(pick([{ name: "n1", memFree: 4000 }, { name: "n2", memFree: 20000 }], corral), "n2");
  assert.equal(pick([{ name: "n1", memFree: 8000, fileFree: 90000 }, { name: "n2", memFree: 8000, fileFree: 10000 }], corral), "n1");
  assert.equal(pick([{ name: "n1", memFree: 8000, cpus: 2 }, { name: "n2", memFree: 8000, cpus: 16 }], corral), "n2");
  // A tie goes to the node first in nice order.
  assert.equal(pick([{ name: "n10", memFree: 8000 }, { name: "n9", memFree: 8000 }], corral), "n9");
});

test("hail: the node after which htools' cluster score is lowest; of equal scores the later one", () => {
  const nodes: NodeSpec[] = [
    { name: "n1", memFree: 4000, memTotal: 8192 }, { name: "n2", memFree: 20000, cpus: 2 }, { name: "n3", memFree: 12000, fileFree: 30000 },
    { name: "n4", memFree: 9000, memTotal: 16384, cpus: 16 },
  ];
  const { snap, live } = cluster(nodes, [{ primary_node: "u-n2", beparams: { vcpus: 6, maxmem: 8000 } }, { primary_node: "u-n4", beparams: { maxmem: 2000 } }]);
  const model = capacityModel(snap, live);
  const r = allocate(model, snap, request());
  assert.ok(r.ok);
  // Every candidate scored from scratch: the chosen one has the lowest score.
  const scores = new Map(model.nodes.map((cap) => {
    const after = model.states[cap.index].copy();
    assert.equal(after.addPrimary(instanceFacts({
      name: "new", mem: 1024, dsk: 2048, vcpus: 1, status: "running", autoBalance: true, pnode: -1, snode: -1, template: "file",
      hypervisor: null, alwaysFailover: false, spindleUse: 1, spindles: null, tags: [],
    }, []), false), undefined);
    return [cap.node.uuid, clusterScore(model.states.map((s, i) => (i === cap.index ? after : s)))];
  }));
  const lowest = Math.min(...scores.values());
  assert.equal(scores.get(r.node), lowest, `chose ${snap.nodes.get(r.node)!.name}: ${JSON.stringify([...scores])}`);
  assert.equal(new Set(scores.values()).size, 4, "the four scores differ");
  assert.equal(pick([{ name: "n10", memFree: 8000 }, { name: "n9", memFree: 8000 }]), "n10", "equal scores: the later in nice order");
});

test("never chooses offline, drained, non-vm_capable or silent nodes", () => {
  for (const bad of [{ offline: true }, { drained: true }, { vmCapable: false }, { answered: false }]) {
    assert.equal(pick([{ name: "n1", memFree: 2000 }, { name: "n2", memFree: 30000, ...bad }]), "n1", JSON.stringify(bad));
  }
});

test("counts memory, disk and CPU failures as hail does", () => {
  assert.equal(
    pick([{ name: "n1", memFree: 500 }, { name: "n2", memFree: 8000, fileFree: 100 }], request()),
    "Request failed: Group default (preferred): No valid allocation solutions, failure reasons: FailMem: 1, FailDisk: 1",
  );
  const busy = Array.from({ length: 16 }, () => ({ primary_node: "u-n1", beparams: { vcpus: 1 } }));
  assert.equal(
    pick([{ name: "n1", memFree: 8000, cpus: 4 }], request(), busy),
    "Request failed: Group default (preferred): No valid allocation solutions, failure reasons: FailCPU: 1",
  );
  // An instance that will not run needs no memory; a diskless one no disk. (A node without
  // any free memory refuses even those, as htools' accounting does.)
  assert.equal(pick([{ name: "n1", memFree: 500 }], request({ memory: 0, disk: null })), "n1");
  assert.match(pick([{ name: "n1", memFree: 0 }], request({ memory: 0, disk: null })), /FailMem: 1/);
});

test("memory of instances marked up but not running is held back for them", () => {
  // n1 reports 8,000 MiB free, but its records leave 9,024 − 1,024 (the node's own) − 4,000.
  const { snap, live } = cluster([{ name: "n1", memFree: 8000, memTotal: 9024 }, { name: "n2", memFree: 6000, memTotal: 9024 }], [
    { primary_node: "u-n1", admin_state: "up", beparams: { maxmem: 4000 } },
  ]);
  const model = capacityModel(snap, live);
  assert.equal(model.states[model.nodes.find((m) => m.node.name === "n1")!.index].unallocatedMem(), 4000);
  for (const ranking of ["cluster", "headroom"] as const) {
    const r = allocate(model, snap, request({ ranking }));
    assert.ok(r.ok && snap.nodes.get(r.node)!.name === "n2", ranking);
  }
  assert.match(pick([{ name: "n1", memFree: 8000, memTotal: 9024 }], request({ memory: 4500 }), [
    { primary_node: "u-n1", admin_state: "up", beparams: { maxmem: 4000 } },
  ]), /FailMem: 1/);
});

test("uses last_resort groups only when the preferred ones are full, and groups whose policy fits first", () => {
  assert.equal(pick([{ name: "n1", memFree: 2000 }, { name: "s1", memFree: 30000, group: "spare" }]), "n1");
  assert.equal(pick([{ name: "n1", memFree: 100 }, { name: "s1", memFree: 30000, group: "spare" }]), "s1");
  const { snap, live } = cluster([{ name: "n1", memFree: 30000 }, { name: "o1", memFree: 2000, group: "other" }]);
  const strict = { ...defaultIPolicy(["file"]), minmax: [{ min: { ...defaultIPolicy([]).minmax[0].min, "memory-size": 4096 }, max: defaultIPolicy([]).minmax[0].max }] };
  (snap.groups.get("g-default") as NodeGroup).ipolicy = strict;
  const r = allocate(capacityModel(snap, live), snap, request());
  assert.ok(r.ok && snap.nodes.get(r.node)!.name === "o1", "the group whose policy the instance fits");
  const ignoring = allocate(capacityModel(snap, live), snap, request({ ignoreIpolicy: true }));
  assert.ok(ignoring.ok && snap.nodes.get(ignoring.node)!.name === "n1");
});

test("places several instances in turn, each seeing what the ones before took", () => {
  const { snap, live } = cluster([{ name: "n1", memFree: 2000 }, { name: "n2", memFree: 1500 }]);
  const result = allocateMany(snap, live, [request({ name: "a" }), request({ name: "b" }), request({ name: "c" })]);
  assert.deepEqual(result.allocatable.map(([n, [u]]) => [n, snap.nodes.get(u)!.name]), [["a", "n1"], ["b", "n2"]]);
  assert.deepEqual(result.failed, ["c"]);
});

test("relocation stays in the group, away from the source, with hail's wording when nothing fits", () => {
  const { snap, live } = cluster([{ name: "n1", memFree: 30000 }, { name: "n2", memFree: 9000 }, { name: "o1", memFree: 30000, group: "other" }]);
  const model = capacityModel(snap, live);
  const r = relocate(model, snap, request({ exclude: ["u-n1"], group: "g-default", disk: null }));
  assert.ok(r.ok && snap.nodes.get(r.node)!.name === "n2");
  const none = relocate(model, snap, request({ exclude: ["u-n1", "u-n2"], group: "g-default", disk: null }));
  assert.deepEqual(none, { ok: false, info: "Request failed: Can't find any good node: " });
  const full = relocate(model, snap, request({ exclude: ["u-n1"], group: "g-default", memory: 20000, disk: null }));
  assert.deepEqual(full, { ok: false, info: "Request failed: Can't find any good node: FailMem: 1" });
});

test("policy violations read as Ganeti's", () => {
  const { snap } = cluster([]);
  const policy = groupIPolicy(snap.cluster, snap.groups.get("g-default"));
  assert.deepEqual(specViolations(policy, { memory: 64, vcpus: 1, spindleUse: 1, nics: 1, diskSizes: [128], diskTemplates: ["plain"] }), [
    "Disk template plain is not allowed (allowed templates: diskless, file, sharedfile, ext)",
    "memory-size value 64 is not in range [128, 32768]",
    "disk-size/0 value 128 is not in range [1024, 1048576]",
  ]);
});

describe("PVC rankings", () => {
  // n1: one big running instance; n2: one small one with many vCPUs; n3: one running and two
  // stopped instances, the lowest load. Corral's headroom score would pick n3, which has the most memory.
  const world = () => {
    const { snap, live } = cluster(
      [{ name: "n1", memFree: 8000 }, { name: "n2", memFree: 9000 }, { name: "n3", memFree: 20000 }],
      [
        { name: "a", primary_node: "u-n1" },
        { name: "b", primary_node: "u-n2" },
        { name: "c", primary_node: "u-n3" },
        { name: "d", primary_node: "u-n3", admin_state: "down" },
        { name: "e", primary_node: "u-n3", admin_state: "down" },
      ],
      { a: true, b: true, c: true },
    );
    const runs = live.instances as Map<string, InstanceLive>;
    runs.set("i-0", { running: true, node: "u-n1", memory: 4096, vcpus: 1 });
    runs.set("i-1", { running: true, node: "u-n2", memory: 512, vcpus: 8 });
    runs.set("i-2", { running: true, node: "u-n3", memory: 2048, vcpus: 2 });
    const loads: Record<string, number> = { "u-n1": 3, "u-n2": 1.5, "u-n3": 0.25 };
    for (const [uuid, n] of live.nodes) n.facts!.host = { loadavg: [loads[uuid], 0, 0] };
    return { snap, live };
  };
  const pickBy = (ranking: Ranking, over: Partial<AllocRequest> = {}, change?: (w: ReturnType<typeof world>) => void) => {
    const w = world();
    change?.(w);
    const r = allocate(capacityModel(w.snap, w.live), w.snap, request({ ranking, disk: null, ...over }));
    return r.ok ? w.snap.nodes.get(r.node)!.name : r.info;
  };

  it("rank by what each selector counts, lowest first", () => {
    assert.equal(pickBy("headroom"), "n3");
    assert.equal(pickBy("mem"), "n2", "least memory of running instances");
    assert.equal(pickBy("vcpus"), "n1", "fewest running vCPUs");
    assert.equal(pickBy("load"), "n3", "lowest load average");
    assert.equal(pickBy("vms"), "n1", "fewest instances, stopped ones counted (n1 before n2 by name)");
  });

  it("keep the allocator's candidates: drained, flushed, full or excluded nodes are never chosen", () => {
    const drain = (name: string) => (w: ReturnType<typeof world>) => void ((w.snap.nodes.get(`u-${name}`) as Node).drained = true);
    assert.equal(pickBy("mem", {}, drain("n2")), "n3");
    assert.equal(pickBy("vcpus", {}, (w) => void ((w.snap.nodes.get("u-n1") as Node).pvc = { domain_state: "flush", jobs: [] })), "n3");
    assert.equal(pickBy("mem", { memory: 8500 }), "n2", "n2 still has room");
    assert.equal(pickBy("mem", { memory: 9500 }), "n3", "n2 cannot hold it (FailMem), n3 can");
    assert.equal(pickBy("load", { exclude: ["u-n3"] }), "n2");
    assert.match(pickBy("vms", { memory: 50000 }), /FailMem: 3/);
  });

  it("a node that did not report its load comes last for the load ranking", () => {
    assert.equal(pickBy("load", {}, (w) => void delete w.live.nodes.get("u-n3")!.facts!.host), "n2");
  });

  it("count what was placed before: running memory, vCPUs and instances", () => {
    const { snap, live } = world();
    const model = capacityModel(snap, live);
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const req = request({ name: `new${i}`, ranking: "vms", disk: null });
      const r = allocate(model, snap, req);
      assert.ok(r.ok);
      place(model, r.node, req);
      names.push(snap.nodes.get(r.node)!.name);
    }
    assert.deepEqual(names, ["n1", "n2", "n1", "n2"]);
    const n2 = model.nodes.find((m) => m.node.name === "n2")!;
    assert.deepEqual([n2.instances, n2.runningMemory, n2.runningVcpus], [3, 512 + 2048, 8 + 2]);
    const stopped = request({ memory: 0, disk: null });
    place(model, n2.node.uuid, stopped);
    assert.deepEqual([n2.instances, n2.runningMemory, n2.runningVcpus], [4, 512 + 2048, 8 + 2], "an instance that will not run adds no running memory");
  });
});

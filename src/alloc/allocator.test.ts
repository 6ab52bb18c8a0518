import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultIPolicy } from "../model/defaults.ts";
import type { Instance, Node, NodeGroup } from "../model/objects.ts";
import { initialConfig } from "../ops/init.ts";
import type { InstanceLive, LiveState, NodeLive } from "../query/live.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { allocate, allocateMany, capacityModel, isKnownAllocator, relocate, type AllocRequest } from "./allocator.ts";
import { groupIPolicy, specViolations } from "./policy.ts";

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
    const inst = { uuid: `i-${k}`, name: `i${k}`, admin_state: "up", beparams: {}, disks: [], nics: [], ...i } as Instance;
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

test("knows its names: hail (what clients send) and corral", () => {
  assert.ok(isKnownAllocator("hail") && isKnownAllocator("corral"));
  assert.ok(!isKnownAllocator("dumb"));
});

test("prefers the node with the most memory left, then disk, then spare CPU", () => {
  assert.equal(pick([{ name: "n1", memFree: 4000 }, { name: "n2", memFree: 20000 }]), "n2");
  assert.equal(pick([{ name: "n1", memFree: 8000, fileFree: 90000 }, { name: "n2", memFree: 8000, fileFree: 10000 }]), "n1");
  assert.equal(pick([{ name: "n1", memFree: 8000, cpus: 2 }, { name: "n2", memFree: 8000, cpus: 16 }]), "n2");
  // A tie goes to the node first in nice order.
  assert.equal(pick([{ name: "n10", memFree: 8000 }, { name: "n9", memFree: 8000 }]), "n9");
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
  // An instance that will not run needs no memory; a diskless one no disk.
  assert.equal(pick([{ name: "n1", memFree: 0 }], request({ memory: 0, disk: null })), "n1");
});

test("memory of instances marked up but not running is held back for them", () => {
  const { snap, live } = cluster([{ name: "n1", memFree: 8000 }, { name: "n2", memFree: 6000 }], [
    { primary_node: "u-n1", admin_state: "up", beparams: { maxmem: 4000 } },
  ]);
  const model = capacityModel(snap, live);
  assert.equal(model.find((m) => m.node.name === "n1")!.memFree, 4000);
  const r = allocate(model, snap, request());
  assert.ok(r.ok && snap.nodes.get(r.node)!.name === "n2");
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

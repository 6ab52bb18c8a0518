// The worker-thread runner: answers equal the same computation here, errors keep their kind,
// the queue is bounded, and a computation whose caller gave up while it waited never runs.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { compute, type RapiJson } from "./computations.ts";
import { ModelError, type RapiData } from "./model.ts";
import { ComputationRunner, ComputationsBusy } from "./offloop.ts";

const POLICY = {
  minmax: [{
    min: { "memory-size": 128, "cpu-count": 1, "disk-size": 1024, "disk-count": 1, "nic-count": 1, "spindle-use": 1 },
    max: { "memory-size": 32768, "cpu-count": 8, "disk-size": 1048576, "disk-count": 16, "nic-count": 8, "spindle-use": 12 },
  }],
  std: { "memory-size": 128, "cpu-count": 1, "disk-size": 1024, "disk-count": 1, "nic-count": 1, "spindle-use": 1 },
  "disk-templates": ["sharedfile", "diskless"],
  "vcpu-ratio": 4.0,
  "spindle-ratio": 32.0,
};

/** A group of `nodes` nodes of 16 GiB, 8 CPUs, with `instances` shared-storage instances piled on the first ones. */
function cluster(nodes: number, instances: number): RapiData {
  const nodeNames = Array.from({ length: nodes }, (_, k) => `node${k}.example.com`);
  return {
    groups: [{ name: "default", uuid: "uuid-default", ipolicy: POLICY, alloc_policy: "preferred" }],
    nodes: nodeNames.map((name) => ({
      name, offline: false, drained: false, vm_capable: true, "group.uuid": "uuid-default", tags: [],
      ndparams: { exclusive_storage: false, spindle_count: 1 },
      mtotal: 16384, mnode: 1024, mfree: 15360, dtotal: 1048576, dfree: 1048576, ctotal: 8, cnos: 1,
    })),
    instances: Array.from({ length: instances }, (_, k) => ({
      name: `inst${k}.example.com`, status: k % 5 === 0 ? "ADMIN_down" : "running",
      pnode: nodeNames[(k * k) % Math.max(1, Math.floor(nodes / 3))], snodes: [], disk_template: "sharedfile",
      beparams: { memory: 128, vcpus: 1, auto_balance: true, spindle_use: 1 },
      disk_usage: 0, "disk.spindles": [null], "disk.sizes": [1024], tags: ["owner:jürgen-ß-€"],
    })),
    info: { default_hypervisor: "kvm", tags: [], ipolicy: POLICY },
  };
}

/** The dicts as the RAPI's JSON, as the routes send them: the instances' in pieces of 1,000 bytes (cutting characters apart). */
function asJson(d: RapiData): RapiJson {
  const bytes = new TextEncoder().encode(JSON.stringify(d.instances));
  const instances = Array.from({ length: Math.ceil(bytes.length / 1000) }, (_, k) => bytes.slice(k * 1000, (k + 1) * 1000));
  return { groups: JSON.stringify(d.groups), nodes: JSON.stringify(d.nodes), instances, info: JSON.stringify(d.info) };
}

describe("computations on the worker thread", () => {
  const runner = new ComputationRunner({ maxWaiting: 2, retryAfterSeconds: 7 });
  after(() => runner.close());

  it("answers what the same computation answers on this thread", async () => {
    const data = cluster(12, 40);
    for (const c of [
      { name: "plan", data, options: { group: "default" } },
      { name: "capacity", data, spec: { memory: 256 }, noCapacityChecks: false },
      { name: "verify", data, group: "default" },
    ] as const) {
      assert.deepEqual(await runner.run({ ...c, data: asJson(data) }), JSON.parse(JSON.stringify(compute(c))), c.name);
    }
    assert.ok((await runner.run({ name: "plan", data: asJson(data), options: { group: "default" } })).moves.length > 0, "the piled cluster has moves to plan");
  });

  it("rejects with a ModelError for data the model cannot read, and an Error with the message otherwise", async () => {
    const unreadable: RapiData = { groups: [], nodes: [{ name: "n1", offline: false }], instances: [], info: { tags: [] } };
    await assert.rejects(runner.run({ name: "verify", data: asJson(unreadable) }), (e) => e instanceof ModelError && e.message === "Node 'n1': missing field 'drained'");
    await assert.rejects(runner.run({ name: "capacity", data: asJson(cluster(3, 3)), group: "nosuch", spec: {}, noCapacityChecks: false }), (e) => e instanceof ModelError && /Node group 'nosuch' not found/.test(e.message));
    // Not a list where the model reads one: a fault, not a model error (the routes answer 500).
    await assert.rejects(runner.run({ name: "verify", data: { ...asJson(cluster(3, 3)), nodes: "null" } }), (e) => e instanceof Error && !(e instanceof ModelError) && /map/.test(e.message));
    await assert.rejects(runner.run({ name: "verify", data: { ...asJson(cluster(3, 3)), nodes: "[{" } }), (e) => e instanceof Error && !(e instanceof ModelError) && /JSON/.test(e.message));
    // The worker still serves after them.
    assert.equal((await runner.run({ name: "verify", data: asJson(cluster(3, 3)) })).groups.length, 1);
  });

  it("runs one at a time, in order, with at most maxWaiting behind it; a waiting one whose caller aborts is dropped", async () => {
    const dicts = cluster(30, 200);
    // Each run takes its own pieces: they move to the worker.
    const data = () => asJson(dicts);
    const finished: string[] = [];
    const track = <T>(name: string, p: Promise<T>) => p.then(() => void finished.push(name), (e: unknown) => void finished.push(`${name}: ${e instanceof Error ? e.constructor.name : String(e)}`));
    const gone = new AbortController();
    // All asked in one turn of the event loop: the first runs, two wait, the fourth is refused.
    const first = track("first", runner.run({ name: "verify", data: data() }));
    const abandoned = track("abandoned", runner.run({ name: "verify", data: data() }, gone.signal));
    const second = track("second", runner.run({ name: "plan", data: data(), options: {} }));
    let busy: unknown;
    await runner.run({ name: "verify", data: data() }).catch((e: unknown) => (busy = e));
    assert.ok(busy instanceof ComputationsBusy && busy.retryAfterSeconds === 7, `refused: ${String(busy)}`);
    assert.equal(runner.queued, 2);
    gone.abort(new Error("the client closed the connection"));
    assert.equal(runner.queued, 1, "the abandoned computation left the queue at once");
    await Promise.all([first, abandoned, second]);
    assert.deepEqual(finished, ["abandoned: Error", "first", "second"]);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager } from "./locks.ts";

const tick = () => new Promise((r) => setImmediate(r));

describe("LockManager", () => {
  it("lets shared holders share and makes exclusive wait", async () => {
    const m = new LockManager();
    await m.acquire(1, { instance: { names: ["a"], mode: "shared" } });
    await m.acquire(2, { instance: { names: ["a"], mode: "shared" } });
    let got = false;
    const p = m.acquire(3, { instance: { names: ["a"], mode: "exclusive" } }).then(() => (got = true));
    await tick();
    assert.equal(got, false);
    m.releaseAll(1);
    await tick();
    assert.equal(got, false);
    m.releaseAll(2);
    await p;
    assert.equal(got, true);
  });

  it("does not block different objects of a level", async () => {
    const m = new LockManager();
    await m.acquire(1, { instance: { names: ["a"], mode: "exclusive" } });
    await m.acquire(2, { instance: { names: ["b"], mode: "exclusive" } });
    assert.equal(m.info().filter((l) => l.name.startsWith("instance/") && l.owner.length > 0).length, 3);
  });

  it("makes a whole-level lock conflict with single-object locks", async () => {
    const m = new LockManager();
    await m.acquire(1, { node: { names: ["n1"], mode: "shared" } });
    let all = false;
    const p = m.acquire(2, { node: { names: "all", mode: "exclusive" } }).then(() => (all = true));
    await tick();
    assert.equal(all, false);
    m.releaseAll(1);
    await p;
    let single = false;
    const q = m.acquire(3, { node: { names: ["n2"], mode: "shared" } }).then(() => (single = true));
    await tick();
    assert.equal(single, false);
    m.releaseAll(2);
    await q;
  });

  it("is fair: a waiting exclusive request is not overtaken by later shared ones", async () => {
    const m = new LockManager();
    await m.acquire(1, { cluster: { names: "all", mode: "shared" } });
    const order: number[] = [];
    const x = m.acquire(2, { cluster: { names: "all", mode: "exclusive" } }).then(() => order.push(2));
    const s = m.acquire(3, { cluster: { names: "all", mode: "shared" } }).then(() => order.push(3));
    m.releaseAll(1);
    await x;
    m.releaseAll(2);
    await s;
    assert.deepEqual(order, [2, 3]);
  });

  it("gives up a wait when aborted, without keeping anything", async () => {
    const m = new LockManager();
    await m.acquire(1, { cluster: { names: "all", mode: "exclusive" } });
    const ac = new AbortController();
    const p = m.acquire(2, { cluster: { names: "all", mode: "exclusive" } }, ac.signal);
    ac.abort(new Error("canceled"));
    await assert.rejects(p, /canceled/);
    m.releaseAll(1);
    assert.deepEqual(m.info(), []);
  });

  it("never deadlocks jobs that lock the same objects in different orders, and holds them one at a time", async () => {
    const m = new LockManager();
    const runs = [];
    let inside = 0;
    let mostInside = 0;
    for (let i = 0; i < 50; i++) {
      const names = i % 2 ? ["a", "b"] : ["b", "a"];
      runs.push(m.acquire(i, { instance: { names, mode: "exclusive" } }).then(async () => {
        mostInside = Math.max(mostInside, ++inside);
        await tick();
        inside--;
        m.releaseAll(i);
      }));
    }
    const outcome = await Promise.race([Promise.all(runs).then(() => "all ran"), sleep(5000, undefined, { ref: false }).then(() => "deadlocked")]);
    assert.equal(outcome, "all ran");
    assert.equal(mostInside, 1, "two jobs held the same exclusive locks at once");
    assert.deepEqual(m.info(), []);
  });
});

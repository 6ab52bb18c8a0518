import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changedCopy } from "./memory.ts";

describe("changedCopy", () => {
  interface Obj {
    name: string;
    tags: string[];
    hvparams: { kvm: { acpi: boolean } };
    beparams: { default: { vcpus: number } };
  }
  /** Frozen all the way down: a change that reached the original would throw. */
  const original = (): Obj => {
    const o: Obj = { name: "c", tags: ["a"], hvparams: { kvm: { acpi: true } }, beparams: { default: { vcpus: 1 } } };
    Object.freeze(o.tags);
    Object.freeze(o.hvparams.kvm);
    Object.freeze(o.hvparams);
    Object.freeze(o.beparams.default);
    Object.freeze(o.beparams);
    return Object.freeze(o);
  };

  it("leaves the original as it was, whatever the change does", () => {
    const o = original();
    const copy = changedCopy(o, (c) => {
      c.name = "d";
      c.tags.push("b");
      c.hvparams.kvm.acpi = false;
    });
    assert.deepEqual(copy, { name: "d", tags: ["a", "b"], hvparams: { kvm: { acpi: false } }, beparams: { default: { vcpus: 1 } } });
    assert.deepEqual(o, { name: "c", tags: ["a"], hvparams: { kvm: { acpi: true } }, beparams: { default: { vcpus: 1 } } });
  });

  it("shares what the change never reads, and copies what it reads", () => {
    const o = original();
    const copy = changedCopy(o, (c) => {
      c.tags = ["x"];
      assert.equal(c.hvparams.kvm.acpi, true);
    });
    assert.equal(copy.beparams, o.beparams);
    assert.notEqual(copy.hvparams, o.hvparams);
    assert.deepEqual(copy.hvparams, o.hvparams);
    assert.deepEqual(copy.tags, ["x"]);
    assert.ok(!Object.isFrozen(copy));
  });

  it("does not copy again what the change put there itself", () => {
    const mine = { acpi: false };
    const copy = changedCopy(original(), (c) => {
      c.hvparams = { kvm: mine };
      c.hvparams.kvm.acpi = true;
    });
    assert.equal(copy.hvparams.kvm, mine);
    assert.equal(mine.acpi, true);
  });
});

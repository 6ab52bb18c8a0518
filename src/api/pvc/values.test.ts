import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { PvcError } from "./errors.ts";
import { onUndeclaredPvcRead, PvcValues, pvcValue } from "./values.ts";

const STATE = pvcValue.choice("state", ["start", "stop"], "The state", { required: true, aliases: ["vm-state"] });
const RESTART = pvcValue.flag("restart", "Restart it");

describe("PvcValues", () => {
  const reported: string[] = [];
  afterEach(() => {
    onUndeclaredPvcRead(undefined);
    reported.length = 0;
  });

  it("reads the query first, then a form body; JSON bodies as text", () => {
    const form = new PvcValues("state=start", { type: "application/x-www-form-urlencoded", text: "state=stop&restart" });
    assert.equal(form.get("state"), "start");
    assert.equal(form.flag("restart"), true);
    const json = new PvcValues("", { type: "application/json", text: '{"restart": false, "state": "stop"}' });
    assert.equal(json.flag("restart"), false);
    assert.equal(json.choice(STATE), "stop");
  });

  it("takes a choice by its declaration: its aliases, its values, mandatory", () => {
    assert.equal(new PvcValues("vm-state=stop", undefined).choice(STATE), "stop");
    assert.throws(() => new PvcValues("state=pause", undefined).choice(STATE), (e: unknown) => e instanceof PvcError && /one of 'start', 'stop', not 'pause'/.test(e.message));
    assert.throws(() => new PvcValues("", undefined).choice(STATE), (e: unknown) => e instanceof PvcError && /A value for 'state'/.test(e.message));
  });

  it("reports reads of names the route did not declare, aliases counting as declared", () => {
    onUndeclaredPvcRead((name) => reported.push(name));
    const values = new PvcValues("restart=1&force=1", undefined, [STATE, RESTART]);
    assert.equal(values.flag("restart"), true);
    assert.equal(values.get("vm-state", "state"), undefined);
    assert.deepEqual(reported, []);
    // Reported even though the value was given: the route must declare what it reads.
    assert.equal(values.flag("force"), true);
    assert.equal(values.has("node", "target_node"), false);
    assert.deepEqual(reported, ["force", "node", "target_node"]);
  });

  it("reports nothing for values made outside a route (no declarations)", () => {
    onUndeclaredPvcRead((name) => reported.push(name));
    new PvcValues("x=1", undefined).get("x");
    assert.deepEqual(reported, []);
  });
});

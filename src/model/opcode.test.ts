import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildOpcode, serializeOpcode } from "./opcode.ts";
import { OpInstanceReinstall } from "./opcodes/instance.ts";

describe("serializeOpcode", () => {
  it("never shows private or secret OS parameter values", () => {
    const op = buildOpcode(OpInstanceReinstall, {
      instance_name: "x",
      osparams: { visible: "yes" },
      osparams_private: { token: "s3cr3t" },
      osparams_secret: { password: "hunter2" },
    });
    const shown = serializeOpcode(op);
    assert.deepEqual(shown.osparams, { visible: "yes" });
    assert.deepEqual(shown.osparams_private, { token: null });
    assert.deepEqual(shown.osparams_secret, { password: null });
    assert.doesNotMatch(JSON.stringify(shown), /s3cr3t|hunter2/);
  });
});

// Each check's JSON Schema (shown in the OpenAPI document) admits what the check admits: the
// two agree on every opcode parameter's default and on sample values of each shape.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { commonParams } from "./opcode.ts";
import { opcodeDefs } from "./opcodes/index.ts";
import { fallbackValue, t, type Check } from "./params.ts";

const ajv = new Ajv2020({ strict: false });
const agree = (check: Check<unknown>, value: unknown, where: string) =>
  assert.equal(ajv.validate(check.schema, value), check.test(value), `${where}: ${JSON.stringify(value)} (${check.desc})`);

describe("a check's JSON Schema", () => {
  it("agrees with the check on every opcode parameter's default", () => {
    let n = 0;
    for (const def of [...opcodeDefs.values()]) {
      for (const [name, param] of [...Object.entries(def.params), ...Object.entries(commonParams)]) {
        const value = fallbackValue(param);
        if (value === undefined) continue;
        agree(param.check, value, `${def.id}.${name}`);
        n++;
      }
    }
    assert.ok(n > 500, `${n} defaults checked`);
  });

  it("agrees on values of each shape", () => {
    const samples: unknown[] = [null, true, 0, -1, 3, 1.5, "", "x", [], [1, 2], [[1, ["success"]]], {}, { a: "b" }, { size: 1 }];
    const checks: Record<string, Check<unknown>> = {
      nonNegInt: t.nonNegInt,
      maybeString: t.maybe(t.nonEmptyString),
      listOfInt: t.listOf(t.int),
      oneOf: t.oneOf("a", "x"),
      tuple: t.tuple(t.int, t.listOf(t.oneOf("success", "error"))),
      dictOf: t.dictOf(t.or(t.nonEmptyString, t.int), t.nonEmptyString),
      depends: commonParams.depends.check,
    };
    for (const [name, check] of Object.entries(checks)) for (const v of samples) agree(check, v, name);
  });
});

// Pins the opcode declarations to the spec (RESOURCES.md, Appendix A) and to Ganeti's
// behaviour as captured in the golden job records.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { buildOpcode, OpcodeInputError, summarizeOpcode, type Opcode, type OpcodeDef } from "../opcode.ts";
import { fallbackValue, type Param } from "../params.ts";
import { opcodeDef, opcodeDefs } from "./index.ts";
import { OpClusterSetParams } from "./cluster.ts";
import { OpGroupAdd, OpGroupSetParams } from "./group.ts";
import {
  OpInstanceCreate,
  OpInstanceReboot,
  OpInstanceRecreateDisks,
  OpInstanceSetParams,
  OpInstanceStartup,
} from "./instance.ts";
import { OpNetworkAdd } from "./network.ts";

const specFile = new URL("../../../../shared/spec/ganeti-rapi/RESOURCES.md", import.meta.url);
const goldenDir = new URL("../../../../shared/golden/ganeti-3.0/", import.meta.url);
const haveSpec = existsSync(specFile);
const haveGolden = existsSync(goldenDir);

interface SpecParam {
  name: string;
  required: boolean;
  /** The default cell: "—", "null" or a backticked JSON literal. */
  def: string;
  type: string;
  desc: string;
}
interface SpecOpcode {
  id: string;
  className: string;
  doc: string;
  result: string;
  params: SpecParam[];
}

/** The `### OP_…` sections of Appendix A with their parameter tables. */
function parseAppendix(md: string): SpecOpcode[] {
  const lines = md.slice(md.indexOf("## Appendix A")).split("\n");
  const ops: SpecOpcode[] = [];
  let cur: SpecOpcode | undefined;
  for (const line of lines) {
    const heading = /^### (OP_[A-Z0-9_]+) \(`(\w+)`\)/.exec(line);
    if (heading) {
      cur = { id: heading[1], className: heading[2], doc: "", result: "", params: [] };
      ops.push(cur);
      continue;
    }
    if (!cur) continue;
    const result = /^Job result \(`OP_RESULT`\): `(.*)`$/.exec(line);
    if (result) {
      cur.result = result[1];
    } else if (line.startsWith("| `")) {
      const cells = line.slice(2, -2).split(" | ");
      assert.equal(cells.length, 5, `table row of ${cur.id}: ${line}`);
      const [name, req, def, type, desc] = cells;
      cur.params.push({ name: name.replaceAll("`", ""), required: req === "yes", def, type, desc });
    } else if (line !== "" && !line.startsWith("|") && cur.doc === "") {
      cur.doc = line;
    }
  }
  return ops;
}

/**
 * A type check text in comparable form: Python prints TStorageType as a bare function, and
 * "OneOf" lists come from Python sets, so their order is arbitrary.
 */
function normalizeType(text: string): string {
  return text
    .replace(/\(<function T(\w+) at 0x[0-9a-f]+>\)|<function T(\w+) at 0x[0-9a-f]+>/g, (_, a, b) => a ?? b)
    .replace(/OneOf ([a-z0-9_-]+(?:, [a-z0-9_-]+)*)/g, (_, list: string) => `OneOf ${list.split(", ").sort().join(", ")}`);
}

function specDefault(cell: string): unknown {
  if (cell === "null") return null;
  const literal = /^`(.*)`$/.exec(cell);
  assert.ok(literal, `default cell ${cell}`);
  return JSON.parse(literal[1]);
}

const spec = haveSpec ? parseAppendix(readFileSync(specFile, "utf8")) : [];

/** Opcodes RAPI never submits, which Corral declares for its own resources (node membership, PVC). */
const CORRAL_ONLY = ["OP_NODE_ADD", "OP_NODE_REMOVE", ...[...opcodeDefs.keys()].filter((id) => id.startsWith("OP_PVC_"))];

test("one declaration per opcode of Appendix A, plus Corral's own", { skip: !haveSpec && "spec not found" }, () => {
  assert.equal(spec.length, 48);
  assert.equal(opcodeDefs.size, spec.length + CORRAL_ONLY.length);
  assert.deepEqual([...opcodeDefs.keys()].sort(), [...spec.map((op) => op.id), ...CORRAL_ONLY].sort());
});

test("declarations match Appendix A table by table", { skip: !haveSpec && "spec not found" }, async (t) => {
  for (const op of spec) {
    await t.test(op.id, () => {
      const def = opcodeDef(op.id);
      assert.ok(def, `${op.id} is declared`);
      assert.equal(def.className, op.className);
      assert.equal(def.doc, op.doc);
      assert.equal(def.result, op.result);
      // Order matters: Ganeti validates in declaration order and reports the first failure.
      // Corral's extensions come after Ganeti's parameters and are null unless given.
      const ganetiParams = Object.keys(def.params).filter((k) => !def.params[k].extension);
      assert.deepEqual(ganetiParams, op.params.map((p) => p.name));
      assert.deepEqual(Object.keys(def.params).slice(0, ganetiParams.length), ganetiParams, "extensions come last");
      for (const [k, p] of Object.entries(def.params).filter(([, p]) => p.extension)) {
        assert.equal(fallbackValue(p), null, `${op.id}.${k}: an extension is null unless given`);
      }
      for (const p of op.params) {
        const param: Param<unknown> = def.params[p.name];
        const where = `${op.id}.${p.name}`;
        assert.equal(param.required, p.required, `${where} required`);
        assert.equal(param.doc, p.desc, `${where} doc`);
        assert.equal(normalizeType(param.check.desc), normalizeType(p.type), `${where} type check`);
        if (p.def === "—") {
          assert.ok(p.required, `${where} has no default but is optional in the table`);
          assert.equal(param.fallback, undefined, `${where} default`);
        } else {
          const expected = specDefault(p.def);
          assert.deepEqual(fallbackValue(param), expected, `${where} default`);
          if (typeof expected === "object" && expected !== null) {
            assert.equal(typeof param.fallback, "function", `${where}: a mutable default is made fresh`);
          }
          assert.ok(param.check.test(expected), `${where}: the default passes the check`);
        }
      }
    });
  }
});

test("summary fields follow Ganeti's opSummaryVal", () => {
  const byField: Record<string, string[]> = {
    instance_name: [
      "OP_BACKUP_EXPORT", "OP_BACKUP_PREPARE", "OP_BACKUP_REMOVE", "OP_INSTANCE_ACTIVATE_DISKS",
      "OP_INSTANCE_CONSOLE", "OP_INSTANCE_CREATE", "OP_INSTANCE_DEACTIVATE_DISKS", "OP_INSTANCE_FAILOVER",
      "OP_INSTANCE_GROW_DISK", "OP_INSTANCE_MIGRATE", "OP_INSTANCE_REBOOT", "OP_INSTANCE_RECREATE_DISKS",
      "OP_INSTANCE_REINSTALL", "OP_INSTANCE_REMOVE", "OP_INSTANCE_REPLACE_DISKS", "OP_INSTANCE_SET_PARAMS",
      "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_STARTUP",
    ],
    group_name: ["OP_GROUP_ADD", "OP_GROUP_ASSIGN_NODES", "OP_GROUP_REMOVE", "OP_GROUP_SET_PARAMS"],
    network_name: [
      "OP_NETWORK_ADD", "OP_NETWORK_CONNECT", "OP_NETWORK_DISCONNECT", "OP_NETWORK_REMOVE", "OP_NETWORK_SET_PARAMS",
    ],
    node_name: [
      "OP_NODE_ADD", "OP_NODE_EVACUATE", "OP_NODE_MIGRATE", "OP_NODE_MODIFY_STORAGE", "OP_NODE_POWERCYCLE",
      "OP_NODE_REMOVE", "OP_NODE_SET_PARAMS", "OP_REPAIR_NODE_STORAGE",
    ],
    what: ["OP_QUERY", "OP_QUERY_FIELDS"],
  };
  const expected = new Map(Object.entries(byField).flatMap(([field, ids]) => ids.map((id) => [id, field])));
  for (const [id, def] of opcodeDefs) {
    if (id.startsWith("OP_PVC_")) continue; // Corral's own; Ganeti has no summary rule for them
    assert.equal(def.summaryField, expected.get(id), `${id} summary field`);
  }
});

/** Every job (its ops and summary) recorded in the golden captures. */
function goldenJobs(): { ops: Record<string, unknown>[]; summary: string[] }[] {
  const jobs: { ops: Record<string, unknown>[]; summary: string[] }[] = [];
  for (const file of readdirSync(goldenDir).filter((f) => f.endsWith(".json"))) {
    const capture = JSON.parse(readFileSync(new URL(file, goldenDir), "utf8")) as { response?: { body_json?: unknown } };
    const visit = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (typeof v === "object" && v !== null) {
        const o = v as Record<string, unknown>;
        if (Array.isArray(o.ops) && Array.isArray(o.summary)) {
          jobs.push({ ops: o.ops as Record<string, unknown>[], summary: o.summary as string[] });
        }
        Object.values(o).forEach(visit);
      }
    };
    visit(capture.response?.body_json);
  }
  return jobs;
}

const jobs = haveGolden ? goldenJobs() : [];

test("job summaries match the golden captures", { skip: !haveGolden && "golden captures not found" }, () => {
  assert.ok(jobs.length > 100);
  for (const job of jobs) {
    const got = job.ops.map((op) => summarizeOpcode(opcodeDef(String(op.OP_ID)), op as Opcode));
    assert.deepEqual(got, job.summary);
  }
});

test("the opcodes Ganeti 3.0 recorded pass their declarations", { skip: !haveGolden && "golden captures not found" }, () => {
  // Parameters Ganeti 3.0 has that the spec (3.1+) dropped.
  const dropped = new Set(["OP_INSTANCE_SET_PARAMS.hotplug_if_possible"]);
  let checked = 0;
  for (const op of jobs.flatMap((j) => j.ops)) {
    const def = opcodeDef(String(op.OP_ID));
    if (!def) continue;
    const input = Object.fromEntries(Object.entries(op).filter(([k]) => !dropped.has(`${def.id}.${k}`)));
    assert.doesNotThrow(() => buildOpcode(def, input), `${def.id}: ${JSON.stringify(op)}`);
    checked++;
  }
  assert.ok(checked > 100);
});

function inputError(def: OpcodeDef, input: Record<string, unknown>): string {
  try {
    buildOpcode(def, input);
  } catch (err) {
    assert.ok(err instanceof OpcodeInputError);
    return err.message;
  }
  assert.fail(`${def.id} accepted ${JSON.stringify(input)}`);
}

const failsValidation = (id: string, name: string) => `("Parameter '${id}.${name}' fails validation", 'wrong_input')`;

test("a missing required parameter fails with Ganeti's text", () => {
  assert.equal(inputError(OpGroupAdd, {}), failsValidation("OP_GROUP_ADD", "group_name"));
  // The first failing parameter in declaration order is reported (golden 0078).
  assert.equal(inputError(OpInstanceCreate, { instance_name: "x.ganeti.test" }), failsValidation("OP_INSTANCE_CREATE", "disks"));
  assert.equal(inputError(OpInstanceReboot, { instance_name: "i1" }), failsValidation("OP_INSTANCE_REBOOT", "reboot_type"));
  assert.equal(
    inputError(OpGroupAdd, { group_name: null }),
    failsValidation("OP_GROUP_ADD", "group_name"),
    "null is no value for a required parameter",
  );
});

test("an unknown parameter is refused", () => {
  assert.equal(
    inputError(OpClusterSetParams, { no_such_param: 1 }),
    "Object OpClusterSetParams doesn't support the parameter 'no_such_param'",
  );
  // Common parameters are not opcode parameters, but are accepted.
  assert.doesNotThrow(() => buildOpcode(OpClusterSetParams, { dry_run: true, comment: "x" }));
});

test("badly typed values fail validation", () => {
  const create = {
    instance_name: "x.ganeti.test", mode: "create", disk_template: "diskless", disks: [],
    nics: [{ ip: "127.100.0.250" }], os_type: "noop", pnode: "node1.ganeti.test", hypervisor: "fake",
  };
  assert.doesNotThrow(() => buildOpcode(OpInstanceCreate, create));
  assert.equal(inputError(OpInstanceCreate, { ...create, start: "yes" }), failsValidation("OP_INSTANCE_CREATE", "start"));
  assert.equal(
    inputError(OpInstanceCreate, { ...create, nics: [{ speed: "10G" }] }),
    failsValidation("OP_INSTANCE_CREATE", "nics"),
  );
  assert.equal(
    inputError(OpInstanceCreate, { ...create, disks: [{ size: 1.5 }] }),
    failsValidation("OP_INSTANCE_CREATE", "disks"),
  );
  assert.equal(
    inputError(OpInstanceCreate, { ...create, hypervisor: "vmware" }),
    failsValidation("OP_INSTANCE_CREATE", "hypervisor"),
  );
  assert.equal(
    inputError(OpClusterSetParams, { candidate_pool_size: -5 }),
    failsValidation("OP_CLUSTER_SET_PARAMS", "candidate_pool_size"),
  );
  assert.equal(
    inputError(OpGroupSetParams, { group_name: "g", alloc_policy: "whenever" }),
    failsValidation("OP_GROUP_SET_PARAMS", "alloc_policy"),
  );
  assert.equal(
    inputError(OpNetworkAdd, { network_name: "badnet", network: "127.100.300.0/24" }),
    failsValidation("OP_NETWORK_ADD", "network"),
  );
  assert.equal(
    inputError(OpNetworkAdd, { network_name: "n", network: "10.0.0.0/8", gateway: "10.0.0.1/8" }),
    failsValidation("OP_NETWORK_ADD", "gateway"),
  );
  // Recreate-disks indices are only checked to be non-negative (no 16-disk limit here).
  assert.doesNotThrow(() => buildOpcode(OpInstanceRecreateDisks, { instance_name: "i", disks: [16] }));
  assert.doesNotThrow(() => buildOpcode(OpInstanceRecreateDisks, { instance_name: "i", disks: [[0, { size: 1 }]] }));
  assert.equal(
    inputError(OpInstanceRecreateDisks, { instance_name: "i", disks: [-1] }),
    failsValidation("OP_INSTANCE_RECREATE_DISKS", "disks"),
  );
});

test("device modification lists accept both Ganeti formats", () => {
  const ok = (mods: Record<string, unknown>) => buildOpcode(OpInstanceSetParams, { instance_name: "i", ...mods });
  assert.doesNotThrow(() => ok({ nics: [["add", -1, { ip: "10.0.0.2", mode: "bridged" }]] }));
  assert.doesNotThrow(() => ok({ nics: [["modify", "nic-name", { link: null }]] }));
  assert.doesNotThrow(() => ok({ disks: [["add", { size: 1024, mode: "rw" }]] }));
  assert.doesNotThrow(() => ok({ disks: [[0, { mode: "ro" }]] }));
  assert.throws(() => ok({ disks: [["modify", { mode: "ro" }]] }), OpcodeInputError, "modify needs the 3-item form");
  assert.throws(() => ok({ disks: [["add", 0, { size: "" }]] }), OpcodeInputError);
  assert.throws(() => ok({ nics: [["add", 0, { ip: 5 }]] }), OpcodeInputError);
});

test("defaults are filled in", () => {
  const op = buildOpcode(OpInstanceReboot, { instance_name: "inst1.example.com", reboot_type: "soft" });
  assert.deepEqual(op, {
    OP_ID: "OP_INSTANCE_REBOOT",
    instance_name: "inst1.example.com",
    instance_uuid: null,
    shutdown_timeout: 120,
    ignore_secondaries: false,
    reboot_type: "soft",
    dry_run: null,
    debug_level: 0,
    priority: 0,
    depends: null,
    comment: null,
    reason: [],
  });
  assert.equal(summarizeOpcode(OpInstanceReboot, op), "INSTANCE_REBOOT(inst1.example.com)");

  const a = buildOpcode(OpInstanceStartup, { instance_name: "i" });
  const b = buildOpcode(OpInstanceStartup, { instance_name: "i" });
  assert.deepEqual(a.hvparams, {});
  assert.notEqual(a.hvparams, b.hvparams, "each opcode gets its own default object");

  const set = buildOpcode(OpInstanceSetParams, { instance_name: "i" });
  assert.deepEqual([set.nics, set.disks, set.hotplug, set.wait_for_sync], [[], [], true, true]);
});

// Prerequisite checks of the main logical units against the query fixture (three nodes, the
// second in another group, the third offline; inst1 running on node1, file2 a stopped `file`
// instance, inst10 a kvm drbd one): each rule answered in milliseconds, no master, no node.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeError, GanetiError, OpPrereqError } from "../model/errors.ts";
import type { OpcodeDef } from "../model/opcode.ts";
import { OpInstanceCreate, OpInstanceFailover, OpInstanceMigrate, OpInstanceSetParams } from "../model/opcodes/instance.ts";
import { OpTagsDel, OpTagsSet } from "../model/opcodes/tags.ts";
import type { ParamSpec } from "../model/params.ts";
import { makeLive, makeSnapshot, U } from "../query/fixture.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import type { Disk } from "../model/objects.ts";
import { instanceCreateLU } from "./instance/create.ts";
import { instanceFailoverLU, instanceMigrateLU } from "./instance/migrate.ts";
import { instanceSetParamsLU } from "./instance/modify.ts";
import type { LogicalUnit } from "./lu.ts";
import { prereqContext } from "./prereq-context.ts";
import { tagsDelLU, tagsSetLU } from "./tags.ts";

/** Runs checkPrereq; its result, or the error it raised as [class, message, code]. */
function prereq<S extends ParamSpec, P>(lu: LogicalUnit<S, P>, def: OpcodeDef<S>, input: Record<string, unknown>, change?: (snap: ConfigSnapshot) => void) {
  const snap = makeSnapshot();
  change?.(snap);
  const ctx = prereqContext(def, input, snap, makeLive());
  try {
    return { plan: lu.checkPrereq(ctx), log: ctx.log, op: ctx.op };
  } catch (err) {
    if (!(err instanceof GanetiError)) throw err;
    const [cls, args] = encodeError(err);
    return { error: [cls, String(args[0]), args[1]] as [string, string, unknown], log: ctx.log, op: ctx.op };
  }
}

describe("tags", () => {
  it("refuses a tag with a character Ganeti does not allow, and a missing tag to delete", () => {
    assert.deepEqual(prereq(tagsSetLU, OpTagsSet, { kind: "instance", name: "inst1.example.test", tags: ["bad tag"] }).error?.slice(0, 1), ["TagError"]);
    assert.deepEqual(prereq(tagsDelLU, OpTagsDel, { kind: "instance", name: "file2.example.test", tags: ["kind:file", "nope"] }).error,
      ["OpPrereqError", "Tag(s) 'nope' not found", "unknown_entity"]);
    assert.equal(prereq(tagsSetLU, OpTagsSet, { kind: "instance", name: "file2.example.test", tags: ["env:test"] }).error, undefined);
  });
});

describe("instance migrate and failover", () => {
  it("moves a running diskless instance to the node named; refuses its own primary and an offline node", () => {
    const ok = prereq(instanceMigrateLU, OpInstanceMigrate, { instance_name: "inst1.example.test", target_node: "node2.example.test" });
    assert.equal(ok.error, undefined);
    assert.equal(ok.op.mode, "live", "the mode the plan chose is written into the opcode, as Ganeti does");
    assert.deepEqual(prereq(instanceMigrateLU, OpInstanceMigrate, { instance_name: "inst1.example.test", target_node: "node1.example.test" }).error,
      ["OpPrereqError", "Cannot migrate instance inst1.example.test to its primary (node1.example.test)", "wrong_state"]);
    assert.deepEqual(prereq(instanceMigrateLU, OpInstanceMigrate, { instance_name: "inst1.example.test", target_node: "node10.example.test" }).error,
      ["OpPrereqError", "Can't use offline node: node10.example.test", "wrong_state"]);
  });

  it("keeps Ganeti's refusal for file disks; migrate_storage needs kvm and a running instance", () => {
    assert.deepEqual(prereq(instanceMigrateLU, OpInstanceMigrate, { instance_name: "file2.example.test", target_node: "node2.example.test" }).error,
      ["OpPrereqError", "Instance's disk layout 'file' does not allow migrations", "wrong_state"]);
    assert.deepEqual(prereq(instanceFailoverLU, OpInstanceFailover, { instance_name: "file2.example.test", target_node: "node2.example.test" }).error,
      ["OpPrereqError", "Instance's disk layout 'file' does not allow failovers", "wrong_state"]);
    assert.deepEqual(
      prereq(instanceMigrateLU, OpInstanceMigrate, { instance_name: "file2.example.test", target_node: "node2.example.test", migrate_storage: true }).error,
      ["OpPrereqError", "Migrating an instance's storage needs the kvm hypervisor; instance file2.example.test uses 'fake'", "wrong_input"],
    );
    const onLvm = (snap: ConfigSnapshot) => {
      const inst = snap.instances.get(U.inst1);
      if (inst) inst.disks = [{ ...structuredClone(snap.instances.get(U.inst2)?.disks[0]), dev_type: "plain" } as Disk];
    };
    assert.deepEqual(
      prereq(instanceMigrateLU, OpInstanceMigrate, { instance_name: "inst1.example.test", target_node: "node2.example.test", migrate_storage: true }, onLvm).error,
      ["OpPrereqError", "Instance's disk layout 'plain' cannot be migrated with its storage (possible for: file)", "wrong_state"],
    );
  });

  it("refuses the extension parameters with a value of the wrong type before any check", () => {
    assert.throws(() => prereqContext(OpInstanceMigrate, { instance_name: "inst1.example.test", migrate_tls: "yes" }, makeSnapshot(), makeLive()),
      /Parameter 'OP_INSTANCE_MIGRATE.migrate_tls' fails validation/);
  });
});

describe("instance modify", () => {
  it("refuses two NIC additions at once in the deprecated form, and an unknown NIC", () => {
    assert.deepEqual(prereq(instanceSetParamsLU, OpInstanceSetParams, { instance_name: "inst1.example.test", nics: [["add", {}], ["add", {}]] }).error,
      ["OpPrereqError", "Only one NIC add/attach/remove/detach operation is supported at a time", "wrong_input"]);
    const unknown = prereq(instanceSetParamsLU, OpInstanceSetParams, { instance_name: "inst1.example.test", nics: [["modify", "eth9", { link: "br1" }]] });
    assert.deepEqual(unknown.error, ["OpPrereqError", "Cannot find NIC with identifier eth9", "unknown_entity"]);
  });

  it("refuses an instance with nothing to change", () => {
    const r = prereq(instanceSetParamsLU, OpInstanceSetParams, { instance_name: "inst1.example.test" });
    assert.equal(r.error?.[0], "OpPrereqError");
    assert.match(r.error?.[1] ?? "", /No changes submitted/);
  });
});

describe("instance create", () => {
  it("refuses a name in use and an offline primary node", () => {
    const body = {
      mode: "create", instance_name: "inst1.example.test", disk_template: "diskless", disks: [], nics: [], os_type: "noop",
      pnode: "node2.example.test", name_check: false, ip_check: false,
    };
    const dup = prereq(instanceCreateLU, OpInstanceCreate, body);
    assert.deepEqual(dup.error, ["OpPrereqError", "Instance 'inst1.example.test' is already in the cluster", "already_exists"]);
    const offline = prereq(instanceCreateLU, OpInstanceCreate, { ...body, instance_name: "new1.example.test", pnode: "node10.example.test" });
    assert.deepEqual(offline.error, ["OpPrereqError", "Cannot use offline primary node 'node10.example.test'", "wrong_state"]);
  });
});

it("OpPrereqError keeps Ganeti's two arguments", () => {
  assert.deepEqual(new OpPrereqError("x", "wrong_input").args, ["x", "wrong_input"]);
});

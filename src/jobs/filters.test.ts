import assert from "node:assert/strict";
import { test } from "node:test";
import type { Job } from "../model/job.ts";
import type { FilterAction, FilterRule } from "../model/objects.ts";
import { applyingRule, mayStart, orderedRules, ruleMatches, showFilter } from "./filters.ts";
import { parseFilter } from "../query/qlang.ts";

function job(id: number, ops: Record<string, unknown>[]): Job {
  return {
    id,
    ops: ops.map((input) => ({
      input: { debug_level: 0, priority: 0, depends: null, comment: null, reason: [], ...input } as never,
      status: "queued",
      result: null,
      log: [],
      priority: 0,
      start_timestamp: null,
      exec_timestamp: null,
      end_timestamp: null,
    })),
    received_ts: null,
    start_ts: null,
    end_ts: null,
    log_serial: 0,
    archived: false,
  };
}

function rule(predicates: unknown[], action: FilterAction = "REJECT", extra: Partial<FilterRule> = {}): FilterRule {
  return { uuid: "00000000-0000-0000-0000-000000000001", watermark: 10, priority: 0, predicates, action, reason_trail: [], ...extra };
}

const tagsSet = (id: number, extra: Record<string, unknown> = {}) =>
  job(id, [{ OP_ID: "OP_TAGS_SET", kind: "cluster", tags: ["a"], reason: [["gnt:user", "maintenance", 5], ["gnt:opcode:tags_set", "", 7]], ...extra }]);

test("jobid predicates compare the job id, or the rule's watermark", () => {
  assert.equal(ruleMatches(rule([["jobid", [">", "id", "watermark"]]]), tagsSet(11)), true);
  assert.equal(ruleMatches(rule([["jobid", [">", "id", "watermark"]]]), tagsSet(10)), false);
  assert.equal(ruleMatches(rule([["jobid", ["&", [">=", "id", 5], ["<", "id", 8]]]]), tagsSet(7)), true);
  assert.equal(ruleMatches(rule([["jobid", ["!", ["==", "id", 7]]]]), tagsSet(7)), false);
  // Only comparisons of "id" mean something: anything else never matches, even negated.
  for (const expr of [["==", "name", 7], ["=~", "id", "7"], ["?", "id"], ["==", "id", "seven"]]) {
    assert.equal(ruleMatches(rule([["jobid", expr]]), tagsSet(7)), false, JSON.stringify(expr));
    assert.equal(ruleMatches(rule([["jobid", ["!", expr]]]), tagsSet(7)), false, JSON.stringify(expr));
  }
});

test("opcode predicates match when any opcode of the job matches", () => {
  const two = job(3, [{ OP_ID: "OP_CLUSTER_REDIST_CONF" }, { OP_ID: "OP_TAGS_DEL", kind: "node", name: "n1", tags: ["x", "y"] }]);
  assert.equal(ruleMatches(rule([["opcode", ["==", "OP_ID", "OP_TAGS_DEL"]]]), two), true);
  assert.equal(ruleMatches(rule([["opcode", ["=~", "OP_ID", "^OP_CLUSTER_"]]]), two), true);
  assert.equal(ruleMatches(rule([["opcode", ["=[]", "tags", "y"]]]), two), true);
  assert.equal(ruleMatches(rule([["opcode", ["&", ["==", "OP_ID", "OP_TAGS_DEL"], ["==", "kind", "cluster"]]]]), two), false);
  // A parameter an opcode does not have makes that opcode not match; job metadata is not there.
  assert.equal(ruleMatches(rule([["opcode", ["!", ["==", "name", "n1"]]]]), two), false);
  assert.equal(ruleMatches(rule([["opcode", ["==", "priority", 0]]]), two), false);
  assert.equal(ruleMatches(rule([["opcode", ["|", ["==", "OP_ID", "OP_TAGS_DEL"], ["==", "bogus", 1]]]]), two), false);
  assert.equal(ruleMatches(rule([["opcode", ["?", "dry_run"]]]), tagsSet(1, { dry_run: true })), true);
  assert.equal(ruleMatches(rule([["opcode", ["==", "opts.mode", "x"]]]), tagsSet(1, { opts: { mode: "x" } })), true);
});

test("reason predicates match any entry of the reason trail", () => {
  assert.equal(ruleMatches(rule([["reason", ["==", "source", "gnt:user"]]]), tagsSet(1)), true);
  assert.equal(ruleMatches(rule([["reason", ["&", ["==", "source", "gnt:user"], ["==", "reason", "maintenance"]]]]), tagsSet(1)), true);
  assert.equal(ruleMatches(rule([["reason", [">", "timestamp", 6]]]), tagsSet(1)), true);
  assert.equal(ruleMatches(rule([["reason", [">", "timestamp", 7]]]), tagsSet(1)), false);
  assert.equal(ruleMatches(rule([["reason", ["=~", "source", "gnt"]]]), tagsSet(1)), false);
  // All predicates of a rule must hold; no predicates match every job.
  assert.equal(ruleMatches(rule([["reason", ["==", "source", "gnt:user"]], ["jobid", ["<", "id", 1]]]), tagsSet(1)), false);
  assert.equal(ruleMatches(rule([]), tagsSet(1)), true);
});

test("rules are tried by priority, watermark and uuid; CONTINUE passes on", () => {
  const a = rule([], "CONTINUE", { uuid: "a", priority: 0 });
  const b = rule([], "PAUSE", { uuid: "b", priority: 1, watermark: 5 });
  const c = rule([], "REJECT", { uuid: "c", priority: 1, watermark: 2 });
  const d = rule([], "ACCEPT", { uuid: "0", priority: 1, watermark: 2 });
  assert.deepEqual(orderedRules([a, b, c, d]).map((r) => r.uuid), ["a", "0", "c", "b"]);
  assert.equal(applyingRule([a, b, c], tagsSet(1))?.uuid, "c");
  assert.equal(applyingRule([a], tagsSet(1)), undefined);
});

test("a rate limit counts the running jobs the same rule applies to", () => {
  const limit = rule([["opcode", ["==", "OP_ID", "OP_TAGS_SET"]]], ["RATE_LIMIT", 2]);
  const rules = new Map([[limit.uuid, limit]]);
  const other = job(9, [{ OP_ID: "OP_CLUSTER_REDIST_CONF" }]);
  assert.equal(mayStart(rules, tagsSet(3), new Set([tagsSet(1), other])), true);
  assert.equal(mayStart(rules, tagsSet(3), new Set([tagsSet(1), tagsSet(2), other])), false);
  assert.equal(mayStart(rules, other, new Set([tagsSet(1), tagsSet(2)])), true);
  const pause = rule([], "PAUSE", { uuid: "p", priority: 5 });
  assert.equal(mayStart(new Map([["p", pause]]), other, new Set()), false);
  assert.equal(mayStart(new Map(), other, new Set()), true);
});

test("stored filters are normalized as luxid shows them", () => {
  assert.deepEqual(showFilter(parseFilter(["=", "OP_ID", "OP_TAGS_DEL"])), ["==", "OP_ID", "OP_TAGS_DEL"]);
  assert.deepEqual(showFilter(parseFilter(["!=", "id", 3])), ["!", ["==", "id", 3]]);
  assert.deepEqual(showFilter(parseFilter(["|", ["?", "x"], ["=~", "y", "^a"], ["=[]", "z", 1]])), ["|", ["?", "x"], ["=~", "y", "^a"], ["=[]", "z", 1]]);
  assert.equal(showFilter(parseFilter(null)), null);
});

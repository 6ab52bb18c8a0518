// Job filter rules (Ganeti's design-optables and JQScheduler/Filtering.hs): rules in the
// config decide, for every queued job, whether it may run (ACCEPT), waits (PAUSE), is
// canceled (REJECT), or shares n running slots with the other jobs the rule applies to
// (RATE_LIMIT n). The first matching rule whose action is not CONTINUE applies, in order of
// priority, watermark, uuid. Rules are changed synchronously (LUXI ReplaceFilter /
// DeleteFilter), not by jobs.

import { randomUUID } from "node:crypto";
import type { Job } from "../model/job.ts";
import type { FilterAction, FilterRule } from "../model/objects.ts";
import { filterFields, luxiParseFailure, parseFilter, QueryFilterError, type Filter, type FilterValue } from "../query/qlang.ts";
import type { ConfigStore } from "../store/store.ts";

/** A request luxid could not decode; RAPI answers 502 with this message. */
export class FilterRequestError extends Error {}

/** A request luxid refused (unknown rule, malformed uuid); RAPI answers 500 with this message. */
export class FilterRuleError extends Error {}

const PREDICATE_NAMES = ["jobid", "opcode", "reason"] as const;
type PredicateName = (typeof PREDICATE_NAMES)[number];
const UUID_RE = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;

// ---- decoding a rule as luxid does ----

function parsePredicate(raw: unknown): [PredicateName, Filter] {
  if (!Array.isArray(raw) || typeof raw[0] !== "string") {
    throw new Error("malformed FilterPredicate: must be a list with the first entry being a string describing the predicate type");
  }
  const [name, ...params] = raw as [string, ...unknown[]];
  if (params.length !== 1 || !(PREDICATE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`malformed FilterPredicate: bad parameter list for '${name}' predicate: ${JSON.stringify(params)}`);
  }
  return [name as PredicateName, parseFilter(params[0])];
}

function parseAction(raw: unknown): FilterAction {
  if (raw === "ACCEPT" || raw === "PAUSE" || raw === "REJECT" || raw === "CONTINUE") return raw;
  if (Array.isArray(raw) && raw[0] === "RATE_LIMIT") {
    const n = raw[1];
    if (raw.length !== 2 || typeof n !== "number" || !Number.isInteger(n) || n <= 0) {
      throw new Error("RATE_LIMIT argument must be a positive integer");
    }
    return ["RATE_LIMIT", n];
  }
  throw new Error(`malformed FilterAction JSON: ${JSON.stringify(raw)}`);
}

function parseReasonTrail(raw: unknown): [string, string, number][] {
  if (!Array.isArray(raw)) throw new Error("Unable to read list");
  return raw.map((entry) => {
    if (!Array.isArray(entry) || entry.length !== 3) throw new Error("Unable to read Triple");
    const [source, text, ts] = entry as unknown[];
    if (typeof source !== "string" || typeof text !== "string") throw new Error("Unable to read String");
    if (typeof ts !== "number" || !Number.isInteger(ts)) throw new Error("Unable to read Integer");
    return [source, text, ts];
  });
}

/** A filter expression in its JSON form again, as luxid stores it ("=" becomes "=="). */
export function showFilter(f: Filter): unknown {
  switch (f.op) {
    case "empty":
      return null;
    case "and":
    case "or":
      return [f.op === "and" ? "&" : "|", ...f.args.map(showFilter)];
    case "not":
      return ["!", showFilter(f.arg)];
    case "true":
      return ["?", f.field];
    case "regexp":
      return ["=~", f.field, f.pattern];
    default:
      return [{ eq: "==", lt: "<", gt: ">", le: "<=", ge: ">=", contains: "=[]" }[f.op], f.field, f.value];
  }
}

export interface FilterRuleInput {
  priority: unknown;
  predicates: unknown;
  action: unknown;
  reason: unknown;
}

/** Decodes a rule's parts, failing with luxid's message for the first bad one. */
function decodeRule(uuid: string | null, input: FilterRuleInput): Omit<FilterRule, "uuid" | "watermark"> {
  const args = [uuid, input.priority, input.predicates, input.action, input.reason];
  try {
    const { priority } = input;
    if (typeof priority !== "number" || !Number.isInteger(priority)) throw new Error("Unable to read Int");
    if (priority < 0) throw new Error(`Invalid value for non-negative type '${priority}'`);
    if (!Array.isArray(input.predicates)) throw new Error("Unable to read list");
    const predicates = input.predicates.map(parsePredicate).map(([name, f]) => [name, showFilter(f)]);
    const action = parseAction(input.action);
    const reasonTrail = parseReasonTrail(input.reason);
    return { priority, predicates, action, reason_trail: reasonTrail };
  } catch (err) {
    const message = err instanceof QueryFilterError || err instanceof Error ? err.message : String(err);
    throw new FilterRequestError(luxiParseFailure(args, message));
  }
}

/**
 * Ganeti's ReplaceFilter: adds a rule (uuid null) or replaces/creates the rule with that
 * uuid. Its watermark is the highest job id allocated now; luxid adds itself to the reason
 * trail. Returns the uuid.
 */
export async function replaceFilter(store: ConfigStore, watermark: number, uuid: string | null, input: FilterRuleInput): Promise<string> {
  const rule = decodeRule(uuid, input);
  if (uuid !== null && !UUID_RE.test(uuid)) throw new FilterRuleError("Unable to parse UUID");
  const id = uuid ?? randomUUID();
  const ns = Date.now() * 1e6;
  await store.transact((tx) =>
    tx.replace("filter", { ...rule, reason_trail: [...rule.reason_trail, ["luxid", "", ns]], watermark, uuid: id }),
  );
  return id;
}

/** Ganeti's DeleteFilter. */
export async function deleteFilter(store: ConfigStore, uuid: string): Promise<null> {
  await store.transact((tx) => {
    if (!tx.current.filters.has(uuid)) throw new FilterRuleError(`Filter rule with UUID ${uuid} does not exist`);
    tx.remove("filter", uuid);
  });
  return null;
}

// ---- matching jobs ----

/** The rules in the order they are tried: priority, then watermark, then uuid. */
export function orderedRules(rules: Iterable<FilterRule>): FilterRule[] {
  return [...rules].sort((a, b) => a.priority - b.priority || a.watermark - b.watermark || (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
}

type Comparison = "eq" | "lt" | "gt" | "le" | "ge";

/** Orders JSON values as Haskell's derived Ord on JSValue does: null, bool, number, string, list, object. */
function compareJson(a: unknown, b: FilterValue): number {
  const rank = (v: unknown) => (v === null ? 0 : typeof v === "boolean" ? 1 : typeof v === "number" ? 2 : typeof v === "string" ? 3 : Array.isArray(v) ? 4 : 5);
  return rank(a) - rank(b) || ((a as FilterValue) < b ? -1 : (a as FilterValue) > b ? 1 : 0);
}

/** Orders filter values as Ganeti's FilterValue does: strings before numbers. */
function compareFilterValues(a: FilterValue, b: FilterValue): number {
  if (typeof a !== typeof b) return typeof a === "string" ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function holds(cmp: Comparison, order: number): boolean {
  return { eq: order === 0, lt: order < 0, gt: order > 0, le: order <= 0, ge: order >= 0 }[cmp];
}

type Leaf = Exclude<Filter, { op: "empty" | "and" | "or" | "not" }>;

/**
 * Evaluates a filter whose leaves `leaf` decides; null means the expression is invalid for
 * this job (Ganeti evaluates it as "no match"). And/or stop at the first false/true.
 */
function evaluate(f: Filter, leaf: (f: Leaf) => boolean | null): boolean | null {
  switch (f.op) {
    case "empty":
      return true;
    case "and":
    case "or": {
      const stopAt = f.op === "or";
      for (const arg of f.args) {
        const v = evaluate(arg, leaf);
        if (v === null || v === stopAt) return v;
      }
      return !stopAt;
    }
    case "not": {
      const v = evaluate(f.arg, leaf);
      return v === null ? null : !v;
    }
    default:
      return leaf(f);
  }
}

function isComparison(f: Leaf): f is { op: Comparison; field: string; value: FilterValue } {
  return f.op !== "true" && f.op !== "regexp" && f.op !== "contains";
}

/** An opcode as opcode predicates see it: OP_ID and its own parameters, no job metadata. */
function opcodeJson(input: Record<string, unknown>): Record<string, unknown> {
  const { debug_level: _d, priority: _p, depends: _dep, comment: _c, reason: _r, ...rest } = input;
  return rest;
}

/** "a.b.c" in nested objects, or undefined. */
function dotted(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split(".")) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur) || !(key in cur)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Ganeti's evaluateFilterJSON: the leaves compare the opcode's JSON values. */
function opcodeLeaf(op: Record<string, unknown>) {
  return (f: Leaf): boolean | null => {
    const v = dotted(op, f.field);
    if (v === undefined) return null;
    switch (f.op) {
      case "true":
        return typeof v === "boolean" ? v : null;
      case "regexp":
        return typeof v === "string" ? f.regex.test(v) : null;
      case "contains":
        return Array.isArray(v) && v.every((x) => typeof x === typeof f.value) ? v.includes(f.value) : null;
      default:
        return holds(f.op, compareJson(v, f.value));
    }
  };
}

const compiled = new WeakMap<FilterRule, [PredicateName, Filter][]>();

function predicatesOf(rule: FilterRule): [PredicateName, Filter][] {
  let out = compiled.get(rule);
  if (!out) {
    out = rule.predicates.map(parsePredicate);
    compiled.set(rule, out);
  }
  return out;
}

function matchesPredicate(job: Job, watermark: number, name: PredicateName, f: Filter): boolean {
  switch (name) {
    case "jobid":
      return evaluate(f, (leaf) => {
        if (!isComparison(leaf) || leaf.field !== "id") return null;
        // "watermark" in a value position stands for the rule's watermark.
        const other = typeof leaf.value === "number" ? leaf.value : leaf.value === "watermark" ? watermark : undefined;
        return other === undefined ? null : holds(leaf.op, Math.sign(job.id - other));
      }) === true;
    case "opcode":
      return job.ops.some((o) => {
        const op = opcodeJson(o.input as Record<string, unknown>);
        // Ganeti looks every field up first: one the opcode lacks fails the whole expression.
        if (filterFields(f).some((field) => dotted(op, field) === undefined)) return false;
        return evaluate(f, opcodeLeaf(op)) === true;
      });
    case "reason":
      // Each entry of the reason trails is [source, reason, timestamp]; any one may match.
      return job.ops.some((o) =>
        (o.input.reason as [string, string, number][]).some(([source, reason, timestamp]) => {
          const fields: Record<string, FilterValue> = { source, reason, timestamp };
          return evaluate(f, (leaf) => {
            const got = fields[leaf.field];
            return isComparison(leaf) && got !== undefined ? holds(leaf.op, compareFilterValues(got, leaf.value)) : null;
          }) === true;
        }),
      );
  }
}

/** Whether every predicate of the rule holds for the job. */
export function ruleMatches(rule: FilterRule, job: Job): boolean {
  return predicatesOf(rule).every(([name, f]) => matchesPredicate(job, rule.watermark, name, f));
}

/** The rule that decides for the job: the first matching one whose action is not CONTINUE. */
export function applyingRule(rules: Iterable<FilterRule>, job: Job): FilterRule | undefined {
  return orderedRules(rules).find((r) => r.action !== "CONTINUE" && ruleMatches(r, job));
}

/** Whether a queued job may start now, with `running` the jobs already running. */
export function mayStart(rules: ReadonlyMap<string, FilterRule>, job: Job, running: Iterable<Job>): boolean {
  if (rules.size === 0) return true;
  const rule = applyingRule(rules.values(), job);
  if (!rule || rule.action === "ACCEPT") return true;
  if (!Array.isArray(rule.action)) return false; // PAUSE waits; REJECT is canceled by the queue
  let taken = 0;
  for (const other of running) if (applyingRule(rules.values(), other)?.uuid === rule.uuid) taken++;
  return taken < rule.action[1];
}

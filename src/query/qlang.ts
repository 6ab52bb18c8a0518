// The Query2 filter language (Ganeti's Query/Language.hs and Query/Filter.hs): a filter is
// null or a nested list `[op, args…]`. It is parsed once, checked against a field table,
// and compiled to a predicate over rows. Errors carry Ganeti's texts.

import { NoValue, type FieldTable, type FilterMode } from "./fields.ts";
import { nameMatches } from "./names.ts";
import { compilePattern, type ClientPattern } from "../model/pattern.ts";

/** A filter operand: a string, or an integer (Ganeti accepts no other values). */
export type FilterValue = string | number;

export type Filter =
  | { op: "empty" }
  | { op: "and" | "or"; args: Filter[] }
  | { op: "not"; arg: Filter }
  | { op: "true"; field: string }
  | { op: "eq" | "lt" | "gt" | "le" | "ge" | "contains"; field: string; value: FilterValue }
  | { op: "regexp"; field: string; pattern: string; regex: ClientPattern };

/**
 * A filter Ganeti would refuse. `stage` says when: "parse" (malformed; Ganeti's luxid
 * rejects the request, which RAPI reports as 502 "Failed to parse request: …"), "compile"
 * (a field that does not exist) or "evaluate" (a value of the wrong type for the operator,
 * found while filtering). The message is Ganeti's.
 */
export class QueryFilterError extends Error {
  readonly stage: "parse" | "compile" | "evaluate";
  constructor(stage: "parse" | "compile" | "evaluate", message: string) {
    super(message);
    this.name = "QueryFilterError";
    this.stage = stage;
  }
}

// ---- Ganeti's renderings of values in messages ----

/** A JSON value as Ganeti's messages print it (Text.JSON's pp_value, on one line). */
export function ppValue(v: unknown): string {
  if (Array.isArray(v)) return "[" + v.map(ppValue).join(", ") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ": " + ppValue(x)).join(", ") + "}";
  }
  return v === undefined ? "null" : JSON.stringify(v);
}

/** The message luxid gives for a request it cannot decode (RAPI shows it with status 502). */
export function luxiParseFailure(args: unknown, message: string): string {
  return `Failed to parse request: Cannot convert value '${ppValue(args)}', error: ${message}`;
}

/** A non-integral number as Haskell shows a Rational: "3 % 2". */
function showRational(x: number): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(String(x));
  if (!m) return String(x);
  const frac = m[3] ?? "";
  const exp = Number(m[4] ?? 0) - frac.length;
  let num = BigInt(m[2] + frac);
  let den = 1n;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den = 10n ** BigInt(-exp);
  let [a, b] = [num, den];
  while (b !== 0n) [a, b] = [b, a % b];
  return `${m[1]}${num / a} % ${den / a}`;
}

function showFilterValue(v: FilterValue): string {
  if (typeof v === "string") return `QuotedString ${JSON.stringify(v)}`;
  return v < 0 ? `NumericValue (${v})` : `NumericValue ${v}`;
}

// ---- parsing ----

const parseError = (message: string) => new QueryFilterError("parse", message);

function readField(v: unknown): string {
  if (typeof v !== "string") throw parseError("Unable to read String");
  return v;
}

function readValue(v: unknown): FilterValue {
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) {
    if (!Number.isInteger(v)) {
      throw parseError(`Cannot deserialise numeric filter value, expecting integral but got a fractional value: ${showRational(v)}`);
    }
    return v;
  }
  throw parseError(`Cannot deserialise filter value, expecting string or integer, got ${ppValue(v)}`);
}

/** Compiled by RE2 (linear-time matching; see model/pattern.ts); inline flags like "(?i)" work. */
function compileRegex(pattern: string): ClientPattern {
  try {
    return compilePattern(pattern);
  } catch (e) {
    throw parseError(`Invalid regular expression '${pattern}': ${(e as Error).message}`);
  }
}

const BINARY: Record<string, "eq" | "lt" | "gt" | "le" | "ge" | "contains"> = {
  "==": "eq", "=": "eq", "<": "lt", ">": "gt", "<=": "le", ">=": "ge", "=[]": "contains",
};

function fieldValuePair(args: unknown[]): [unknown, unknown] {
  if (args.length !== 2) {
    throw parseError(`Cannot deserialise field/value pair, expected [fieldname, value] but got ${ppValue(args)}`);
  }
  return [args[0], args[1]];
}

/** Deeper filters are refused: parsing and evaluation recurse once per level. */
const MAX_FILTER_DEPTH = 64;

/** Parses a filter in its JSON form; null means no filter. Throws QueryFilterError("parse"). */
export function parseFilter(raw: unknown, depth = 0): Filter {
  if (raw === null || raw === undefined) return { op: "empty" };
  if (depth > MAX_FILTER_DEPTH) throw parseError(`Filter nested deeper than ${MAX_FILTER_DEPTH} levels`);
  if (!Array.isArray(raw) || typeof raw[0] !== "string") {
    throw parseError(`Cannot deserialise filter: expected array [string, args], got ${ppValue(raw)}`);
  }
  const op = raw[0];
  const args = raw.slice(1);
  switch (op) {
    case "&":
    case "|":
      return { op: op === "&" ? "and" : "or", args: args.map((a) => parseFilter(a, depth + 1)) };
    case "!":
      if (args.length !== 1) throw parseError(`Cannot deserialise field, expected [filter] but got ${ppValue(args)}`);
      return { op: "not", arg: parseFilter(args[0], depth + 1) };
    case "?":
      if (args.length !== 1) throw parseError(`Cannot deserialise field, expected [fieldname] but got ${ppValue(args)}`);
      return { op: "true", field: readField(args[0]) };
    case "!=": {
      const [f, v] = fieldValuePair(args);
      return { op: "not", arg: { op: "eq", field: readField(f), value: readValue(v) } };
    }
    case "=~": {
      const [f, v] = fieldValuePair(args);
      const field = readField(f);
      const pattern = readField(v);
      return { op: "regexp", field, pattern, regex: compileRegex(pattern) };
    }
    default: {
      const kind = BINARY[op];
      if (!kind) throw parseError(`Unknown filter operand '${op}'`);
      const [f, v] = fieldValuePair(args);
      return { op: kind, field: readField(f), value: readValue(v) };
    }
  }
}

/** The field names a filter uses, in order of appearance (duplicates kept). */
export function filterFields(f: Filter, out: string[] = []): string[] {
  switch (f.op) {
    case "empty":
      break;
    case "and":
    case "or":
      for (const a of f.args) filterFields(a, out);
      break;
    case "not":
      filterFields(f.arg, out);
      break;
    default:
      out.push(f.field);
  }
  return out;
}

/**
 * The names a filter asks for, when it is only `name == X` terms joined by "|" (Ganeti's
 * requestedNames); undefined for any other filter. An empty filter asks for [] (all).
 */
export function requestedNames(f: Filter, nameField: string): FilterValue[] | undefined {
  switch (f.op) {
    case "empty":
      return [];
    case "or": {
      const out: FilterValue[] = [];
      for (const a of f.args) {
        const names = requestedNames(a, nameField);
        if (!names) return undefined;
        out.push(...names);
      }
      return out;
    }
    case "eq":
      return f.field === nameField ? [f.value] : undefined;
    default:
      return undefined;
  }
}

// ---- compiling and evaluating ----

export type Predicate<R> = (row: R) => boolean;

const evalError = (message: string) => new QueryFilterError("evaluate", message);

function compare(op: "eq" | "lt" | "gt" | "le" | "ge", want: FilterValue, got: unknown): boolean {
  if ((typeof want === "string" && typeof got === "string") || (typeof want === "number" && typeof got === "number")) {
    switch (op) {
      case "eq":
        return got === want;
      case "lt":
        return got < want;
      case "gt":
        return got > want;
      case "le":
        return got <= want;
      case "ge":
        return got >= want;
    }
  }
  throw evalError(`Invalid types in comparison, trying to compare ${ppValue(got)} with '${showFilterValue(want)}'`);
}

function comparable(mode: FilterMode, v: unknown): unknown {
  if (mode !== "timestamp") return v;
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === "number" && typeof v[1] === "number") return v[0];
  throw evalError("Internal error: Getter returned non-timestamp for QffTimestamp");
}

/**
 * Compiles a filter against a field table. A field the table does not have fails here
 * ("Can't find field named 'x'"). The predicate throws QueryFilterError("evaluate") when a
 * value does not suit its operator. A field without a value (unavailable, node offline)
 * lets its term pass, as in Ganeti.
 */
export function compileFilter<R>(f: Filter, table: FieldTable<R>): Predicate<R> {
  switch (f.op) {
    case "empty":
      return () => true;
    case "and": {
      const ps = f.args.map((a) => compileFilter(a, table));
      return (r) => ps.every((p) => p(r));
    }
    case "or": {
      const ps = f.args.map((a) => compileFilter(a, table));
      return (r) => ps.some((p) => p(r));
    }
    case "not": {
      const p = compileFilter(f.arg, table);
      return (r) => !p(r);
    }
  }
  const def = table.get(f.field);
  if (!def) throw new QueryFilterError("compile", `Can't find field named '${f.field}'`);
  const { get, filterMode: mode } = def;
  // Timestamp fields are compared by their seconds, whatever the operator (Ganeti's qffField).
  const leaf = (test: (v: unknown) => boolean): Predicate<R> => (r) => {
    const v = get(r);
    return v instanceof NoValue ? true : test(comparable(mode, v));
  };
  switch (f.op) {
    case "true":
      return leaf((v) => {
        if (typeof v === "boolean") return v;
        throw evalError(`Unexpected value '${ppValue(v)}' in boolean context`);
      });
    case "regexp": {
      const re = f.regex;
      return leaf((v) => {
        if (typeof v === "string") return re.test(v);
        throw evalError(`Invalid field value used in regexp matching, expecting string but got '${ppValue(v)}'`);
      });
    }
    case "contains": {
      const want = f.value;
      // Ganeti refuses a list with elements of another type; a NIC without IP simply
      // does not match here.
      return leaf((v) => {
        if (Array.isArray(v)) return v.includes(want);
        throw evalError(`Cannot convert value '${ppValue(v)}', error: Unable to read list`);
      });
    }
    case "eq": {
      const want = f.value;
      if (mode === "hostname" && typeof want === "string") {
        return leaf((v) => (typeof v === "string" ? nameMatches(v, want) : compare("eq", want, v)));
      }
      return leaf((v) => compare("eq", want, v));
    }
    default: {
      const { op, value } = f;
      return leaf((v) => compare(op, value, v));
    }
  }
}

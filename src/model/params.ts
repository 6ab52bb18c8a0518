// Typed opcode parameters: each parameter is declared once with its type check, default
// and doc, and the TypeScript type of an opcode's params is inferred from the declaration.

import {
  DDM_VALUES,
  DDM_VALUES_WITH_MODIFY,
  DISK_TEMPLATES,
  HYPERVISORS,
  MAX_DISKS,
  NIC_MODES,
  NIC_PARAMS,
  STORAGE_TYPES,
  type StorageType,
} from "./constants.ts";
import { isIPv4Address, isIPv4Network, isIPv6Address, isIPv6Network } from "./netaddr.ts";
import { isDict } from "./dict.ts";

/** A JSON Schema (2020-12) object: what the OpenAPI document says a value may be. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/**
 * A runtime type check that also carries the TypeScript type it admits and, for the OpenAPI
 * document, the JSON Schema of the same values (a predicate's extra condition, such as an
 * address's syntax, stays in `desc`).
 */
export interface Check<T> {
  readonly desc: string;
  readonly schema: JsonSchema;
  test(value: unknown): value is T;
}

function check<T>(desc: string, test: (v: unknown) => boolean, schema: JsonSchema): Check<T> {
  return { desc, schema, test: test as (v: unknown) => v is T };
}

const withDesc = (schema: JsonSchema, description: string): JsonSchema => ({ ...schema, description });

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/**
 * Ganeti's `Parens`: a nested description is parenthesized unless it is a single word, so
 * `desc` reads exactly like the "type check" Ganeti documents ("None or (List of String)").
 */
function parens(desc: string): string {
  return /^[a-zA-Z0-9_-]+$/.test(desc) ? desc : `(${desc})`;
}

type CheckedTuple<C extends readonly Check<unknown>[]> = { [K in keyof C]: C[K] extends Check<infer U> ? U : never };

const anything = check<unknown>("Anything", () => true, {});

const fixedList = (items: readonly Check<unknown>[]): JsonSchema =>
  ({ type: "array", prefixItems: items.map((c) => c.schema), minItems: items.length, maxItems: items.length });

// Primitive checks and combinators (Ganeti's ht module).
const base = {
  any: anything,
  bool: check<boolean>("Boolean", (v) => typeof v === "boolean", { type: "boolean" }),
  string: check<string>("String", (v) => typeof v === "string", { type: "string" }),
  nonEmptyString: check<string>("NonEmptyString", (v) => typeof v === "string" && v.length > 0, { type: "string", minLength: 1 }),
  int: check<number>("Integer", isInt, { type: "integer" }),
  nonNegInt: check<number>("EqualOrGreaterThanZero", (v) => isInt(v) && v >= 0, { type: "integer", minimum: 0 }),
  positiveInt: check<number>("GreaterThanZero", (v) => isInt(v) && v > 0, { type: "integer", minimum: 1 }),
  // JSON.parse cannot tell 1.0 from 1, so any finite number passes (Ganeti's TFloat, which
  // sees the JSON text's type, refuses an integer).
  float: check<number>("Float", (v) => typeof v === "number" && Number.isFinite(v), { type: "number" }),
  nonNegFloat: check<number>("EqualOrGreaterThanZero", (v) => typeof v === "number" && v >= 0, { type: "number", minimum: 0 }),
  dict: check<Record<string, unknown>>("Dictionary", isDict, { type: "object" }),
  /** A dictionary of anything (Ganeti's untyped `JSObject JSValue` parameters). */
  anyDict: check<Record<string, unknown>>("Dictionary with keys of Anything and values of Anything", isDict, { type: "object" }),
  list: check<unknown[]>("List", (v) => Array.isArray(v), { type: "array" }),
  oneOf<const V extends readonly (string | number)[]>(...values: V): Check<V[number]> {
    return check<V[number]>(`OneOf ${values.join(", ")}`, (v) => values.includes(v as V[number]), { enum: values });
  },
  maybe<T>(inner: Check<T>): Check<T | null> {
    return check<T | null>(`None or ${parens(inner.desc)}`, (v) => v === null || inner.test(v), { anyOf: [{ type: "null" }, inner.schema] });
  },
  listOf<T>(inner: Check<T>): Check<T[]> {
    return check<T[]>(`List of ${parens(inner.desc)}`, (v) => Array.isArray(v) && v.every((x) => inner.test(x)), { type: "array", items: inner.schema });
  },
  /** A dictionary whose values (and, when given, keys) pass the checks. JSON keys are strings. */
  dictOf<T, K extends string = string>(values: Check<T>, keys: Check<K> = anything as Check<K>): Check<Record<K, T>> {
    return check<Record<K, T>>(
      `Dictionary with keys of ${parens(keys.desc)} and values of ${parens(values.desc)}`,
      (v) => isDict(v) && Object.entries(v).every(([k, x]) => keys.test(k) && values.test(x)),
      { type: "object", additionalProperties: values.schema, ...(keys === anything ? {} : { propertyNames: keys.schema }) },
    );
  },
  or<A, B>(a: Check<A>, b: Check<B>): Check<A | B> {
    return check<A | B>(`${parens(a.desc)} or ${parens(b.desc)}`, (v) => a.test(v) || b.test(v), { anyOf: [a.schema, b.schema] });
  },
  /** A fixed-length list, described as Ganeti's TTupleOf ("Tuple of (A, B)"). */
  tuple<const C extends readonly Check<unknown>[]>(...items: C): Check<CheckedTuple<C>> {
    return check(
      `Tuple of ${parens(items.map((c) => c.desc).join(", "))}`,
      (v) => Array.isArray(v) && v.length === items.length && items.every((c, i) => c.test(v[i])),
      fixedList(items),
    );
  },
  /** A fixed-length list, described as Ganeti's TAnd(TIsLength, TItems). */
  items<const C extends readonly Check<unknown>[]>(...items: C): Check<CheckedTuple<C>> {
    const each = items.map((c, i) => `${i === 0 ? "Item" : "item"} ${i} is ${parens(c.desc)}`).join(", ");
    return check(
      `(Length ${items.length}) and ${parens(each)}`,
      (v) => Array.isArray(v) && v.length === items.length && items.every((c, i) => c.test(v[i])),
      fixedList(items),
    );
  },
  /** `first` and a further condition, described as "Base and (Condition)". */
  and<T>(first: Check<T>, desc: string, pred: (v: T) => boolean): Check<T> {
    return check<T>(`${parens(first.desc)} and ${parens(desc)}`, (v) => first.test(v) && pred(v), withDesc(first.schema, desc));
  },
  /** A narrower check: `first` plus a predicate, described by `desc`. */
  refine<T>(first: Check<T>, desc: string, pred: (v: T) => boolean): Check<T> {
    return check<T>(desc, (v) => first.test(v) && pred(v), withDesc(first.schema, desc));
  },
  /** The same check with a remark appended to its description ("X [Disk parameters]"). */
  comment<T>(inner: Check<T>, text: string): Check<T> {
    return check<T>(`${inner.desc} [${text}]`, (v) => inner.test(v), withDesc(inner.schema, text));
  },
  /**
   * A value Ganeti wraps as private (never logged or returned). Its JSON loader wraps the
   * values of osparams_private/osparams_secret/osparams_private_cluster before validation,
   * so on the wire this is just `inner`.
   */
  private<T>(inner: Check<T>): Check<T> {
    return check<T>(`Private ${parens(inner.desc)}`, (v) => inner.test(v), { ...inner.schema, writeOnly: true });
  },
};

const diskParams = base.comment(
  base.dictOf(base.or(base.nonEmptyString, base.int), base.nonEmptyString),
  "Disk parameters",
);
const nicParams = base.comment(
  base.dictOf(base.maybe(base.string), base.oneOf(...NIC_PARAMS)),
  "NIC parameters",
);

export const t = {
  ...base,

  // Ganeti's domain types.
  diskTemplate: base.oneOf(...DISK_TEMPLATES),
  hypervisor: base.oneOf(...HYPERVISORS),
  nicMode: base.oneOf(...NIC_MODES),
  storageType: check<StorageType>("StorageType", (v) => STORAGE_TYPES.includes(v as StorageType), { enum: STORAGE_TYPES }),
  ipv4Address: base.and(base.string, "IPv4 address", isIPv4Address),
  ipv4Network: base.and(base.string, "IPv4 network", isIPv4Network),
  ipv6Address: base.and(base.string, "IPv6 address", isIPv6Address),
  ipv6Network: base.and(base.string, "IPv6 network", isIPv6Network),
  /** Index of an instance disk. */
  diskIndex: base.and(base.nonNegInt, `Less than ${MAX_DISKS}`, (v) => v < MAX_DISKS),
  /** One disk definition: `{size: 1024, mode: "rw", ...}`. */
  diskParams,
  /** One NIC definition: `{mac: ..., ip: ..., link: ...}`. */
  nicParams,
  /**
   * A list of device modifications, `[[op, index, params], ...]` with op one of add, modify,
   * attach, remove, detach and the index possibly negative or a name; or the deprecated
   * `[[op-or-index, params], ...]`.
   */
  setParamsMods<P>(params: Check<P>) {
    const current = base.items(
      base.oneOf(...DDM_VALUES_WITH_MODIFY),
      base.comment(base.or(base.int, base.string), "Device index, can be negative, e.g. -1 for last disk"),
      params,
    );
    const deprecated = base.items(base.or(base.oneOf(...DDM_VALUES), base.nonNegInt), params);
    return base.or(
      base.comment(base.listOf(current), "Recommended"),
      base.comment(base.listOf(deprecated), "Deprecated"),
    );
  },
};

/** One opcode parameter: required (no default) or optional with a default. */
export interface Param<T> {
  readonly check: Check<T>;
  readonly required: boolean;
  /** The value filled in when the parameter is absent (a function for fresh objects). */
  readonly fallback?: T | (() => T);
  readonly doc: string;
  /** A Corral extension Ganeti's opcode lacks: unset (null) unless given, so a job's ops stay Ganeti's. */
  readonly extension?: true;
}

export function req<T>(check: Check<T>, doc = ""): Param<T> {
  return { check, required: true, doc };
}

export function opt<T>(check: Check<T>, fallback: T | (() => T), doc = ""): Param<T> {
  return { check, required: false, fallback, doc };
}

/** A Corral extension parameter (Ganeti clients never send it): null unless given. */
export function extension<T>(check: Check<T | null>, doc: string): Param<T | null> {
  return { check, required: false, fallback: null, doc, extension: true };
}

export type ParamSpec = Record<string, Param<unknown>>;
export type ParamValues<S extends ParamSpec> = { -readonly [K in keyof S]: S[K] extends Param<infer T> ? T : never };

export function fallbackValue<T>(p: Param<T>): T | undefined {
  const f = p.fallback;
  return typeof f === "function" ? (f as () => T)() : f;
}

// Typed opcode parameters: each parameter is declared once with its type check, default
// and doc, and the TypeScript type of an opcode's params is inferred from the declaration.

/** A runtime type check that also carries the TypeScript type it admits. */
export interface Check<T> {
  readonly desc: string;
  test(value: unknown): value is T;
}

function check<T>(desc: string, test: (v: unknown) => boolean): Check<T> {
  return { desc, test: test as (v: unknown) => v is T };
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

export const t = {
  any: check<unknown>("Anything", () => true),
  bool: check<boolean>("Boolean", (v) => typeof v === "boolean"),
  string: check<string>("String", (v) => typeof v === "string"),
  nonEmptyString: check<string>("NonEmptyString", (v) => typeof v === "string" && v.length > 0),
  int: check<number>("Integer", isInt),
  nonNegInt: check<number>("EqualOrGreaterThanZero", (v) => isInt(v) && v >= 0),
  positiveInt: check<number>("PositiveInteger", (v) => isInt(v) && v > 0),
  // Python accepts an int where a float is expected.
  float: check<number>("Float", (v) => typeof v === "number" && Number.isFinite(v)),
  nonNegFloat: check<number>("EqualOrGreaterThanZero", (v) => typeof v === "number" && v >= 0),
  dict: check<Record<string, unknown>>(
    "Dictionary",
    (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  ),
  list: check<unknown[]>("List", (v) => Array.isArray(v)),
  oneOf<const V extends readonly (string | number)[]>(...values: V): Check<V[number]> {
    return check<V[number]>(`OneOf ${values.join(", ")}`, (v) =>
      values.includes(v as V[number]),
    );
  },
  maybe<T>(inner: Check<T>): Check<T | null> {
    return check<T | null>(`None or ${inner.desc}`, (v) => v === null || inner.test(v));
  },
  listOf<T>(inner: Check<T>): Check<T[]> {
    return check<T[]>(`List of ${inner.desc}`, (v) => Array.isArray(v) && v.every((x) => inner.test(x)));
  },
  dictOf<T>(inner: Check<T>): Check<Record<string, T>> {
    return check<Record<string, T>>(
      `Dictionary of ${inner.desc}`,
      (v) =>
        typeof v === "object" && v !== null && !Array.isArray(v) &&
        Object.values(v).every((x) => inner.test(x)),
    );
  },
  or<A, B>(a: Check<A>, b: Check<B>): Check<A | B> {
    return check<A | B>(`${a.desc} or ${b.desc}`, (v) => a.test(v) || b.test(v));
  },
  tuple<const C extends readonly Check<unknown>[]>(...items: C): Check<{ [K in keyof C]: C[K] extends Check<infer U> ? U : never }> {
    return check(`Tuple of (${items.map((c) => c.desc).join(", ")})`, (v) =>
      Array.isArray(v) && v.length === items.length && items.every((c, i) => c.test(v[i])),
    );
  },
  /** A narrower check: `base` plus a predicate, described by `desc`. */
  refine<T>(base: Check<T>, desc: string, pred: (v: T) => boolean): Check<T> {
    return check<T>(desc, (v) => base.test(v) && pred(v));
  },
};

/** One opcode parameter: required (no default) or optional with a default. */
export interface Param<T> {
  readonly check: Check<T>;
  readonly required: boolean;
  /** The value filled in when the parameter is absent (a function for fresh objects). */
  readonly fallback?: T | (() => T);
  readonly doc: string;
}

export function req<T>(check: Check<T>, doc = ""): Param<T> {
  return { check, required: true, doc };
}

export function opt<T>(check: Check<T>, fallback: T | (() => T), doc = ""): Param<T> {
  return { check, required: false, fallback, doc };
}

export type ParamSpec = Record<string, Param<unknown>>;
export type ParamValues<S extends ParamSpec> = { -readonly [K in keyof S]: S[K] extends Param<infer T> ? T : never };

export function fallbackValue<T>(p: Param<T>): T | undefined {
  const f = p.fallback;
  return typeof f === "function" ? (f as () => T)() : f;
}

// Ganeti's name rules: "nice" ordering (digit runs compare as numbers, so node2 < node10)
// and name lookup (a name matches itself, or is the short form of "name.domain").

export { niceCompare, niceSort, niceSortBy } from "../model/names.ts";

/** Whether `key` names `full`: the same name, or `full` is `key` followed by ".". */
export function nameMatches(full: string, key: string): boolean {
  return full === key || (full.length > key.length && full.startsWith(key) && full.charCodeAt(key.length) === 46);
}

export type LookupResult =
  | { match: "exact" | "partial"; name: string }
  | { match: "multiple" | "none" };

/** Ganeti's lookupName: an exact match wins; otherwise one partial match, or none/multiple. */
export function lookupName(names: Iterable<string>, key: string): LookupResult {
  let partial: string | undefined;
  let multiple = false;
  const dotted = key + ".";
  for (const n of names) {
    if (n === key) return { match: "exact", name: n };
    if (n.startsWith(dotted)) {
      if (partial === undefined) partial = n;
      else multiple = true;
    }
  }
  if (multiple) return { match: "multiple" };
  return partial === undefined ? { match: "none" } : { match: "partial", name: partial };
}

/** The full name `query` stands for (exact, or unique short form), or undefined. */
export function resolveName(names: Iterable<string>, query: string): string | undefined {
  const r = lookupName(names, query);
  return r.match === "exact" || r.match === "partial" ? r.name : undefined;
}

export interface Named {
  readonly name: string;
  readonly uuid: string;
}

export type ObjectLookup<T> =
  | { match: "uuid" | "exact" | "partial"; obj: T }
  | { match: "multiple" }
  | { match: "none" };

/**
 * The object `query` names, as Ganeti's getItem finds it: by uuid, by exact name, or by the
 * unique short form of a name ("multiple" when the short form is ambiguous).
 */
export function lookupObject<T extends Named>(objects: ReadonlyMap<string, T>, query: string): ObjectLookup<T> {
  const byUuid = objects.get(query);
  if (byUuid !== undefined) return { match: "uuid", obj: byUuid };
  let partial: T | undefined;
  let multiple = false;
  const dotted = query + ".";
  for (const o of objects.values()) {
    if (o.name === query) return { match: "exact", obj: o };
    if (o.name.startsWith(dotted)) {
      if (partial === undefined) partial = o;
      else multiple = true;
    }
  }
  if (multiple) return { match: "multiple" };
  return partial === undefined ? { match: "none" } : { match: "partial", obj: partial };
}

/** The object `query` names (uuid, exact name or unique short form), or undefined. */
export function resolveObject<T extends Named>(objects: ReadonlyMap<string, T>, query: string): T | undefined {
  const r = lookupObject(objects, query);
  return "obj" in r ? r.obj : undefined;
}

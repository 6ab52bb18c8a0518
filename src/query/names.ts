// Ganeti's name rules: "nice" ordering (digit runs compare as numbers, so node2 < node10)
// and name lookup (a name matches itself, or is the short form of "name.domain").

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * Compares like Ganeti's niceSort: names split into digit and non-digit runs; digit runs
 * compare by value and sort before a non-digit run at the same position; a name that is a
 * prefix of the other (run by run) comes first.
 */
export function niceCompare(a: string, b: string): number {
  const la = a.length;
  const lb = b.length;
  let i = 0;
  let j = 0;
  while (i < la && j < lb) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    const da = isDigit(ca);
    const db = isDigit(cb);
    if (da !== db) return da ? -1 : 1;
    if (da) {
      let ie = i;
      while (ie < la && isDigit(a.charCodeAt(ie))) ie++;
      let je = j;
      while (je < lb && isDigit(b.charCodeAt(je))) je++;
      let is = i;
      while (is < ie && a.charCodeAt(is) === 48) is++;
      let js = j;
      while (js < je && b.charCodeAt(js) === 48) js++;
      if (ie - is !== je - js) return ie - is - (je - js);
      for (; is < ie; is++, js++) {
        const d = a.charCodeAt(is) - b.charCodeAt(js);
        if (d !== 0) return d;
      }
      i = ie;
      j = je;
      continue;
    }
    // Both in a non-digit run: compare the runs as strings.
    for (;;) {
      const endA = i >= la || isDigit(a.charCodeAt(i));
      const endB = j >= lb || isDigit(b.charCodeAt(j));
      if (endA || endB) {
        if (endA && endB) break;
        return endA ? -1 : 1;
      }
      const d = a.charCodeAt(i) - b.charCodeAt(j);
      if (d !== 0) return d;
      i++;
      j++;
    }
  }
  if (i < la) return 1;
  if (j < lb) return -1;
  return 0;
}

/** A nice-sorted copy. */
export function niceSort(names: Iterable<string>): string[] {
  return [...names].sort(niceCompare);
}

/** A nice-sorted copy of objects by a key (stable, like Ganeti's niceSortKey). */
export function niceSortBy<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  const arr = [...items];
  const keys = new Map<T, string>();
  for (const it of arr) keys.set(it, key(it));
  return arr.sort((x, y) => niceCompare(keys.get(x) as string, keys.get(y) as string));
}

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

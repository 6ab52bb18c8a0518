// Ganeti's name matching: a name matches itself exactly, or is the unique short form of a
// full name ("inst1" → "inst1.example.com"). UUIDs match too.

export function matchName<T extends { name: string; uuid: string }>(objects: Iterable<T>, wanted: string): T | undefined {
  let prefixHit: T | undefined;
  let prefixHits = 0;
  const dotted = wanted + ".";
  for (const obj of objects) {
    if (obj.name === wanted || obj.uuid === wanted) return obj;
    if (obj.name.startsWith(dotted)) {
      prefixHit = obj;
      prefixHits++;
    }
  }
  return prefixHits === 1 ? prefixHit : undefined;
}

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

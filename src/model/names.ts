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

/** Ganeti's NiceSort order: digit runs compare by value, so "node2" sorts before "node10". */
export function niceCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const [x, y] = [ra[i], rb[i]];
    const [dx, dy] = [/^\d/.test(x), /^\d/.test(y)];
    if (dx !== dy) return dx ? -1 : 1;
    const d = dx ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
    if (d !== 0) return d;
  }
  return ra.length - rb.length;
}

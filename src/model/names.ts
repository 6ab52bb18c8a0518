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

// What Ganeti calls a dict: a JSON object, not null and not an array.

export function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

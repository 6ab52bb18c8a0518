// Query strings parsed as Ganeti does (Python's parse_qs): blank values dropped, repeated
// keys kept in order, scalar readers take the first value, booleans go through int().

import { badRequest } from "./errors.ts";

export class QueryArgs {
  readonly raw: ReadonlyMap<string, string[]>;

  constructor(queryString: string) {
    const map = new Map<string, string[]>();
    for (const pair of queryString.split("&")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue; // "?dry-run" without a value is dropped, as parse_qs does
      const value = decodeComponent(pair.slice(eq + 1));
      if (value === "") continue;
      const key = decodeComponent(pair.slice(0, eq));
      const list = map.get(key);
      if (list) list.push(value);
      else map.set(key, [value]);
    }
    this.raw = map;
  }

  get size(): number {
    return this.raw.size;
  }

  has(name: string): boolean {
    return this.raw.has(name);
  }

  /** First value, or the default. */
  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    return this.raw.get(name)?.[0] ?? fallback;
  }

  /** Every value of a repeated parameter, in order (e.g. `tag`). */
  list(name: string): string[] {
    return [...(this.raw.get(name) ?? [])];
  }

  /** Ganeti's _checkIntVariable: Python int() of the first value; 400 if it isn't one. */
  int(name: string, fallback = 0): number {
    const value = this.raw.get(name)?.[0];
    if (value === undefined) return fallback;
    const n = parsePythonInt(value);
    if (n === undefined) throw badRequest(`Invalid value for the '${name}' parameter`);
    return n;
  }

  bool(name: string, fallback = false): boolean {
    return this.int(name, fallback ? 1 : 0) !== 0;
  }
}

/** Python's int(str): optional whitespace, sign, digits with single underscores. */
export function parsePythonInt(text: string): number | undefined {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[2].replace(/_/g, ""));
  return m[1] === "-" ? -n : n;
}

function decodeComponent(s: string): string {
  const plus = s.replace(/\+/g, " ");
  try {
    return decodeURIComponent(plus);
  } catch {
    // Python's unquote leaves invalid %-escapes as they are.
    return plus.replace(/%([0-9a-fA-F]{2})/g, (m, hex: string) => {
      try {
        return decodeURIComponent(m);
      } catch {
        return String.fromCharCode(parseInt(hex, 16));
      }
    });
  }
}

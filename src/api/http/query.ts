// Query strings parsed as Ganeti does (Python's parse_qs): blank values dropped, repeated
// keys kept in order, scalar readers take the first value, booleans go through int().

import { badRequest } from "./errors.ts";

/** A query parameter as a route declares it (and the OpenAPI document shows it). */
export interface QueryParam {
  readonly name: string;
  /** "list": the parameter may repeat (`?tag=a&tag=b`). Booleans are Python ints (`?force=1`). */
  readonly type: "boolean" | "integer" | "string" | "list";
  readonly description: string;
}

export const queryParam = {
  bool: (name: string, description: string): QueryParam => ({ name, type: "boolean", description }),
  int: (name: string, description: string): QueryParam => ({ name, type: "integer", description }),
  string: (name: string, description: string): QueryParam => ({ name, type: "string", description }),
  list: (name: string, description: string): QueryParam => ({ name, type: "list", description }),
};

/** Parameters many routes read. */
export const DRY_RUN = queryParam.bool("dry-run", "Run checks only, don't execute");
export const FORCE = queryParam.bool("force", "Force the operation");
export const BULK = queryParam.bool("bulk", "Full objects instead of names and URIs");
export const LOCK = queryParam.bool("lock", "Accepted for Ganeti clients; Corral reads one consistent snapshot either way");
export const REASON = queryParam.string("reason", "Reason recorded in the opcodes' reason trail");

/**
 * Reports a handler reading a query parameter its route does not declare. Nothing is
 * installed in production (the read works as before); the OpenAPI tests install one so that
 * the document cannot miss a parameter a handler reads.
 */
let undeclaredReadHook: ((name: string) => void) | undefined;
export function onUndeclaredQueryRead(hook: ((name: string) => void) | undefined): void {
  undeclaredReadHook = hook;
}

export class QueryArgs {
  readonly raw: ReadonlyMap<string, string[]>;
  /** The declared names; undefined when the args were made outside a route (no checking). */
  private readonly declared: ReadonlySet<string> | undefined;

  constructor(queryString: string, declared?: readonly QueryParam[]) {
    this.declared = declared && new Set(declared.map((p) => p.name));
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
    this.noteRead(name);
    return this.raw.has(name);
  }

  /** First value, or the default. */
  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    this.noteRead(name);
    return this.raw.get(name)?.[0] ?? fallback;
  }

  /** Every value of a repeated parameter, in order (e.g. `tag`). */
  list(name: string): string[] {
    this.noteRead(name);
    return [...(this.raw.get(name) ?? [])];
  }

  /** Ganeti's _checkIntVariable: Python int() of the first value; 400 if it isn't one. */
  int(name: string, fallback = 0): number {
    this.noteRead(name);
    const value = this.raw.get(name)?.[0];
    if (value === undefined) return fallback;
    const n = parsePythonInt(value);
    if (n === undefined) throw badRequest(`Invalid value for the '${name}' parameter`);
    return n;
  }

  bool(name: string, fallback = false): boolean {
    return this.int(name, fallback ? 1 : 0) !== 0;
  }

  private noteRead(name: string): void {
    if (this.declared && !this.declared.has(name)) undeclaredReadHook?.(name);
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

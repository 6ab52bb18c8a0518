// Query strings parsed as Ganeti does (Python's parse_qs): blank values dropped, repeated
// keys kept in order, scalar readers take the first value, booleans go through int().

import { badRequest } from "./errors.ts";

/** A query parameter as a route declares it (and the OpenAPI document shows it). */
export interface QueryParam {
  readonly name: string;
  /**
   * "list": the parameter may repeat (`?tag=a&tag=b`). Booleans are Python ints (`?force=1`);
   * "number" is Python's float() (a Corral parameter: Ganeti's are ints).
   */
  readonly type: "boolean" | "integer" | "number" | "string" | "list";
  readonly description: string;
  /** The smallest value an integer or number may have: a smaller one is a 400 naming it. */
  readonly minimum?: number;
}

/** Bounds of a numeric parameter. */
export interface NumberBounds {
  readonly minimum?: number;
}

export const queryParam = {
  bool: (name: string, description: string): QueryParam => ({ name, type: "boolean", description }),
  int: (name: string, description: string, bounds: NumberBounds = {}): QueryParam => ({ name, type: "integer", description, ...bounds }),
  number: (name: string, description: string, bounds: NumberBounds = {}): QueryParam => ({ name, type: "number", description, ...bounds }),
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
  /** The declared parameters by name; undefined when the args were made outside a route (no checking). */
  private readonly declared: ReadonlyMap<string, QueryParam> | undefined;

  constructor(queryString: string, declared?: readonly QueryParam[]) {
    this.declared = declared && new Map(declared.map((p) => [p.name, p]));
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
    return this.bounded(name, value, n);
  }

  /** A decimal number (Python's float() without inf, nan or underscores), within its declared bound; undefined when absent. */
  number(name: string): number | undefined {
    this.noteRead(name);
    const value = this.raw.get(name)?.[0];
    if (value === undefined) return undefined;
    const n = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n)) throw badRequest(`Invalid value for the '${name}' parameter`);
    return this.bounded(name, value, n);
  }

  bool(name: string, fallback = false): boolean {
    return this.int(name, fallback ? 1 : 0) !== 0;
  }

  /** `n` if the route's declaration of `name` allows it; else a 400 saying what it takes. */
  private bounded(name: string, text: string, n: number): number {
    const minimum = this.declared?.get(name)?.minimum;
    if (minimum !== undefined && n < minimum) throw badRequest(`Invalid value for the '${name}' parameter: '${text}' (expected ${minimum} or more)`);
    return n;
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

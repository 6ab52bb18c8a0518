// PVC's request values: from the query string or a form body, in either GET or POST (Flask's
// request.values, the query string first), and from a JSON object body for clients that
// speak JSON. A value-less option such as `?restart` is on by its presence. Each route
// method declares the values it reads (PvcValueDecl), for the OpenAPI document; a read of
// an undeclared name goes to a hook the tests install, so the declarations cannot drift.

import { MAX_JSON_DEPTH, jsonDepth } from "../http/body.ts";
import { PVC_FAILURE_STATUS, PvcError } from "./errors.ts";

const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

/** A request value as a route method declares it (and the OpenAPI document shows it). */
export interface PvcValueDecl {
  readonly name: string;
  /** Other spellings read after the name (v0.6's), as in `get("name", "new_name")`. */
  readonly aliases: readonly string[];
  /** "flag": on when given without a value or with anything but 0/false/no/off. */
  readonly kind: "string" | "integer" | "number" | "flag" | "choice";
  /** For "choice": the values accepted. */
  readonly choices?: readonly string[];
  readonly required: boolean;
  readonly description: string;
}

export interface PvcChoiceDecl<C extends readonly string[]> extends PvcValueDecl {
  readonly kind: "choice";
  readonly choices: C;
}

interface DeclOptions {
  readonly required?: boolean;
  readonly aliases?: readonly string[];
}

const decl = (name: string, kind: PvcValueDecl["kind"], description: string, o: DeclOptions): PvcValueDecl => ({
  name,
  aliases: o.aliases ?? [],
  kind,
  required: o.required ?? false,
  description,
});

export const pvcValue = {
  string: (name: string, description: string, o: DeclOptions = {}) => decl(name, "string", description, o),
  integer: (name: string, description: string, o: DeclOptions = {}) => decl(name, "integer", description, o),
  number: (name: string, description: string, o: DeclOptions = {}) => decl(name, "number", description, o),
  flag: (name: string, description: string, o: DeclOptions = {}) => decl(name, "flag", description, o),
  choice: <const C extends readonly string[]>(name: string, choices: C, description: string, o: DeclOptions = {}): PvcChoiceDecl<C> => ({
    ...decl(name, "choice", description, o),
    kind: "choice",
    choices,
  }),
};

/**
 * Reports a handler reading a value its route method does not declare. Nothing is installed
 * in production (the read works as before); the OpenAPI and PVC tests install one.
 */
let undeclaredReadHook: ((name: string) => void) | undefined;
export function onUndeclaredPvcRead(hook: ((name: string) => void) | undefined): void {
  undeclaredReadHook = hook;
}

export class PvcValues {
  private readonly sources: URLSearchParams[];
  private readonly json: Record<string, string>;
  /** The declared names and aliases; undefined when made outside a route (no checking). */
  private readonly declared: ReadonlySet<string> | undefined;

  constructor(query: string, body: { type: string; text: string } | undefined, declared?: readonly PvcValueDecl[]) {
    this.declared = declared && new Set(declared.flatMap((d) => [d.name, ...d.aliases]));
    this.sources = [new URLSearchParams(query)];
    this.json = {};
    if (!body || body.text === "") return;
    const type = body.type.split(";")[0].trim().toLowerCase();
    if (type === "application/json") {
      if (jsonDepth(body.text) > MAX_JSON_DEPTH) {
        throw new PvcError(PVC_FAILURE_STATUS, `The request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.text);
      } catch {
        throw new PvcError(PVC_FAILURE_STATUS, "The request body is not valid JSON");
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new PvcError(PVC_FAILURE_STATUS, "A JSON request body must be an object of values");
      }
      for (const [k, v] of Object.entries(parsed)) {
        if (v === null || v === undefined) continue;
        this.json[k] = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
      }
    } else {
      // Form bodies; a client that sent no content type gets the same reading.
      this.sources.push(new URLSearchParams(body.text));
    }
  }

  /** The first of the names (aliases: a v0.6 spelling after the manual's) that was given. */
  get(...names: string[]): string | undefined {
    if (this.declared) for (const name of names) if (!this.declared.has(name)) undeclaredReadHook?.(name);
    for (const name of names) {
      for (const s of this.sources) {
        const v = s.get(name);
        if (v !== null) return v;
      }
      if (name in this.json) return this.json[name];
    }
    return undefined;
  }

  has(...names: string[]): boolean {
    return this.get(...names) !== undefined;
  }

  /** An option: on when given without a value or with anything but 0/false/no/off. */
  flag(...names: string[]): boolean {
    const v = this.get(...names);
    return v !== undefined && !FALSE_WORDS.has(v.trim().toLowerCase());
  }

  /** A mandatory value; the failure names it. */
  required(...names: string[]): string {
    const v = this.get(...names);
    if (v === undefined || v === "") throw new PvcError(PVC_FAILURE_STATUS, `ERROR: A value for '${names[0]}' must be specified.`);
    return v;
  }

  /** One of the declaration's choices (mandatory), or a failure listing them. */
  choice<const C extends readonly string[]>(decl: PvcChoiceDecl<C>): C[number] {
    const { choices, name } = decl;
    const v = this.required(name, ...decl.aliases);
    if (!(choices as readonly string[]).includes(v)) {
      throw new PvcError(PVC_FAILURE_STATUS, `ERROR: '${name}' must be one of ${choices.map((c) => `'${c}'`).join(", ")}, not '${v}'.`);
    }
    return v as C[number];
  }
}

// PVC's request values: from the query string or a form body, in either GET or POST (Flask's
// request.values, the query string first), and from a JSON object body for clients that
// speak JSON. A value-less option such as `?restart` is on by its presence.

import { MAX_JSON_DEPTH, jsonDepth } from "../http/body.ts";
import { PVC_FAILURE_STATUS, PvcError } from "./errors.ts";

const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

export class PvcValues {
  private readonly sources: URLSearchParams[];
  private readonly json: Record<string, string>;

  constructor(query: string, body: { type: string; text: string } | undefined) {
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

  /** One of `choices`, or a failure listing them. */
  choice<const C extends readonly string[]>(choices: C, ...names: string[]): C[number] {
    const v = this.required(...names);
    if (!(choices as readonly string[]).includes(v)) {
      throw new PvcError(PVC_FAILURE_STATUS, `ERROR: '${names[0]}' must be one of ${choices.map((c) => `'${c}'`).join(", ")}, not '${v}'.`);
    }
    return v as C[number];
  }
}

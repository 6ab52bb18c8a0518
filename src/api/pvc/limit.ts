// PVC's `limit` matching: a regular expression matched at the start of the value (Python's
// re.match), with `.*` added on each side that is not anchored by `^` or `$`, so "hv"
// finds hv1 and myhv2 while "^hv" finds only hv1. Element GETs match exactly instead.

import { compilePattern, type ClientPattern } from "../../model/pattern.ts";
import { pvcFailure } from "./errors.ts";
import { pvcValue } from "./values.ts";

const MAX_LIMIT = 256;

/** The `limit` value of the list endpoints. */
export const LIMIT = pvcValue.string("limit", "A regular expression the listed names must match (anchored only by ^ or $)");

export type Matcher = (...candidates: string[]) => boolean;

/** A matcher for `limit`; undefined or "" matches everything. Any candidate may match. */
export function limitMatcher(limit: string | undefined): Matcher {
  if (limit === undefined || limit === "") return () => true;
  if (limit.length > MAX_LIMIT) throw pvcFailure(`ERROR: The limit is longer than ${MAX_LIMIT} characters.`);
  let source = limit;
  if (!source.startsWith("^")) source = `.*${source}`;
  if (!source.endsWith("$")) source = `${source}.*`;
  let re: ClientPattern;
  try {
    re = compilePattern(`^(?:${source.replace(/^\^/, "")})`);
  } catch (err) {
    throw pvcFailure(`ERROR: Regex Error: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (...candidates) => candidates.some((c) => re.test(c));
}

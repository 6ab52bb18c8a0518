// Accept (RFC 9110 §12.5.1) for the one media type a route answers: the most specific
// media range naming it decides, by its weight. Parsed by splitting, never by a regex that
// can backtrack, and only up to a bounded length: a hostile header costs linear time.

import { HttpError } from "./errors.ts";
import type { MediaType } from "./routes.ts";

/** Longer than any real client's Accept (browsers send ~150 bytes). */
export const MAX_ACCEPT_LENGTH = 4096;

// A weight is 0 to 1 with at most three decimals; anchored, no nested repetition.
const QVALUE = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Whether a client sending `header` takes `type`. No header (or an empty one) takes
 * anything; a range with a malformed weight is left out, as if it had not been sent.
 */
export function accepts(header: string | undefined, type: MediaType): boolean {
  if (header === undefined) return true;
  if (header.length > MAX_ACCEPT_LENGTH) {
    throw new HttpError(400, `The Accept header is ${header.length} bytes long; at most ${MAX_ACCEPT_LENGTH} are read`);
  }
  if (header.trim() === "") return true;
  const slash = type.indexOf("/");
  const wantedType = type.slice(0, slash);
  // Specificity of the best range so far (-1: none): 2 type/subtype, 1 type/*, 0 */*.
  let best = -1;
  let weight = 0;
  for (const item of header.split(",")) {
    const parts = item.split(";");
    const range = parts[0].trim().toLowerCase();
    const specificity = range === type ? 2 : range === `${wantedType}/*` ? 1 : range === "*/*" ? 0 : -1;
    if (specificity < 0 || specificity < best) continue;
    const q = weightOf(parts);
    if (q === undefined) continue;
    // Equal ranges sent twice: the higher weight counts.
    weight = specificity > best ? q : Math.max(weight, q);
    best = specificity;
  }
  return best >= 0 && weight > 0;
}

/** The range's q parameter (1 when absent); undefined when malformed. */
function weightOf(parts: readonly string[]): number | undefined {
  for (let i = 1; i < parts.length; i++) {
    const param = parts[i].trim();
    const eq = param.indexOf("=");
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "q") continue;
    const value = param.slice(eq + 1).trim();
    return QVALUE.test(value) ? Number(value) : undefined;
  }
  return 1;
}

// Regular expressions that clients send (query filters' `=~`, PVC's `limit`). They run on
// RE2 (re2js): matching takes time linear in the text whatever the pattern, so no pattern
// can hold the event loop the way a backtracking engine lets `(x+)+y` do. RE2 has no
// look-around and no back-references; such a pattern is refused with a message saying so.

import { RE2JS } from "re2js";

/** Longer patterns are refused: compiling costs time and memory in the pattern's size. */
export const MAX_PATTERN_LENGTH = 1024;

export interface ClientPattern {
  /** True when the pattern matches anywhere in the text (Python's re.search). */
  test(text: string): boolean;
}

/** Why a pattern was refused; the caller wraps it in its API's error. */
export class PatternError extends Error {}

/** Compiles a client's pattern; throws PatternError with a message a person can act on. */
export function compilePattern(pattern: string): ClientPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new PatternError(`pattern is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are accepted`);
  }
  try {
    return RE2JS.compile(pattern);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PatternError(`${reason} (patterns are matched in linear time by RE2, which has no look-around or back-references)`);
  }
}

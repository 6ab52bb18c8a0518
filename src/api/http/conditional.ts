// Conditional requests on one object (RFC 9110 §13): If-Match first (strong comparison,
// 412 when it fails), then If-None-Match (weak comparison: 304 for a read, 412 otherwise).
// Entity-tag lists are parsed by a linear scan; one that does not parse matches nothing.

import type { IncomingHttpHeaders } from "node:http";
import type { JobPrecondition } from "../../model/job.ts";
import { HttpError } from "./errors.ts";
import type { VersionStamp } from "./routes.ts";

interface EntityTag {
  readonly weak: boolean;
  /** With its quotes. */
  readonly opaque: string;
}

/** `*`, the tags of a list, or undefined for a malformed list. */
export function parseTagList(header: string): "*" | EntityTag[] | undefined {
  if (header.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  let i = 0;
  while (i < header.length) {
    const c = header[i];
    if (c === " " || c === "\t" || c === ",") {
      i++;
      continue;
    }
    const weak = header.startsWith("W/", i);
    const open = weak ? i + 2 : i;
    if (header[open] !== '"') return undefined;
    const close = header.indexOf('"', open + 1);
    if (close < 0) return undefined;
    const opaque = header.slice(open, close + 1);
    for (let k = 1; k < opaque.length - 1; k++) {
      const code = opaque.charCodeAt(k);
      // etagc: %x21 / %x23-7E / obs-text
      if (code < 0x21 || code === 0x7f) return undefined;
    }
    tags.push({ weak, opaque });
    i = close + 1;
    if (i < header.length && header[i] !== "," && header[i] !== " " && header[i] !== "\t") return undefined;
  }
  return tags.length > 0 ? tags : undefined;
}

export type ConditionOutcome =
  /** Go on; a job the request submits carries `precondition` (an If-Match on a version held). */
  | { readonly proceed: true; readonly precondition?: JobPrecondition }
  | { readonly proceed: false };

/**
 * Evaluates the request's If-Match and If-None-Match against the object's current stamp
 * (undefined: it does not exist). Throws the 412; `{proceed: false}` means 304.
 */
export function evaluateConditions(
  headers: IncomingHttpHeaders,
  isRead: boolean,
  stamp: VersionStamp | undefined,
): ConditionOutcome {
  const ifMatch = headers["if-match"];
  let precondition: JobPrecondition | undefined;
  if (ifMatch !== undefined) {
    const list = parseTagList(ifMatch);
    if (!stamp) throw new HttpError(412, "If-Match was sent, but the object the request names does not exist");
    const held = list === "*" || (list !== undefined && list.some((t) => !t.weak && t.opaque === stamp.etag));
    if (!held) throw new HttpError(412, `${stamp.subject} was modified: its version is now ${unquoted(stamp.etag)}, not one If-Match names`);
    // `*` asks only that the object exist; a named version must still be there when the job starts.
    if (list !== "*") precondition = stamp.precondition;
  }
  const ifNoneMatch = headers["if-none-match"];
  if (ifNoneMatch !== undefined && stamp) {
    const list = parseTagList(ifNoneMatch);
    const matched = list === "*" || (list !== undefined && list.some((t) => t.opaque === stamp.etag));
    if (matched) {
      if (isRead) return { proceed: false };
      throw new HttpError(412, `${stamp.subject} is at a version If-None-Match names`);
    }
  }
  return { proceed: true, precondition };
}

const unquoted = (etag: string) => etag.slice(1, -1);

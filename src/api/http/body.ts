// Request bodies under limits, shared by the RAPI and PVC listeners. A route says whether it
// takes a body and how large; a body it does not take is never read. One that it takes must
// arrive in time (a minimum rate, so a trickling client cannot hold a socket and its buffers
// for minutes), fit its size limit (413 from Content-Length, before reading a byte) and fit
// the server-wide budget of bodies being read at once (503), so parallel large bodies cannot
// grow the heap without bound. JSON is checked for nesting depth before it is parsed.

import type { IncomingMessage } from "node:http";
import { HttpError } from "./errors.ts";

/** How a route method takes its body: not at all, or up to maxBytes. */
export interface BodyLimit {
  readonly maxBytes: number;
}
export type BodyRule = "none" | BodyLimit;

/** Ganeti's own limit (its HTTP server answers 413 above 10 MiB). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Most write bodies are a few hundred bytes; the bulk routes declare the larger limit. */
export const DEFAULT_BODY: BodyLimit = { maxBytes: 1024 * 1024 };
export const LARGE_BODY: BodyLimit = { maxBytes: MAX_BODY_BYTES };

/** Deeper JSON is refused at parse time: later code (validation, logging, storage) recurses. */
export const MAX_JSON_DEPTH = 64;

export interface BodyLimits {
  /** Time a body may take beyond what the minimum rate allows for its length. */
  readonly graceMs: number;
  /** The slowest upload accepted, in bytes per second. */
  readonly minBytesPerSecond: number;
  /** Bytes of bodies being read at once, over all requests. */
  readonly budgetBytes: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { graceMs: 10_000, minBytesPerSecond: 64 * 1024, budgetBytes: 64 * 1024 * 1024 };

/** The bytes of request bodies being read now; a request reserves its length before reading. */
export class BodyBudget {
  private used = 0;
  readonly limits: BodyLimits;
  constructor(limits: BodyLimits = DEFAULT_BODY_LIMITS) {
    this.limits = limits;
  }
  reserve(bytes: number): boolean {
    if (this.used + bytes > this.limits.budgetBytes) return false;
    this.used += bytes;
    return true;
  }
  release(bytes: number): void {
    this.used -= bytes;
  }
}

/** False when the headers say there is no body (no length or a zero one, not chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return length === undefined ? req.headers["transfer-encoding"] !== undefined : length !== "0";
}

/**
 * Reads a body the route takes; throws HttpError 413 (too large), 408 (too slow), 501 (a
 * transfer coding other than chunked) or 503 (budget spent). After any of these the
 * connection is closed, since the rest of the body was not read.
 */
export async function readBody(req: IncomingMessage, rule: BodyLimit, budget: BodyBudget): Promise<Buffer> {
  const coding = unsupportedTransferCoding(req);
  if (coding) throw coding;
  const declared = req.headers["content-length"];
  // Node's parser has refused a Content-Length that is not a number.
  const expected = declared === undefined ? rule.maxBytes : Number(declared);
  if (expected > rule.maxBytes) {
    throw closing(req, new HttpError(413, `Request body of ${expected} bytes is larger than the ${rule.maxBytes} bytes this resource accepts`));
  }
  if (!budget.reserve(expected)) {
    throw closing(req, new HttpError(503, "Too many request bodies are being received; try again shortly"));
  }
  try {
    return await receive(req, rule.maxBytes, budget.limits.graceMs + (expected / budget.limits.minBytesPerSecond) * 1000);
  } finally {
    budget.release(expected);
  }
}

/** The 501 (closing the connection) for a transfer coding other than chunked, which no body reader here decodes. */
export function unsupportedTransferCoding(req: IncomingMessage): HttpError | undefined {
  const coding = req.headers["transfer-encoding"];
  if (coding === undefined || coding.trim().toLowerCase() === "chunked") return undefined;
  return closing(req, new HttpError(501, `Transfer-Encoding '${coding}' is not supported`));
}

function receive(req: IncomingMessage, maxBytes: number, deadlineMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: HttpError) => {
      cleanup();
      reject(closing(req, err));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return fail(new HttpError(413, `Request body is larger than the ${maxBytes} bytes this resource accepts`));
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => fail(new HttpError(408, `Request body not received within ${Math.round(deadlineMs / 1000)} s`)), deadlineMs);
    function cleanup() {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    }
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
  });
}

/** Marks the answer to close the connection: the unread rest of the body must not be parsed as a request. */
function closing(req: IncomingMessage, err: HttpError): HttpError {
  req.pause();
  err.headers.Connection = "close";
  return err;
}

/**
 * Parses JSON after checking its nesting depth with a linear scan (brackets outside strings),
 * so a deeply nested value is refused before anything recurses over it.
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text) > maxDepth) throw new HttpError(400, `JSON data nested deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "Unable to parse JSON data");
  }
}

/** The deepest nesting of arrays and objects in a JSON text (not validated: JSON.parse does that). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

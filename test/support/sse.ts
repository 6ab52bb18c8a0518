// Test support (and the bench's listeners): a Server-Sent Events parser that follows the
// HTML spec's EventSource rules (fields, comments, id-only frames, the last event id; lines
// end in LF or CRLF, as Corral writes them), and a client for GET /corral/1/events over a
// real socket with node:http.

import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/** A gzip body decoded as it comes; a connection cut before the trailer is a decode error too. */
function decoded(res: IncomingMessage, onError: (err: Error) => void): Readable {
  const gunzip = createGunzip();
  gunzip.on("error", onError);
  res.pipe(gunzip);
  res.on("close", () => {
    if (!res.complete) gunzip.destroy(new Error("the connection closed before the stream's end"));
  });
  return gunzip;
}

export interface SseEvent {
  /** The `event:` field ("message" when absent). */
  readonly event: string;
  readonly data: string;
  /** The stream's last event id when this event was dispatched. */
  readonly lastEventId: string;
}

/** Parses a stream of text into events, chunk by chunk (a chunk may end mid-line). */
export class SseParser {
  /** What an EventSource would send as Last-Event-ID on reconnect. */
  lastEventId = "";
  private pending = "";
  private data: string[] = [];
  private type = "";
  private idBuffer: string | undefined;

  feed(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    const text = this.pending + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      const line = text.slice(start, text[nl - 1] === "\r" ? nl - 1 : nl);
      start = nl + 1;
      const event = this.line(line);
      if (event) out.push(event);
    }
    this.pending = text.slice(start);
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.idBuffer = value;
    return undefined;
  }

  /** A blank line: the id takes effect even without data; an event needs data. */
  private dispatch(): SseEvent | undefined {
    if (this.idBuffer !== undefined) this.lastEventId = this.idBuffer;
    this.idBuffer = undefined;
    const data = this.data;
    const type = this.type;
    this.data = [];
    this.type = "";
    if (data.length === 0) return undefined;
    return { event: type || "message", data: data.join("\n"), lastEventId: this.lastEventId };
  }
}

export interface EventStreamOptions {
  port: number;
  /** Path and query, default /corral/1/events. */
  path?: string;
  /** "user:password" for Basic authentication. */
  auth?: string;
  headers?: Record<string, string>;
  /** Ask for the stream in gzip (Accept-Encoding), as browsers do, and decode it. */
  gzip?: boolean;
}

/** One connection to the event stream, collecting what it receives. */
export class EventStreamClient {
  readonly events: SseEvent[] = [];
  readonly parser = new SseParser();
  /** Status and headers, once they arrive. */
  readonly response: Promise<{ status: number; headers: IncomingHttpHeaders }>;
  /** Resolves when the server ends the stream or the connection closes. */
  readonly ended: Promise<void>;
  /** The body of a refusal (a status other than 200). */
  body = "";
  /** Set when a gzip stream did not decode (bad data, or its trailer missing at the end). */
  decodeError: Error | undefined;
  private closed = false;
  /** The decoded body, which pause() and resume() act on. */
  private stream: Readable | undefined;
  private readonly req: ClientRequest;
  private readonly waiters = new Set<() => void>();

  constructor(o: EventStreamOptions) {
    const headers: Record<string, string> = { Accept: "text/event-stream", ...(o.gzip ? { "Accept-Encoding": "gzip" } : {}), ...o.headers };
    if (o.auth) headers.Authorization = `Basic ${Buffer.from(o.auth).toString("base64")}`;
    const response = Promise.withResolvers<{ status: number; headers: IncomingHttpHeaders }>();
    const ended = Promise.withResolvers<void>();
    this.response = response.promise;
    this.ended = ended.promise;
    const finish = () => {
      this.closed = true;
      ended.resolve();
      this.wake();
    };
    const options = { host: "127.0.0.1", port: o.port, method: "GET", path: o.path ?? "/corral/1/events", headers, agent: false, rejectUnauthorized: false };
    this.req = request(options, (res) => {
      const stream = res.headers["content-encoding"] === "gzip" ? decoded(res, (err) => (this.decodeError = err)) : res;
      this.stream = stream;
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => this.receive(res.statusCode ?? 0, chunk));
      stream.on("close", finish);
      response.resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    this.req.on("error", (err) => {
      response.reject(err);
      finish();
    });
    this.req.end();
  }

  /** The first event received that matches (waiting for it), or an error after the timeout or the stream's end. */
  async waitFor(match: (e: SseEvent) => boolean, what: string, timeoutMs = 20_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
        const last = this.events.slice(-5).map((e) => `${e.event} ${e.data}`).join(" | ");
        throw new Error(`no event ${what} ${this.closed ? "before the stream ended" : `within ${timeoutMs} ms`}; got ${this.events.length}, the last: ${last}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops reading: the server's writes pile up in the socket (a slow consumer). */
  pause(): void {
    this.stream?.pause();
  }

  /** Reads again after pause(). */
  resume(): void {
    this.stream?.resume();
  }

  close(): void {
    this.req.destroy();
  }

  /** The parsed data of every event of `kind` so far. */
  data<T>(kind: string): T[] {
    return this.events.filter((e) => e.event === kind).map((e) => JSON.parse(e.data) as T);
  }

  private receive(status: number, chunk: string): void {
    if (status !== 200) {
      this.body += chunk;
      return;
    }
    const events = this.parser.feed(chunk);
    if (events.length === 0) return;
    this.events.push(...events);
    this.wake();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

// A small keep-alive HTTP(S) client for the bench drivers (job measures, probes, single
// timed requests). Loopback only; certificates are self-signed, so they are not verified.

import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, createSecureContext, type SecureContext } from "node:tls";

export interface Target {
  /** "https://127.0.0.1:15080" */
  readonly base: string;
  /** user:password for Basic auth, or undefined. */
  readonly auth?: string;
}

export interface Reply {
  status: number;
  text: string;
  bytes: number;
}

/** What the job measures need of a client. */
export interface JsonClient {
  /** A request that must answer 200 with JSON. */
  json(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

function checkLoopback(url: URL): void {
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname) && !url.hostname.startsWith("127.")) {
    throw new Error(`the bench talks to loopback addresses only, not ${url.hostname}`);
  }
}

/** An Authorization header line for `user:password`. */
export const basicAuthLine = (credentials: string) => `Authorization: Basic ${Buffer.from(credentials).toString("base64")}\r\n`;

function parseJsonReply(method: string, path: string, r: Reply): unknown {
  if (r.status !== 200) throw new Error(`${method} ${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text) as unknown;
}

export class Client implements JsonClient {
  readonly target: Target;
  private readonly url: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly authHeader: string | undefined;

  constructor(target: Target, maxSockets = 8) {
    this.target = target;
    this.url = new URL(target.base);
    checkLoopback(this.url);
    const opts = { keepAlive: true, maxSockets };
    this.agent = this.url.protocol === "https:" ? new HttpsAgent({ ...opts, rejectUnauthorized: false }) : new HttpAgent(opts);
    this.authHeader = target.auth ? "Basic " + Buffer.from(target.auth).toString("base64") : undefined;
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (this.authHeader) headers.Authorization = this.authHeader;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const send = this.url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        {
          host: this.url.hostname,
          port: this.url.port,
          method,
          path,
          headers,
          agent: this.agent,
          rejectUnauthorized: false,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const buf = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, text: buf.toString("utf8"), bytes: buf.length });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${path}`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** A request that must answer 200 with JSON. */
  async json(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
    return parseJsonReply(method, path, await this.request(method, path, body, timeoutMs));
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * One client of the job measures on one keep-alive HTTP/1.1 connection (TLS for https
 * targets, a full handshake on the first request, as a new client makes): one request at a
 * time, each written as one string, the answer read by Content-Length, chunks or the end of
 * the connection. It sends the same requests as `Client` with a fraction of the work: with
 * node:https's Agent and ClientRequest the bench process spent more CPU on a tag-job burst
 * than the server did, on the same two cores. A connection the server closes (Connection:
 * close, idle timeout) is opened again for the next request.
 */
export class Connection implements JsonClient {
  private readonly url: URL;
  private readonly host: string;
  private readonly auth: string;
  private readonly context: SecureContext | undefined;
  private socket: Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private reuse = true;
  private pending: { resolve: (r: Reply) => void; reject: (e: Error) => void; untilClose: boolean } | undefined;

  constructor(target: Target) {
    this.url = new URL(target.base);
    checkLoopback(this.url);
    this.host = `Host: ${this.url.host}\r\n`;
    this.auth = target.auth ? basicAuthLine(target.auth) : "";
    this.context = this.url.protocol === "https:" ? createSecureContext({ minVersion: "TLSv1.2" }) : undefined;
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<Reply> {
    const payload = body === undefined ? "" : JSON.stringify(body);
    const type = payload ? "Content-Type: application/json\r\n" : "";
    return this.send(method, path, `${this.auth}${type}Content-Length: ${Buffer.byteLength(payload)}\r\n`, payload, timeoutMs);
  }

  /**
   * A request as given: `headers` are whole header lines (Host is added), Content-Length
   * included, and may declare more bytes than `payload` has (the hostile run's oversized
   * lengths); the connection is then not reused, since the server may still wait for them.
   */
  raw(method: string, path: string, headers: string, payload: string, timeoutMs: number): Promise<Reply> {
    const declared = /^content-length:\s*(\d+)/im.exec(headers);
    const reply = this.send(method, path, headers, payload, timeoutMs);
    if (declared && Number(declared[1]) !== Buffer.byteLength(payload)) this.reuse = false;
    return reply;
  }

  private send(method: string, path: string, headers: string, payload: string, timeoutMs: number): Promise<Reply> {
    if (this.pending) return Promise.reject(new Error("one request at a time on a Connection"));
    if (!this.socket || !this.reuse) this.open();
    const socket = this.socket!;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`timeout after ${timeoutMs} ms: ${method} ${path}`));
        socket.destroy();
      }, timeoutMs);
      this.pending = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
        untilClose: false,
      };
      socket.write(`${method} ${path} HTTP/1.1\r\n${this.host}${headers}\r\n${payload}`);
    });
  }

  async json(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
    return parseJsonReply(method, path, await this.request(method, path, body, timeoutMs));
  }

  /** Closes the connection; a request still waiting for its answer fails. */
  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.fail(new Error("connection closed by the client"));
  }

  private open(): void {
    this.close();
    this.buffer = Buffer.alloc(0);
    this.reuse = true;
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(this.url.port || (this.url.protocol === "https:" ? 443 : 80));
    const socket = this.context ? tlsConnect({ host, port, secureContext: this.context, rejectUnauthorized: false }) : netConnect({ host, port });
    socket.setNoDelay(true);
    // A connection given up for a new one says nothing more.
    socket.on("data", (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.parse(false);
    });
    socket.on("error", (err) => {
      if (this.socket === socket) this.fail(err);
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.pending?.untilClose) this.parse(true);
      this.fail(new Error("the server closed the connection"));
    });
    this.socket = socket;
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }

  /** Completes the pending request once its whole answer is in the buffer. */
  private parse(closed: boolean): void {
    const p = this.pending;
    const buf = this.buffer;
    const end = buf.indexOf("\r\n\r\n");
    if (!p || end < 0) return;
    const lines = buf.toString("latin1", 0, end).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    let length = -1;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.includes("chunked");
      else if (name === "connection" && value === "close") this.reuse = false;
    }
    if (lines[0].startsWith("HTTP/1.0")) this.reuse = false;
    let body: Buffer;
    let rest: Buffer;
    if (chunked) {
      const parts: Buffer[] = [];
      let pos = end + 4;
      for (;;) {
        const eol = buf.indexOf("\r\n", pos);
        if (eol < 0) return;
        const size = parseInt(buf.toString("latin1", pos, eol), 16);
        if (buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          const trailerEnd = buf.indexOf("\r\n\r\n", eol);
          if (trailerEnd < 0) return;
          pos = trailerEnd + 4;
          break;
        }
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        pos = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      rest = buf.subarray(pos);
    } else if (length >= 0) {
      if (buf.length < end + 4 + length) return;
      body = buf.subarray(end + 4, end + 4 + length);
      rest = buf.subarray(end + 4 + length);
    } else {
      // No length: the answer ends with the connection.
      this.reuse = false;
      p.untilClose = true;
      if (!closed) return;
      body = buf.subarray(end + 4);
      rest = Buffer.alloc(0);
    }
    this.buffer = rest;
    this.pending = undefined;
    p.resolve({ status, text: body.toString("utf8"), bytes: body.length });
  }
}

/** Whether anything answers GET /version at the base URL within the timeout. */
export async function reachable(target: Target, timeoutMs = 3000): Promise<boolean> {
  const c = new Client(target, 1);
  try {
    const r = await c.request("GET", "/version", undefined, timeoutMs);
    return r.status === 200;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// A small keep-alive HTTP(S) client for the bench drivers (job measures, probes, single
// timed requests). Loopback only; certificates are self-signed, so they are not verified.

import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

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

export class Client {
  readonly target: Target;
  private readonly url: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly authHeader: string | undefined;

  constructor(target: Target, maxSockets = 8) {
    this.target = target;
    this.url = new URL(target.base);
    if (!["127.0.0.1", "localhost", "[::1]"].includes(this.url.hostname) && !this.url.hostname.startsWith("127.")) {
      throw new Error(`the bench talks to loopback addresses only, not ${this.url.hostname}`);
    }
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
    const r = await this.request(method, path, body, timeoutMs);
    if (r.status !== 200) throw new Error(`${method} ${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text) as unknown;
  }

  close(): void {
    this.agent.destroy();
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

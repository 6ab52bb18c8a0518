// A small RAPI client for the `corral` admin commands and tests: JSON requests with Basic
// authentication (or a Corral API token) over HTTPS (verifying the master's certificate against a given CA file,
// or not at all when asked) or plain HTTP, and job following through /2/jobs/N/wait.

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface RapiClientOptions {
  /** "https://host:5080" (or http:// for a master started with --no-ssl). */
  url: string;
  user?: string;
  password?: string;
  /** A Corral API token, sent as `Authorization: Bearer`, instead of a user and password. */
  token?: string;
  /** PEM certificates to trust (e.g. the master's rapi.pem); default: the system's CAs. */
  ca?: string;
  /** Accept any certificate (like Ganeti's own client, which does not check). */
  insecure?: boolean;
  timeoutMs?: number;
}

/** A non-200 answer, with Ganeti's error body fields when the server sent them. */
export class RapiError extends Error {
  readonly code: number;
  readonly explain: string;
  constructor(code: number, message: string, explain = "") {
    super(message);
    this.code = code;
    this.explain = explain;
  }
}

export type JobStatus = "queued" | "waiting" | "canceling" | "running" | "canceled" | "success" | "error";
const FINALIZED: readonly string[] = ["canceled", "success", "error"];

/** One job log entry: [serial, [sec, usec], type, message]. */
export type JobLogEntry = [number, [number, number], string, unknown];

/** Only the PEM certificate blocks of a file (rapi.pem also holds the private key). */
export function certificatesOf(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error("no PEM certificate found");
  return blocks.join("\n") + "\n";
}

/** Python's html.escape undone: RAPI error messages arrive escaped. */
function htmlUnescape(s: string): string {
  return s
    .replace(/&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

export class RapiClient {
  private readonly base: URL;
  private readonly opts: RapiClientOptions;

  constructor(opts: RapiClientOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:") {
      throw new Error(`RAPI URL must start with https:// or http://, not '${opts.url}'`);
    }
    this.opts = opts;
  }

  get url(): string {
    return this.base.origin;
  }

  /** Sends one request; resolves with the parsed JSON answer or rejects with a RapiError. */
  request(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": "Corral RAPI client" };
    if (this.opts.token !== undefined) headers.Authorization = `Bearer ${this.opts.token}`;
    else if (this.opts.user !== undefined) {
      headers.Authorization = "Basic " + Buffer.from(`${this.opts.user}:${this.opts.password ?? ""}`).toString("base64");
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const tls = this.base.protocol === "https:";
    const send = tls ? httpsRequest : httpRequest;
    const target = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = send(
        target,
        {
          method,
          headers,
          timeout: this.opts.timeoutMs ?? 60_000,
          ...(tls ? { ca: this.opts.ca, rejectUnauthorized: !this.opts.insecure } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = text.trim() === "" ? null : JSON.parse(text);
            } catch {
              return reject(new RapiError(res.statusCode ?? 0, `invalid JSON from ${method} ${path}: ${text.slice(0, 200)}`));
            }
            if (res.statusCode === 200) return resolve(json);
            const err = json as { code?: number; message?: string; explain?: string } | null;
            const message = typeof err?.message === "string" ? htmlUnescape(err.message) : text.trim();
            reject(new RapiError(res.statusCode ?? 0, message, err?.explain ?? ""));
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`timed out: ${method} ${target.pathname}`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /**
   * Follows a job until it is finalized, handing each new log entry to `onLog`, and
   * resolves with the job (GET /2/jobs/N). Needs a user with write access (the wait resource).
   */
  async waitForJob(id: number, onLog: (entry: JobLogEntry) => void = () => undefined, timeoutMs = 3_600_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let info: unknown[] | null = null;
    let serial: number | null = null;
    for (;;) {
      const change = (await this.request("GET", `/2/jobs/${id}/wait`, {
        fields: ["status"],
        previous_job_info: info,
        previous_log_serial: serial,
      })) as { job_info: unknown[]; log_entries: JobLogEntry[] } | null;
      if (change) {
        for (const entry of change.log_entries) {
          onLog(entry);
          serial = Math.max(serial ?? 0, entry[0]);
        }
        info = change.job_info;
        if (FINALIZED.includes(String(info[0])) && change.log_entries.length === 0) break;
      }
      if (Date.now() > deadline) throw new Error(`job ${id} did not finish within ${timeoutMs / 1000} s`);
    }
    return (await this.request("GET", `/2/jobs/${id}`)) as Record<string, unknown>;
  }
}

/** The error a failed job's results hold: Ganeti's [class, [message, ecode, …]], the first one. */
export function jobError(job: Record<string, unknown>): { cls: string; message: string; ecode?: string } | null {
  const results = Array.isArray(job.opresult) ? job.opresult : [];
  for (const r of results) {
    if (Array.isArray(r) && r.length === 2 && typeof r[0] === "string" && Array.isArray(r[1])) {
      const [msg, ecode] = r[1] as unknown[];
      return { cls: r[0], message: String(msg), ...(typeof ecode === "string" ? { ecode } : {}) };
    }
  }
  return null;
}

/** The error a failed job reports, as "OpPrereqError: message (ecode)". */
export function jobErrorText(job: Record<string, unknown>): string {
  const e = jobError(job);
  if (!e) return `job ${String(job.id)} ended with status ${String(job.status)}`;
  return `${e.cls}: ${e.message}${e.ecode !== undefined ? ` (${e.ecode})` : ""}`;
}

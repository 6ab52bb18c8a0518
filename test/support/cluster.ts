// Test support: a Corral master in this process on an ephemeral loopback port, with a
// users file holding the same users as the golden captures, and a small HTTP client.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { ha1Password } from "../../src/api/http/users.ts";
import { startMaster, type Master, type MasterOptions } from "../../src/master/master.ts";

import { USERS } from "./secrets.ts";

export { USERS };
export type UserName = keyof typeof USERS;

export function usersFileText(): string {
  return [
    "# test users, as the golden captures' cluster has them",
    "reader readerpass read",
    `writer ${ha1Password("writer", "writerpass")} write`,
    "admin {CLEARTEXT}adminpass write,read",
    "nobody nobodypass",
    "",
  ].join("\n");
}

export interface TestMaster {
  master: Master;
  dataDir: string;
  usersFile: string;
  ssl: boolean;
  /** Closes the master and starts it again on its data directory, with the same options (a new port). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestMaster(opts: Partial<MasterOptions> = {}): Promise<TestMaster> {
  const dataDir = mkdtempSync(join(tmpdir(), "corral-test-"));
  const usersFile = join(dataDir, "users");
  writeFileSync(usersFile, usersFileText());
  const options: MasterOptions = {
    dataDir,
    port: 0,
    bind: "127.0.0.1",
    ssl: false,
    usersFile,
    requireAuthentication: false,
    maxClients: 20,
    clusterName: "cluster.corral.test",
    nodeName: "node1.corral.test",
    log: () => undefined,
    announce: () => undefined,
    ...opts,
  };
  const t: TestMaster = {
    master: await startMaster(options),
    dataDir,
    usersFile,
    ssl: opts.ssl ?? false,
    async restart() {
      await t.master.close();
      t.master = await startMaster(options);
    },
    async close() {
      await t.master.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

export interface CallOptions {
  user?: UserName | { name: string; password: string };
  body?: unknown;
  /** Raw body bytes (no JSON encoding). */
  rawBody?: string;
  contentType?: string | null;
  headers?: Record<string, string>;
}

export function call(
  port: number,
  method: string,
  path: string,
  o: CallOptions = {},
  ssl = false,
): Promise<Reply> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.user) {
    const [name, password] = typeof o.user === "string" ? [o.user, USERS[o.user]] : [o.user.name, o.user.password];
    headers.Authorization = "Basic " + Buffer.from(`${name}:${password}`).toString("base64");
  }
  const payload = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  if (payload !== undefined) {
    if (o.contentType !== null) headers["Content-Type"] = o.contentType ?? "application/json";
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  }
  const request = ssl ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path, headers, rejectUnauthorized: false, agent: false, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text === "" ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Polls a job until it is finalized (bounded). */
export async function waitJob(port: number, id: number, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(port, "GET", `/2/jobs/${id}`);
    const job = r.json as Record<string, unknown>;
    if (["success", "error", "canceled"].includes(job.status as string)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(job.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Submits a job-creating request (as "writer" unless told) and waits for the job to finish. */
export async function runJob(port: number, method: string, path: string, body?: unknown, user: UserName = "writer"): Promise<Record<string, unknown>> {
  const r = await call(port, method, path, { user, body });
  if (r.status !== 200 || typeof r.json !== "number") throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return waitJob(port, r.json);
}

/** A master for the enclosing suite: started before its tests, closed after them. */
export function suiteMaster(opts: Partial<MasterOptions> = {}): { readonly t: TestMaster; readonly port: number } {
  let t: TestMaster | undefined;
  before(async () => {
    t = await startTestMaster(opts);
  });
  after(() => t?.close());
  return {
    get t() {
      if (!t) throw new Error("the suite's master is not running");
      return t;
    },
    get port() {
      return this.t.master.port;
    },
  };
}

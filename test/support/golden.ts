// The Ganeti 3.0.2 captures in shared/golden: reading one, and replaying its request
// against Corral with the same credentials, body and Content-Type.

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { call, type CallOptions, type Reply } from "./cluster.ts";

export const GOLDEN_DIR = fileURLToPath(new URL("../../../shared/golden/ganeti-3.0/", import.meta.url));
export const haveGolden = existsSync(GOLDEN_DIR);
// CI runs with shared/ beside the clone: a missing capture directory there is a broken set-up,
// not a reason to skip the comparisons with real Ganeti.
if (!haveGolden && process.env.CI === "true") throw new Error(`the Ganeti captures are missing: ${GOLDEN_DIR} (CI=true)`);

export interface Exchange {
  request: { method: string; url: string; user: string | null; body_raw: string | null; headers: Record<string, string> };
  response: { status: number; body_json: unknown; headers: [string, string][] };
}

export function golden(file: string): Exchange {
  return JSON.parse(readFileSync(GOLDEN_DIR + file, "utf8")) as Exchange;
}

/** The job object a capture of GET /2/jobs/N holds. */
export function goldenJob(file: string): Record<string, unknown> {
  return golden(file).response.body_json as Record<string, unknown>;
}

/** Replays a captured request against Corral. */
export async function replay(port: number, ex: Exchange, urlOverride?: string): Promise<Reply> {
  const o: CallOptions = {};
  // The capture records credentials as "Basic <user:password>".
  const auth = /^Basic <([^:]*):(.*)>$/.exec(ex.request.headers.Authorization ?? "");
  if (auth) o.user = { name: auth[1], password: auth[2] };
  if (ex.request.body_raw !== null) {
    o.rawBody = ex.request.body_raw;
    const ct = Object.entries(ex.request.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
    o.contentType = ct ?? null;
  }
  return call(port, ex.request.method, urlOverride ?? ex.request.url, o);
}

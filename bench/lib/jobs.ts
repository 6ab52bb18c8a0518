// The job measures, a small Node driver over RAPI (the same requests against Corral and
// Ganeti): tag jobs (PUT /2/tags?tag=...) submitted by several clients at once, and one job
// at a time on an idle master. A job is done when /2/jobs/N/wait reports a final status —
// the long poll every Ganeti client uses — so completion is seen without polling delay.

import { Client, Connection, type JsonClient, type Target } from "./http.ts";
import { percentiles, type Percentiles } from "./stats.ts";

const FINAL = new Set(["success", "error", "canceled"]);

/**
 * How the timed clients talk HTTP: "lean" (default) one hand-written keep-alive connection
 * each (`Connection`), "node" node:https's Agent (`Client`, as the bench did before): the
 * same requests, but the bench process then spends more CPU per burst than the server.
 */
export type JobClientKind = "lean" | "node";

function jobClient(target: Target, kind: JobClientKind = "lean"): JsonClient {
  return kind === "node" ? new Client(target, 1) : new Connection(target);
}

/** Waits until the job is final (bounded by `deadline`, epoch ms); returns its status. */
export async function waitJob(c: JsonClient, id: number, deadline: number): Promise<string> {
  let prev: unknown[] | null = null;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`job ${id} not finished in time (last: ${JSON.stringify(prev)})`);
    const r = (await c.json("GET", `/2/jobs/${id}/wait`, {
      fields: ["status"],
      previous_job_info: prev,
      previous_log_serial: null,
    })) as { job_info: unknown[] } | null;
    if (r === null) continue; // no change within the server's wait timeout
    const status = String(r.job_info[0]);
    if (FINAL.has(status)) return status;
    prev = r.job_info;
  }
}

async function submitTag(c: JsonClient, tag: string): Promise<number> {
  const id = await c.json("PUT", `/2/tags?tag=${encodeURIComponent(tag)}`);
  if (typeof id !== "number" && typeof id !== "string") throw new Error(`PUT /2/tags answered ${JSON.stringify(id)}, not a job id`);
  return Number(id);
}

export interface BurstResult {
  jobs: number;
  clients: number;
  /** First submit sent → last job seen final. */
  span_s: number;
  jobs_per_s: number;
  /** Submit sent → job seen final by its client, ms. */
  latency_ms: Percentiles;
  /** Submit sent → job id returned, ms. */
  submit_ms: Percentiles;
  /** The server's own received_ts → end_ts, ms. */
  server_latency_ms: Percentiles;
  statuses: Record<string, number>;
  /** Ids the server acknowledged (for the durability check). */
  job_ids: number[];
}

/**
 * `jobs` tag jobs from `clients` clients: every client submits its share back to back
 * (each submit waits for its answer), then waits for its jobs in order.
 */
export async function tagBurst(target: Target, o: { jobs: number; clients: number; tagPrefix: string; timeoutS: number; client?: JobClientKind }): Promise<BurstResult> {
  const deadline = Date.now() + o.timeoutS * 1000;
  const shares = Array.from({ length: o.clients }, (_, k) => Math.floor(o.jobs / o.clients) + (k < o.jobs % o.clients ? 1 : 0));
  const t0 = performance.now();
  const perClient = await Promise.all(
    shares.map(async (share, k) => {
      const c = jobClient(target, o.client);
      try {
        const sent: { id: number; t: number; acked: number }[] = [];
        for (let j = 0; j < share; j++) {
          const t = performance.now();
          const id = await submitTag(c, `${o.tagPrefix}${k}`);
          sent.push({ id, t, acked: performance.now() });
        }
        const done: { id: number; status: string; submit: number; latency: number; end: number }[] = [];
        for (const s of sent) {
          const status = await waitJob(c, s.id, deadline);
          const end = performance.now();
          done.push({ id: s.id, status, submit: s.acked - s.t, latency: end - s.t, end });
        }
        return done;
      } finally {
        c.close();
      }
    }),
  );
  const all = perClient.flat();
  const span = (Math.max(...all.map((d) => d.end)) - t0) / 1000;
  const statuses: Record<string, number> = {};
  for (const d of all) statuses[d.status] = (statuses[d.status] ?? 0) + 1;
  return {
    jobs: all.length,
    clients: o.clients,
    span_s: round(span, 4),
    jobs_per_s: round(all.length / span, 1),
    latency_ms: percentiles(all.map((d) => d.latency)),
    submit_ms: percentiles(all.map((d) => d.submit)),
    server_latency_ms: await serverLatencies(target, all.map((d) => d.id)),
    statuses,
    job_ids: all.map((d) => d.id).sort((a, b) => a - b),
  };
}

export interface SingleResult {
  jobs: number;
  /** Submit sent → job seen final, ms, one job at a time on an otherwise idle master. */
  latency_ms: Percentiles;
  submit_ms: Percentiles;
  server_latency_ms: Percentiles;
  statuses: Record<string, number>;
  job_ids: number[];
}

/** `jobs` tag jobs one after another; `warmup` more before them, not counted. */
export async function singleJobs(target: Target, o: { jobs: number; warmup: number; tag: string; timeoutS: number; client?: JobClientKind }): Promise<SingleResult> {
  const deadline = Date.now() + o.timeoutS * 1000;
  const c = jobClient(target, o.client);
  const lat: number[] = [];
  const sub: number[] = [];
  const ids: number[] = [];
  const statuses: Record<string, number> = {};
  try {
    for (let i = 0; i < o.warmup + o.jobs; i++) {
      const t = performance.now();
      const id = await submitTag(c, o.tag);
      const acked = performance.now();
      const status = await waitJob(c, id, deadline);
      const end = performance.now();
      if (i < o.warmup) continue;
      lat.push(end - t);
      sub.push(acked - t);
      ids.push(id);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  } finally {
    c.close();
  }
  return {
    jobs: ids.length,
    latency_ms: percentiles(lat),
    submit_ms: percentiles(sub),
    server_latency_ms: await serverLatencies(target, ids),
    statuses,
    job_ids: ids,
  };
}

export interface BurstSeries {
  /** The median run (by jobs/s) of the measured bursts. */
  median: BurstResult;
  /** The first burst after the master started (cold code paths), not counted in the median. */
  first: BurstResult;
  /** jobs/s of every measured burst, in order. */
  runs_jobs_per_s: number[];
  /** Every job id acknowledged in the series (first burst included). */
  job_ids: number[];
}

/** One unmeasured burst, then `repeats` measured ones; the median of those is the result. */
export async function tagBurstSeries(target: Target, o: { jobs: number; clients: number; tagPrefix: string; timeoutS: number; repeats: number; client?: JobClientKind }): Promise<BurstSeries> {
  const first = await tagBurst(target, o);
  const runs: BurstResult[] = [];
  for (let i = 0; i < o.repeats; i++) runs.push(await tagBurst(target, o));
  const byRate = [...runs].sort((a, b) => a.jobs_per_s - b.jobs_per_s);
  return {
    median: byRate[Math.floor((byRate.length - 1) / 2)] ?? first,
    first,
    runs_jobs_per_s: runs.map((r) => r.jobs_per_s),
    job_ids: [first, ...runs].flatMap((r) => r.job_ids),
  };
}

/** Ganeti's received_ts → end_ts of each job, as the server recorded them. */
async function serverLatencies(target: Target, ids: number[]): Promise<Percentiles> {
  const c = new Client(target, 4);
  const ts = (v: unknown) => (Array.isArray(v) ? Number(v[0]) * 1000 + Number(v[1]) / 1000 : NaN);
  try {
    const out: number[] = [];
    for (let i = 0; i < ids.length; i += 8) {
      const jobs = await Promise.all(ids.slice(i, i + 8).map((id) => c.json("GET", `/2/jobs/${id}`) as Promise<Record<string, unknown>>));
      for (const j of jobs) out.push(ts(j.end_ts) - ts(j.received_ts));
    }
    return percentiles(out.filter((x) => Number.isFinite(x)));
  } finally {
    c.close();
  }
}

/** Removes the bench's tags from the cluster again (one job). */
export async function removeTags(target: Target, tags: string[]): Promise<void> {
  if (tags.length === 0) return;
  const c = new Client(target, 1);
  try {
    const present = new Set((await c.json("GET", "/2/tags")) as string[]);
    const drop = tags.filter((t) => present.has(t));
    if (drop.length === 0) return;
    const id = Number(await c.json("DELETE", `/2/tags?${drop.map((t) => `tag=${encodeURIComponent(t)}`).join("&")}`));
    await waitJob(c, id, Date.now() + 120_000);
  } finally {
    c.close();
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

// The master's Prometheus metrics (GET /metrics): one prom-client registry of its own (never
// the library's global one) holding the job and durable-log families, counted as things
// happen, the process metrics, and the node and instance gauges, computed at scrape time from
// the config snapshot and the live view through the query layer's own field declarations
// (what /2/nodes and /2/instances answer); plus the HTTP families of http.ts, kept by hand
// because they are counted on every request.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { calcJobStatus, FINALIZED, type Job } from "../model/job.ts";
import type { LiveState } from "../query/live.ts";
import { nodeAnswered } from "../query/live.ts";
import { runQuery } from "../query/query.ts";
import { RequestFamilies } from "./http.ts";
import type { ConfigStore } from "../store/store.ts";

/** The label of a request that matched no route: one series, whatever the path. */
export const UNMATCHED_ROUTE = "unmatched";

/** What the scrape-time gauges read. */
export interface MetricsSources {
  store: Pick<ConfigStore, "snapshot">;
  live: LiveState;
  /** The jobs in memory (the active queue). */
  jobs: () => Iterable<Job>;
}

/** Buckets: job durations (s), commit latencies (s), writes per batch. */
const JOB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

const MIB = 2 ** 20;
const tsSeconds = (ts: [number, number]) => ts[0] + ts[1] / 1e6;

export class MasterMetrics {
  readonly registry = new Registry();
  private readonly jobsSubmitted: Counter<"opcode">;
  private readonly jobsFinished: Counter<"opcode" | "status">;
  private readonly jobDuration: Histogram<"opcode" | "status">;
  private readonly commitBatch: Histogram;
  private readonly commitSeconds: Histogram;
  private readonly http = new RequestFamilies();
  /** Jobs seen unfinished: a job counts as finished once, when it leaves this set. */
  private readonly open = new Set<number>();
  /** Scrapes so far: the gauges of one scrape share one query of the nodes and one of the instances. */
  private scrapes = 0;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "corral_" });
    this.jobsSubmitted = new Counter({ name: "corral_jobs_submitted_total", help: "Jobs submitted, by their first opcode", labelNames: ["opcode"], registers });
    this.jobsFinished = new Counter({ name: "corral_jobs_finished_total", help: "Jobs finished, by their first opcode and final status", labelNames: ["opcode", "status"], registers });
    this.jobDuration = new Histogram({ name: "corral_job_duration_seconds", help: "Job received → ended, by first opcode and final status", labelNames: ["opcode", "status"], buckets: JOB_BUCKETS, registers });
    this.commitBatch = new Histogram({ name: "corral_durable_log_batch_writes", help: "Writes (config rows, job states) per group-committed transaction", buckets: BATCH_BUCKETS, registers });
    this.commitSeconds = new Histogram({ name: "corral_durable_log_commit_seconds", help: "A batch sent to the writer thread → durable", buckets: COMMIT_BUCKETS, registers });
    scrapeTimeGauges(registers, sources, () => this.scrapes);
  }

  /** One answered request; `route` is the matched pattern (undefined: none matched). */
  request(route: string | undefined, method: string, code: number, seconds: number): void {
    this.http.observe(route ?? UNMATCHED_ROUTE, method, code, seconds);
  }

  /** The job queue's follower (JobQueue.follow): counts submissions and ends. */
  readonly jobs = {
    submitted: (job: Job): void => {
      this.jobsSubmitted.inc({ opcode: opcodeOf(job) });
      this.open.add(job.id);
      // A job a filter rule rejected is canceled before it is ever changed.
      this.jobs.changed(job);
    },
    changed: (job: Job): void => {
      if (!this.open.has(job.id)) return;
      const status = calcJobStatus(job);
      if (!FINALIZED.has(status)) return;
      this.open.delete(job.id);
      const labels = { opcode: opcodeOf(job), status };
      this.jobsFinished.inc(labels);
      if (job.end_ts && job.received_ts) this.jobDuration.observe(labels, Math.max(0, tsSeconds(job.end_ts) - tsSeconds(job.received_ts)));
    },
  };

  /** The durable log's observer: one committed batch. */
  committed(writes: number, seconds: number): void {
    this.commitBatch.observe(writes);
    this.commitSeconds.observe(seconds);
  }

  /** The exposition, in Prometheus' text format. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    this.scrapes++;
    const registered = await this.registry.metrics();
    return { contentType: this.registry.contentType, text: `${registered}\n${this.http.text()}` };
  }
}

function opcodeOf(job: Job): string {
  return job.ops[0]?.input.OP_ID ?? "none";
}

/** Gauges whose values are read when Prometheus scrapes, not kept up to date on every change. */
function scrapeTimeGauges(registers: Registry[], s: MetricsSources, scrapeId: () => number): void {
  new Gauge({
    name: "corral_job_queue_depth", help: "Jobs not yet running: queued, or waiting for locks or dependencies", labelNames: ["status"], registers,
    collect() {
      const counts = { queued: 0, waiting: 0 };
      for (const job of s.jobs()) {
        const status = calcJobStatus(job);
        if (status === "queued" || status === "waiting") counts[status]++;
      }
      for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: "corral_jobs_running", help: "Jobs running now", registers,
    collect() {
      let running = 0;
      for (const job of s.jobs()) if (calcJobStatus(job) === "running") running++;
      this.set(running);
    },
  });

  // The node gauges share one query per scrape; the first gauge collected runs it.
  let nodeRows: { scrape: number; rows: unknown[][] } | undefined;
  const nodes = () => {
    const scrape = scrapeId();
    if (nodeRows?.scrape !== scrape) {
      const snap = s.store.snapshot();
      const rows = runQuery("node", ["name", "uuid", "mtotal", "mfree", "pinst_cnt", "sinst_cnt"], null, { snap, live: s.live }).data;
      nodeRows = { scrape, rows: rows.map((r) => r.map(([status, value]) => (status === 0 ? value : undefined))) };
    }
    return nodeRows.rows;
  };
  new Gauge({
    name: "corral_node_up", help: "1 when the node's agent answered the master's last call, else 0 (offline nodes are never asked)", labelNames: ["node"], registers,
    collect() {
      this.reset();
      for (const [name, uuid] of nodes()) this.set({ node: String(name) }, nodeAnswered(s.live, String(uuid)) ? 1 : 0);
    },
  });
  const memory = (name: string, help: string, column: number) => new Gauge({
    name, help, labelNames: ["node"], registers,
    collect() {
      this.reset();
      for (const row of nodes()) if (typeof row[column] === "number") this.set({ node: String(row[0]) }, (row[column] as number) * MIB);
    },
  });
  memory("corral_node_memory_total_bytes", "The node's memory, as its agent last reported it", 2);
  memory("corral_node_memory_free_bytes", "Memory free for instances on the node, as its agent last reported it", 3);
  new Gauge({
    name: "corral_node_instances", help: "Instances with the node as primary or secondary", labelNames: ["node", "role"], registers,
    collect() {
      this.reset();
      for (const row of nodes()) {
        this.set({ node: String(row[0]), role: "primary" }, Number(row[4] ?? 0));
        this.set({ node: String(row[0]), role: "secondary" }, Number(row[5] ?? 0));
      }
    },
  });

  // One series per instance, for its current status only (/2/instances' "status"); and the count per status.
  let instanceRows: { scrape: number; rows: [string, string][] } | undefined;
  const instances = () => {
    const scrape = scrapeId();
    if (instanceRows?.scrape !== scrape) {
      const rows = runQuery("instance", ["name", "status"], null, { snap: s.store.snapshot(), live: s.live }).data;
      instanceRows = { scrape, rows: rows.map(([name, status]) => [String(name[1]), status[0] === 0 ? String(status[1]) : "unknown"]) };
    }
    return instanceRows.rows;
  };
  // Labelled `name`: Prometheus gives every scraped series an `instance` label (the target's
  // address) and would rename ours to `exported_instance`.
  new Gauge({
    name: "corral_instance_status", help: "1 for the instance's current status (Ganeti's: running, ADMIN_down, ERROR_down, …)", labelNames: ["name", "status"], registers,
    collect() {
      this.reset();
      for (const [name, status] of instances()) this.set({ name, status }, 1);
    },
  });
  new Gauge({
    name: "corral_instances", help: "Instances per status", labelNames: ["status"], registers,
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const [, status] of instances()) counts.set(status, (counts.get(status) ?? 0) + 1);
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
}

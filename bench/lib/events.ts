// The event stream's cost (GET /corral/1/events): on a master of its own, the tag-job burst
// with no listener, then with --listeners SSE listeners connected (all events, unfiltered;
// lib/listeners.ts, a process of its own), then with none again; the ratio of jobs/s with
// them to without, the master's CPU per job both ways, and whether every listener received
// every job's end. The master, the listeners and the bench share the machine's cores; the
// listeners run at --listeners-nice (default 19), standing in for clients on other machines:
// they get the CPU the master and the bench leave, and the master's CPU per job counts until
// every listener has every event (work deferred past the bursts included).

import { availableParallelism } from "node:os";
import { startListeners, type ListenersProc } from "./children.ts";
import { tagBurstSeries, type BurstResult, type JobClientKind } from "./jobs.ts";
import type { ListenersComplete, ListenersReady, ListenersSummary } from "./listeners.ts";
import { cpuSecondsOf, memoryOf, type Memory, type RunningMaster } from "./master.ts";

export interface EventsSeries {
  /** The median measured burst. */
  median: BurstResult;
  runs_jobs_per_s: number[];
  /** The master's CPU time over the series (first, unmeasured burst included) per job, ms. */
  master_cpu_ms_per_job: number;
}

export interface EventsMeasure {
  cores: number;
  listeners: number;
  /** The listeners' process's nice value (absent: 0, results from before the option). */
  listeners_nice?: number;
  /** How the listeners take the stream (absent: identity, results from before gzip). */
  listeners_encoding?: "gzip" | "identity";
  /** The listeners' query string (kinds=…, names=…), when they filter. */
  listeners_query?: string;
  quiet_before: EventsSeries;
  with_listeners: EventsSeries;
  quiet_after: EventsSeries;
  /** with_listeners ÷ the mean of the two quiet medians. */
  ratio: number;
  connect: ListenersReady;
  /** After the last burst with listeners: every listener had the end of every job of the series. */
  delivery: ListenersComplete;
  summary: ListenersSummary;
  memory: { quiet: Memory; with_listeners: Memory };
  /** CPU time while the listeners were connected and the jobs ran, s. */
  cpu: { wall_s: number; master_s: number; listeners_s: number; bench_s: number };
}

export interface EventsOptions {
  listeners: number;
  listenersNice: number;
  listenersEncoding: "gzip" | "identity";
  /** Filter the listeners' streams (e.g. "kinds=network"): unfiltered when absent. */
  listenersQuery?: string;
  jobs: number;
  clients: number;
  bursts: number;
  jobClient: JobClientKind;
  /** user:password of a user with write access (the bursts) */
  auth: string;
  startMaster: () => Promise<RunningMaster>;
  log: (line: string) => void;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export async function eventsMeasure(o: EventsOptions): Promise<EventsMeasure> {
  const m = await o.startMaster();
  let listeners: ListenersProc | undefined;
  try {
    const target = { base: m.base, auth: o.auth };
    const series = async (prefix: string): Promise<EventsSeries> => {
      const cpu0 = cpuSecondsOf(m.pid);
      const s = await tagBurstSeries(target, { jobs: o.jobs, clients: o.clients, tagPrefix: prefix, timeoutS: 300, repeats: o.bursts, client: o.jobClient });
      const cpuMs = (cpuSecondsOf(m.pid) - cpu0) * 1000;
      return { median: s.median, runs_jobs_per_s: s.runs_jobs_per_s, master_cpu_ms_per_job: round2(cpuMs / s.job_ids.length) };
    };
    o.log(`events: ${o.bursts + 1} bursts of ${o.jobs} tag jobs from ${o.clients} clients, no listener`);
    const quietBefore = await series("bench-ev-");
    const quietMemory = memoryOf(m.pid);
    o.log(`events: ${o.listeners} listeners connecting (a process of their own)`);
    listeners = await startListeners({ base: m.base, listeners: o.listeners, nice: o.listenersNice, identity: o.listenersEncoding === "identity", query: o.listenersQuery });
    const connect = listeners.ready;
    if (Object.keys(connect.failed).length > 0) throw new Error(`listeners failed to connect: ${JSON.stringify(connect.failed)}`);
    o.log(`events: ${o.listeners} listeners connected in ${connect.connect_ms} ms; the same bursts`);
    const masterCpu0 = cpuSecondsOf(m.pid);
    const benchCpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const s = await tagBurstSeries(target, { jobs: o.jobs, clients: o.clients, tagPrefix: "bench-ev-", timeoutS: 300, repeats: o.bursts, client: o.jobClient });
    // Filtered listeners may see no job at all: their delivery is not checked.
    const delivery = await listeners.awaitJobEnds(o.listenersQuery ? [] : s.job_ids, 60_000);
    const withCpuMs = (cpuSecondsOf(m.pid) - masterCpu0) * 1000;
    const benchCpu = process.cpuUsage(benchCpu0);
    const wall = (performance.now() - wall0) / 1000;
    const masterCpu = cpuSecondsOf(m.pid) - masterCpu0;
    const withMemory = memoryOf(m.pid);
    const summary = await listeners.stop();
    listeners = undefined;
    o.log(`events: ${delivery.complete}/${o.listeners} listeners saw all ${delivery.jobs} job ends (${delivery.ms} ms after the last burst); no listener again`);
    const quietAfter = await series("bench-ev-");
    const quiet = (quietBefore.median.jobs_per_s + quietAfter.median.jobs_per_s) / 2;
    return {
      cores: availableParallelism(),
      listeners: o.listeners,
      listeners_nice: o.listenersNice,
      listeners_encoding: o.listenersEncoding,
      listeners_query: o.listenersQuery,
      quiet_before: quietBefore,
      with_listeners: { median: s.median, runs_jobs_per_s: s.runs_jobs_per_s, master_cpu_ms_per_job: round2(withCpuMs / s.job_ids.length) },
      quiet_after: quietAfter,
      ratio: Math.round((s.median.jobs_per_s / quiet) * 1000) / 1000,
      connect,
      delivery,
      summary,
      memory: { quiet: quietMemory, with_listeners: withMemory },
      cpu: { wall_s: round2(wall), master_s: round2(masterCpu), listeners_s: summary.cpu_s, bench_s: round2((benchCpu.user + benchCpu.system) / 1e6) },
    };
  } finally {
    listeners?.kill();
    await m.stop();
  }
}

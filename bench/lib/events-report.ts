// The event stream measure's report (lib/events.ts): its row in the targets and its table.

import type { EventsMeasure, EventsSeries } from "./events.ts";
import type { Maybe, TargetRow } from "./report.ts";

/** The issue's goal: the stream costs less than 10% of job throughput. */
export const EVENTS_TARGET = 0.9;

/** Every listener got every job's end, in order, and none was cut off. */
export function eventsDelivered(e: EventsMeasure): boolean {
  return e.delivery.complete === e.listeners && e.summary.out_of_order === 0 && e.summary.overflows === 0 && e.summary.ended_by_master === 0;
}

export function eventsTarget(e: EventsMeasure): TargetRow {
  return {
    measure: `${e.with_listeners.median.jobs} tag jobs, ${e.with_listeners.median.clients} clients, with ${e.listeners.toLocaleString("en-US")} event stream listeners: jobs/s`,
    target: `≥ ${EVENTS_TARGET * 100}% of none, every listener gets every job's end`,
    value: `${(e.ratio * 100).toFixed(1)}% (${Math.round(e.with_listeners.median.jobs_per_s)} vs ${Math.round(e.quiet_before.median.jobs_per_s)} and ${Math.round(e.quiet_after.median.jobs_per_s)} jobs/s); ${e.delivery.complete}/${e.listeners} listeners complete`,
    // Filtered listeners are not the goal's setting (all events to every listener).
    met: e.listeners_query ? null : e.ratio >= EVENTS_TARGET && eventsDelivered(e),
  };
}

const jps = (s: EventsSeries) => `${Math.round(s.median.jobs_per_s)} jobs/s (runs ${s.runs_jobs_per_s.map((x) => Math.round(x)).join(", ")}) · latency p50 ${s.median.latency_ms.p50.toFixed(1)} ms · p90 ${s.median.latency_ms.p90.toFixed(1)} ms`;

/** The measure's own table (also the whole of an --only-events run's Markdown). */
export function eventsMarkdown(e: Maybe<EventsMeasure>): string {
  if ("available" in e) return `| event stream measure | ${e.note} |\n|---|---|\n`;
  const s = e.summary;
  const d = e.delivery;
  const lines = [
    `On a master of its own (new cluster, TLS), ${e.with_listeners.runs_jobs_per_s.length} measured bursts of ${e.with_listeners.median.jobs} tag jobs from ${e.with_listeners.median.clients} clients after one unmeasured, three times: with no listener, with ${e.listeners.toLocaleString("en-US")} listeners on \`GET /corral/1/events\` (${e.listeners_query ? `\`?${e.listeners_query}\`` : "all events, unfiltered"}, TLS, ${e.listeners_encoding ?? "identity"}; a process of their own that parses every event, at nice ${e.listeners_nice ?? 0}), and with none again. The master, the listeners' process and the bench share the machine's ${e.cores} cores${(e.listeners_nice ?? 0) > 0 ? ": the listeners get the CPU the master and the bench leave, standing in for clients on other machines" : ", the listeners competing with the master for them"}. The master's CPU per job counts until every listener had every job's end, so work it put off past the bursts is in it.`,
    "",
    "| event stream measure | value |",
    "|---|---|",
    `| no listener (before) | ${jps(e.quiet_before)} |`,
    `| **${e.listeners.toLocaleString("en-US")} listeners** | ${jps(e.with_listeners)} → **${(e.ratio * 100).toFixed(1)}% of no listener** (goal ≥ ${EVENTS_TARGET * 100}%) |`,
    `| no listener (after) | ${jps(e.quiet_after)} |`,
    `| master CPU per job: no listener (before · after) · with listeners | ${e.quiet_before.master_cpu_ms_per_job} · ${e.quiet_after.master_cpu_ms_per_job} ms · ${e.with_listeners.master_cpu_ms_per_job} ms |`,
    e.listeners_query
      ? `| delivery | not checked: the listeners filter (\`?${e.listeners_query}\`) |`
      : `| delivery: listeners that saw the end of all ${d.jobs} jobs of the series · how long after the last burst | **${d.complete}/${e.listeners}** (${d.job_ends_seen.toLocaleString("en-US")} job ends seen) · ${d.ms} ms |`,
    `| events per listener (min · max) · text to all of them · on the wire · out of order · overflows · gaps · streams ended by the master | ${s.events.min.toLocaleString("en-US")} · ${s.events.max.toLocaleString("en-US")} · ${(s.bytes / 2 ** 20).toFixed(1)} MiB · ${s.wire_bytes === undefined ? "?" : `${(s.wire_bytes / 2 ** 20).toFixed(1)} MiB`} · ${s.out_of_order} · ${s.overflows} · ${s.gaps} · ${s.ended_by_master} |`,
    `| listeners connecting (TLS, 32 handshakes at a time) | ${e.connect.connect_ms} ms |`,
    `| master RSS: no listener · with listeners | ${e.memory.quiet.rss_mib} · ${e.memory.with_listeners.rss_mib} MiB |`,
    `| CPU time while the listeners were connected (${e.cpu.wall_s} s on ${e.cores} cores) | master ${e.cpu.master_s} s · listeners ${e.cpu.listeners_s} s (their whole life, connecting included) · bench ${e.cpu.bench_s} s |`,
  ];
  return lines.join("\n") + "\n";
}


// The result of one bench run: its JSON shape, the targets of issue 5 checked against it,
// and the Markdown table written next to the JSON and into bench/README.md.

import type { EngineResult } from "./engine.ts";
import type { EventsMeasure } from "./events.ts";
import { eventsMarkdown, eventsTarget } from "./events-report.ts";
import type { HostileAttack } from "./hostile.ts";
import type { BurstResult, SingleResult } from "./jobs.ts";
import type { MachineInfo } from "./machine.ts";
import type { Memory } from "./master.ts";
import type { ProfileSummary } from "./profile.ts";
import type { Percentiles } from "./stats.ts";
import type { MigrateCase, MigrateMeasure, MigrationRun, Phase } from "./migrate.ts";
import type { VmMeasure } from "./vm.ts";
import type { WrkResult } from "./wrk.ts";

/** A measure that could not be taken, and why ("not available yet", "Ganeti not reachable"). */
export interface Unavailable {
  available: false;
  note: string;
}
export type Maybe<T> = T | Unavailable;
export const unavailable = (note: string): Unavailable => ({ available: false, note });
export function isAvailable<T extends object>(m: Maybe<T> | undefined): m is T {
  return m !== undefined && !("available" in m && m.available === false);
}

export interface ClusterBuild {
  nodes: number;
  instances: number;
  disk_template: string;
  /** How the instances got there: "seeded" (ConfigStore, before start) or "api" (POST /2/instances). */
  build: string;
  note?: string;
  build_s: number;
}

export interface Startup {
  /** Spawn of bin/corral → "RAPI listening" logged. */
  listening_ms: number;
  /** Spawn → first 200 to GET /2/info. */
  ready_ms: number;
}

export interface Durability {
  /** Acknowledged job ids looked up in the database after SIGKILL. */
  checked: number;
  missing: number[];
  not_success: number[];
  ok: boolean;
}

export interface TimedRequests {
  path: string;
  /** Whole request: sent → last byte of the body read, ms. */
  ms: Percentiles;
  bytes: number;
  rows: number;
}

export interface BigCluster {
  cluster: ClusterBuild;
  db_mib: number;
  startups: Startup[];
  /** Median ready_ms of the starts. */
  startup_ms: number;
  memory_after_start: Memory;
  /** The query engine's bulk encoder without HTTP (lib/engine.ts); absent in older results. */
  engine?: Maybe<EngineResult>;
  bulk_list: Maybe<TimedRequests>;
  name_list: Maybe<TimedRequests>;
  memory_after_lists: Memory;
  info: WrkResult;
  single_job: SingleResult;
}

/** Issue 9's hostile run: the tag-job bursts again while lib/hostile.ts attacks the master. */
export interface HostileRun {
  /** CPUs of the machine, shared by the attacker, the master and the bench. */
  cores: number;
  /** Attacker spawned → every slow socket connected once, ms (the bursts start then). */
  attack_ready_ms: number;
  /** The attacker's own figures. */
  attack: HostileAttack;
  /** The quiet figure: the median of the measured quiet bursts. */
  quiet_jobs_per_s: number;
  /** The median burst under attack. */
  burst: BurstResult;
  runs_jobs_per_s: number[];
  /** Median under attack ÷ quiet median (target ≥ 0.8). */
  ratio: number;
  /** Whether every burst ended before the attack did. */
  all_under_attack: boolean;
  memory_after_attack: Memory;
  /** CPU time used from the attacker's start to its end, s, by process (the machine has `cores` × wall_s); absent in older results. */
  cpu?: { wall_s: number; master_s: number; attacker_s: number; bench_s: number };
  /** Jobs submitted during the attack other than the bursts' (fuzz writer, public GETs that are jobs), by opcode and status now; absent in older results. */
  attack_jobs?: { count: number; by_op: Record<string, number>; by_status: Record<string, number> };
  job_ids: number[];
}

/** The hostile run's target (issue 9): jobs/s under attack at least this share of quiet. */
export const HOSTILE_TARGET = 0.8;

/** Issue 10: startup job → boot marker at most this multiple of raw QEMU spawn → boot marker. */
export const VM_TARGET = 1.05;
/** Issue 11: Corral's migrate job ≤ 1.1× raw QEMU's total time, downtime ≤ 30 ms for the dirtying guest. */
export const MIGRATE_TARGET = 1.1;
export const MIGRATE_DOWNTIME_MS = 30;

export interface BenchResult {
  schema: 1;
  mode: string;
  started_at: string;
  finished_at: string;
  machine: MachineInfo;
  options: Record<string, unknown>;
  ganeti: { used: boolean; url: string; version?: string; instances?: number; started_by_bench?: boolean; note?: string };
  small: {
    cluster: ClusterBuild;
    startup: Startup;
    memory_after_measures?: Memory;
    info: { corral: WrkResult; ceiling: WrkResult; ganeti: Maybe<WrkResult> };
    instances_bulk: { corral: Maybe<WrkResult>; ganeti: Maybe<WrkResult> };
    /** corral/ganeti: the median of the measured bursts; *_first: the first burst after start. */
    tag_burst: {
      corral: BurstResult;
      ganeti: Maybe<BurstResult>;
      corral_first?: BurstResult;
      ganeti_first?: Maybe<BurstResult>;
      corral_runs_jobs_per_s?: number[];
      ganeti_runs_jobs_per_s?: number[];
      durability: Durability;
    };
    single_job: { corral: SingleResult; ganeti: Maybe<SingleResult> };
    /** Absent in results from before the hostile run existed. */
    hostile?: Maybe<HostileRun>;
  };
  big: Maybe<BigCluster>;
  /** Issue 10's VM measure; absent in results from before it existed. */
  vm?: Maybe<VmMeasure>;
  /** Issue 11's migration measure; absent in results from before it existed. */
  migrate?: Maybe<MigrateMeasure>;
  /** The event stream measure; absent in results from before it existed. */
  events?: Maybe<EventsMeasure>;
  targets: TargetRow[];
  profiles?: Record<string, ProfileSummary>;
}

/** Ganeti 3.0.2's numbers from issue 5 (2 cores, 24 instances, wrk 20 s, TLS): used for ratios when it was not measured in the run. */
export const ISSUE_BASELINE = {
  info_rps: 95,
  bulk_rps: 11.5,
  burst_jobs_per_s: 3.8,
  single_p50_ms: 45,
} as const;

export interface TargetRow {
  measure: string;
  target: string;
  value: string;
  /** null: could not be checked in this run. */
  met: boolean | null;
  /** Where the comparison number came from. */
  against?: string;
}

const fmt = (x: number, digits = 1) =>
  x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(x >= 10 ? Math.min(digits, 1) : digits);
const ms = (x: number) => (x >= 1000 ? `${fmt(x / 1000, 2)} s` : `${fmt(x, x < 10 ? 2 : 1)} ms`);

function ratioTarget(measure: string, factor: number, corral: number | undefined, ganeti: number | undefined, measured: boolean, unit: string): TargetRow {
  const target = `≥ ${factor}× Ganeti`;
  if (corral === undefined) return { measure, target, value: "not available yet", met: null };
  const base = ganeti;
  if (base === undefined || base <= 0) return { measure, target, value: `${fmt(corral)} ${unit}`, met: null };
  const ratio = corral / base;
  return {
    measure,
    target,
    value: `${fmt(ratio)}× (${fmt(corral)} vs ${fmt(base)} ${unit})`,
    met: ratio >= factor,
    against: measured ? "Ganeti measured in this run" : "Ganeti numbers recorded in issue 5",
  };
}

export function checkTargets(r: Omit<BenchResult, "targets">): TargetRow[] {
  const s = r.small;
  const g = r.ganeti.used;
  const gInfo = isAvailable(s.info.ganeti) ? s.info.ganeti.req_per_s : g ? undefined : ISSUE_BASELINE.info_rps;
  const gBulk = isAvailable(s.instances_bulk.ganeti) ? s.instances_bulk.ganeti.req_per_s : g ? undefined : ISSUE_BASELINE.bulk_rps;
  const gBurst = isAvailable(s.tag_burst.ganeti) ? s.tag_burst.ganeti.jobs_per_s : g ? undefined : ISSUE_BASELINE.burst_jobs_per_s;
  const rows: TargetRow[] = [
    ratioTarget("GET /2/instances?bulk=1 req/s", 200, isAvailable(s.instances_bulk.corral) ? s.instances_bulk.corral.req_per_s : undefined, gBulk, g, "req/s"),
    ratioTarget("GET /2/info req/s", 50, s.info.corral.req_per_s, gInfo, g, "req/s"),
  ];
  const share = s.info.corral.req_per_s / s.info.ceiling.req_per_s;
  rows.push({
    measure: "GET /2/info vs bare Node HTTPS",
    target: "≥ 50% of the ceiling",
    value: `${fmt(share * 100)}% (${fmt(s.info.corral.req_per_s)} of ${fmt(s.info.ceiling.req_per_s)} req/s)`,
    met: share >= 0.5,
  });
  rows.push(ratioTarget(`${s.tag_burst.corral.jobs} tag jobs, ${s.tag_burst.corral.clients} clients: jobs/s (median burst)`, 500, s.tag_burst.corral.jobs_per_s, gBurst, g, "jobs/s"));
  const d = s.tag_burst.durability;
  rows.push({
    measure: "every acknowledged job durable",
    target: "all found, success, after SIGKILL",
    value: `${d.checked - d.missing.length - d.not_success.length}/${d.checked}`,
    met: d.ok,
  });
  const p50 = s.single_job.corral.latency_ms.p50;
  rows.push({ measure: "one job on an idle master, submit → success", target: "p50 ≤ 5 ms", value: `p50 ${ms(p50)}`, met: p50 <= 5 });
  if (s.hostile && isAvailable(s.hostile)) {
    const h = s.hostile;
    rows.push({
      measure: `${h.burst.jobs} tag jobs, ${h.burst.clients} clients, under attack (slow clients + fuzz): jobs/s`,
      target: `≥ ${HOSTILE_TARGET * 100}% of quiet (issue 9)`,
      value: `${fmt(h.ratio * 100)}% (${fmt(h.burst.jobs_per_s)} vs ${fmt(h.quiet_jobs_per_s)} jobs/s)`,
      met: h.ratio >= HOSTILE_TARGET && h.burst.statuses.success === h.burst.jobs,
    });
  }
  if (r.vm && isAvailable(r.vm)) rows.push(vmTarget(r.vm));
  if (r.migrate && isAvailable(r.migrate)) rows.push(...migrateTargets(r.migrate));
  if (r.events && isAvailable(r.events)) rows.push(eventsTarget(r.events));
  if (isAvailable(r.big)) {
    const b = r.big;
    const size = `${b.cluster.instances.toLocaleString("en-US")} instances / ${b.cluster.nodes.toLocaleString("en-US")} nodes`;
    const full = b.cluster.instances >= 100_000;
    const scaled = full ? "" : " (small size: not the target's)";
    rows.push(
      isAvailable(b.bulk_list)
        ? {
          measure: `${size}: bulk instance list`,
          target: "< 1 s",
          value: `p50 ${ms(b.bulk_list.ms.p50)}, first after start ${ms(b.bulk_list.ms.max)}${scaled}`,
          met: full ? b.bulk_list.ms.p50 < 1000 : null,
        }
        : { measure: `${size}: bulk instance list`, target: "< 1 s", value: "not available yet", met: null },
    );
    const peak = b.memory_after_lists.peak_rss_mib;
    rows.push({ measure: `${size}: master RSS (peak)`, target: "< 1 GiB", value: `${fmt(peak)} MiB${scaled}`, met: full ? peak < 1024 : null });
    rows.push({ measure: `${size}: start-up`, target: "< 3 s", value: `${ms(b.startup_ms)}${scaled}`, met: full ? b.startup_ms < 3000 : null });
  }
  return rows;
}

const cell = (x: string) => x.replace(/\|/g, "\\|");
const yesNo = (m: boolean | null) => (m === null ? "n/a" : m ? "yes" : "**NO**");

function wrkCell(w: Maybe<WrkResult>): string {
  if (!isAvailable(w)) return w.note;
  const err = w.errors.status + w.errors.timeout + w.errors.read + w.errors.connect;
  return `${fmt(w.req_per_s)} req/s · p50 ${ms(w.latency_ms.p50)} · p99 ${ms(w.latency_ms.p99)}${err ? ` · ${err} errors` : ""}`;
}

function burstCell(b: Maybe<BurstResult>): string {
  if (!isAvailable(b)) return b.note;
  const bad = b.jobs - (b.statuses.success ?? 0);
  return `${fmt(b.jobs_per_s)} jobs/s · latency p50 ${ms(b.latency_ms.p50)} · p90 ${ms(b.latency_ms.p90)}${bad ? ` · ${bad} not success` : ""}`;
}

function singleCell(s: Maybe<SingleResult>): string {
  if (!isAvailable(s)) return s.note;
  return `p50 ${ms(s.latency_ms.p50)} · p90 ${ms(s.latency_ms.p90)} · max ${ms(s.latency_ms.max)} (n=${s.jobs})`;
}

function ratio(a: number | undefined, b: number | undefined, invert = false): string {
  if (a === undefined || b === undefined || a <= 0 || b <= 0) return "—";
  return `${fmt(invert ? b / a : a / b)}×`;
}

export function markdown(r: BenchResult): string {
  const m = r.machine;
  const s = r.small;
  const lines: string[] = [];
  lines.push(`Run of ${r.started_at.replace("T", " ").slice(0, 16)} UTC, mode \`${r.mode}\`, Corral ${m.corral_commit}.`);
  lines.push("");
  lines.push(
    `Machine: ${m.nproc} × ${m.cpu_model}, ${m.memory_gib} GiB RAM, ${m.os}, Linux ${m.kernel}, Node ${m.node}, ${m.wrk}, data directories on ${m.data_fs}; load average ${m.loadavg_start ?? "?"} at the start, ${m.loadavg_end ?? "?"} at the end (the machine is shared: other work running at the same time shows up as noise).`,
  );
  // At the end the bench's own load shows; at the start, only other work does.
  const before = Number((m.loadavg_start ?? "0").split(" ")[0]);
  if (before > m.nproc / 2) {
    lines.push(`**The machine was busy when this run started (1-minute load average ${before} on ${m.nproc} CPUs): the numbers are noisy.**`);
    lines.push("");
  }
  const g = r.ganeti;
  lines.push(
    g.used
      ? `Real Ganeti ${g.version} (${g.instances} fake instances, one node) at ${g.url}, measured in this run${g.started_by_bench ? " (started and stopped by the bench)" : ""}.`
      : `Real Ganeti: not measured in this run (${g.note ?? "not reachable"}); ratios use the numbers recorded in issue 5.`,
  );
  const o = r.options as { duration: number; connections: number; threads: number; jobClient?: string };
  const jobClient = o.jobClient === "lean" ? "one hand-written keep-alive HTTP/1.1 connection per client" : "node:https's Agent, one per client";
  lines.push(
    `HTTP measures: wrk -t${o.threads} -c${o.connections} -d${o.duration}s over TLS, keep-alive. Job measures: ${jobClient}, over TLS. Corral's small cluster: ${s.cluster.instances} instances on ${s.cluster.nodes} node(s), ${s.cluster.build}${s.cluster.note ? ` (${s.cluster.note})` : ""}.`,
  );
  lines.push("");
  lines.push("| measure | Corral | real Ganeti | Corral ÷ Ganeti |");
  lines.push("|---|---|---|---|");
  const gi = isAvailable(s.info.ganeti) ? s.info.ganeti : undefined;
  lines.push(`| GET /2/info | ${wrkCell(s.info.corral)} | ${cell(wrkCell(s.info.ganeti))} | ${ratio(s.info.corral.req_per_s, gi?.req_per_s)} |`);
  lines.push(`| bare Node HTTPS, same /2/info bytes | ${wrkCell(s.info.ceiling)} | | Corral = ${fmt((s.info.corral.req_per_s / s.info.ceiling.req_per_s) * 100)}% of it |`);
  const cb = isAvailable(s.instances_bulk.corral) ? s.instances_bulk.corral : undefined;
  const gb = isAvailable(s.instances_bulk.ganeti) ? s.instances_bulk.ganeti : undefined;
  lines.push(`| GET /2/instances?bulk=1 | ${cell(wrkCell(s.instances_bulk.corral))} | ${cell(wrkCell(s.instances_bulk.ganeti))} | ${ratio(cb?.req_per_s, gb?.req_per_s)} |`);
  const tb = s.tag_burst;
  const gtb = isAvailable(tb.ganeti) ? tb.ganeti : undefined;
  const runs = tb.corral_runs_jobs_per_s && tb.corral_runs_jobs_per_s.length > 1 ? `median of ${tb.corral_runs_jobs_per_s.length} after one unmeasured` : "one run";
  lines.push(
    `| ${tb.corral.jobs} tag jobs from ${tb.corral.clients} clients, submit → all success (${runs}) | ${burstCell(tb.corral)} | ${cell(burstCell(tb.ganeti))} | ${ratio(tb.corral.jobs_per_s, gtb?.jobs_per_s)} jobs/s; latency ÷${ratio(tb.corral.latency_ms.p50, gtb?.latency_ms.p50, true)} |`,
  );
  if (tb.corral_first) {
    const gf = tb.ganeti_first && isAvailable(tb.ganeti_first) ? tb.ganeti_first : undefined;
    lines.push(
      `| the same, first burst after start (cold code paths) | ${burstCell(tb.corral_first)} | ${gf ? burstCell(gf) : "—"} | ${ratio(tb.corral_first.jobs_per_s, gf?.jobs_per_s)} jobs/s |`,
    );
  }
  const gs = isAvailable(s.single_job.ganeti) ? s.single_job.ganeti : undefined;
  lines.push(
    `| one tag job on an idle master, submit → success | ${singleCell(s.single_job.corral)} | ${cell(singleCell(s.single_job.ganeti))} | latency ÷${ratio(s.single_job.corral.latency_ms.p50, gs?.latency_ms.p50, true)} |`,
  );
  lines.push(
    `| master start-up / RSS (small cluster) | ready in ${ms(s.startup.ready_ms)}${s.memory_after_measures ? ` · RSS ${fmt(s.memory_after_measures.rss_mib)} MiB (peak ${fmt(s.memory_after_measures.peak_rss_mib)})` : ""} | | |`,
  );
  if (s.hostile) lines.push(...hostileRows(s.hostile));
  if (isAvailable(r.big)) {
    const b = r.big;
    const size = `${b.cluster.instances.toLocaleString("en-US")} instances / ${b.cluster.nodes.toLocaleString("en-US")} nodes`;
    lines.push(`| ${size}: seeded store | ${b.cluster.disk_template} instances, written in ${fmt(b.cluster.build_s, 2)} s, database ${fmt(b.db_mib)} MiB | | |`);
    lines.push(`| ${size}: start-up (spawn → /2/info answers) | ${b.startups.map((x) => ms(x.ready_ms)).join(", ")} (median ${ms(b.startup_ms)}) | | |`);
    lines.push(`| ${size}: RSS after start → after lists (peak) | ${fmt(b.memory_after_start.rss_mib)} → ${fmt(b.memory_after_lists.rss_mib)} MiB (peak ${fmt(b.memory_after_lists.peak_rss_mib)}) | | |`);
    for (const [label, t] of [["GET /2/instances?bulk=1", b.bulk_list], ["GET /2/instances", b.name_list]] as const) {
      lines.push(
        `| ${size}: ${label}, one client | ${isAvailable(t) ? `p50 ${ms(t.ms.p50)} · max ${ms(t.ms.max)} (n=${t.ms.n}, ${fmt(t.bytes / 2 ** 20)} MiB)` : t.note} | | |`,
      );
    }
    const e = b.engine ?? unavailable("not measured in this run");
    lines.push(
      `| ${size}: bulk list in the query engine, no HTTP (\`bulkJson\`) | ${isAvailable(e) ? `first ${ms(e.cold_ms)} · then p50 ${ms(e.warm_ms.p50)} (${fmt(e.bytes / 2 ** 20)} MiB of JSON; store loaded in ${ms(e.load_ms)})` : e.note} | | |`,
    );
    lines.push(`| ${size}: GET /2/info | ${wrkCell(b.info)} | | |`);
    lines.push(`| ${size}: one tag job, idle | ${singleCell(b.single_job)} | | |`);
  } else {
    lines.push(`| large cluster | ${r.big.note} | | |`);
  }
  if (r.vm) {
    lines.push("");
    lines.push("VMs (issue 10):");
    lines.push("");
    lines.push(vmMarkdown(r.vm).trimEnd());
  }
  if (r.migrate) {
    lines.push("");
    lines.push("Live migration (issue 11):");
    lines.push("");
    lines.push(migrateMarkdown(r.migrate).trimEnd());
  }
  if (r.events) {
    lines.push("");
    lines.push("Event stream (`GET /corral/1/events`):");
    lines.push("");
    lines.push(eventsMarkdown(r.events).trimEnd());
  }
  lines.push("");
  lines.push("Targets of issues 5, 9, 10 and 11, and of the event stream:");
  lines.push("");
  lines.push("| target | measure | value | met |");
  lines.push("|---|---|---|---|");
  for (const t of r.targets) lines.push(`| ${cell(t.target)} | ${cell(t.measure)} | ${cell(t.value)}${t.against ? ` — vs ${t.against}` : ""} | ${yesNo(t.met)} |`);
  return lines.join("\n") + "\n";
}

/** Counts by key, "k n · k n", largest first. */
const counts = (m: Record<string, number>) =>
  Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n.toLocaleString("en-US")}`)
    .join(" · ") || "none";

function hostileRows(h: Maybe<HostileRun>): string[] {
  if (!isAvailable(h)) return [`| tag-job bursts under attack (issue 9) | ${h.note} | | |`];
  const a = h.attack;
  const f = a.fuzz;
  const sl = a.slow;
  const runs = h.runs_jobs_per_s.length > 1 ? `median of ${h.runs_jobs_per_s.length}: ${h.runs_jobs_per_s.map((x) => fmt(x)).join(", ")}` : "one burst";
  return [
    `| the same bursts under attack, ${a.seconds} s of slow clients + fuzz from another process on the same ${h.cores} cores (${runs}${h.all_under_attack ? "" : "; not all ended before the attack"}) | ${burstCell(h.burst)} · **${fmt(h.ratio * 100)}% of quiet** (${fmt(h.quiet_jobs_per_s)} jobs/s) | — | target ≥ ${HOSTILE_TARGET * 100}% of quiet |`,
    `| the attack: slow clients | ${sl.body_clients} slow bodies (Content-Length ${sl.content_length.toLocaleString("en-US")}, 1 byte/s) + ${sl.header_clients} slow headers; ${sl.connections.toLocaleString("en-US")} connections, open at once median ${sl.open.median} (max ${sl.open.max}), ${sl.open_at_end} held to the end; answers ${counts(sl.by_status)}; closed unanswered ${sl.closed_without_answer}; held p50 /version ${fmt(sl.held_s.version.p50, 2)} s, /2/tags ${fmt(sl.held_s.tags.p50, 2)} s, headers ${fmt(sl.held_s.headers.p50, 2)} s | | |`,
    `| the attack: fuzz (seed ${a.seed}, ${f.concurrency} in flight) | ${f.requests.toLocaleString("en-US")} requests (${counts(f.by_who)}; ${f.deep_bodies} deeply nested, ${f.oversized_lengths} oversized Content-Length); answers ${counts(f.by_class)}; no answer ${f.no_answer}, cut at the end ${f.cut_at_end}; latency p50 ${ms(f.latency_ms.p50)} · p99 ${ms(f.latency_ms.p99)} | | |`,
    `| master RSS after the attack | ${fmt(h.memory_after_attack.rss_mib)} MiB (peak ${fmt(h.memory_after_attack.peak_rss_mib)}) | | |`,
    ...(h.cpu
      ? [`| CPU time during the attack (${fmt(h.cpu.wall_s, 2)} s on ${h.cores} cores = ${fmt(h.cpu.wall_s * h.cores, 2)} CPU-s) | master ${fmt(h.cpu.master_s, 2)} s · attacker ${fmt(h.cpu.attacker_s, 2)} s · bench ${fmt(h.cpu.bench_s, 2)} s; the rest went to other processes or idle | | |`]
      : []),
    ...(h.attack_jobs
      ? [`| jobs the attack made the master run (besides the bursts) | ${h.attack_jobs.count.toLocaleString("en-US")}: ${counts(h.attack_jobs.by_op)}; status now ${counts(h.attack_jobs.by_status)} | | |`]
      : []),
  ];
}

export function profileMarkdown(profiles: Record<string, ProfileSummary>): string {
  const out: string[] = [];
  for (const [name, p] of Object.entries(profiles)) {
    out.push(`### ${name}`);
    out.push("");
    out.push(`Profile ${p.file.split("/").pop()}: ${fmt(p.total_ms / 1000, 2)} s covered, ${fmt(p.busy_ms / 1000, 2)} s busy.`);
    out.push("");
    out.push("Busy time by category: " + Object.entries(p.categories).map(([k, v]) => `${k} ${v}%`).join(", ") + ".");
    out.push("");
    out.push("| self time | % busy | function |");
    out.push("|---|---|---|");
    for (const f of p.self) out.push(`| ${f.ms} ms | ${f.pct}% | \`${cell(f.fn)}\` |`);
    out.push("");
    out.push("| incl. callees | % busy | Corral function |");
    out.push("|---|---|---|");
    for (const f of p.corral_inclusive) out.push(`| ${f.ms} ms | ${f.pct}% | \`${cell(f.fn)}\` |`);
    out.push("");
  }
  return out.join("\n");
}

function vmTarget(v: VmMeasure): TargetRow {
  return {
    measure: `kvm instance (TCG, test guest): startup job → ${"CORRAL_READY"} vs raw QEMU spawn → the same (median of ${v.runs.length})`,
    target: `≤ ${VM_TARGET}× raw QEMU (issue 10)`,
    value: `${v.ratio.toFixed(3)}× (${ms(v.corral_ready_ms)} vs ${ms(v.raw_ready_ms)})`,
    met: v.ratio <= VM_TARGET,
  };
}

/** The VM measure's own table (also the whole of an --only-vm run's Markdown). */
export function vmMarkdown(v: Maybe<VmMeasure>): string {
  if (!isAvailable(v)) return `| VM measure | ${cell(v.note)} |\n|---|---|\n`;
  const o = v.overhead;
  const list = (xs: number[]) => xs.map((x) => ms(x)).join(", ");
  const opt = (x: number | null) => (x === null ? "not seen" : ms(x));
  const m = v.memory;
  const lines = [
    `${v.runs.length} starts of one kvm instance through Corral (\`PUT /2/instances/X/startup\`), alternating with ${v.runs.length} raw starts of the same QEMU command line (its own pidfile, sockets, console log and a copy of the disk), by the bench; ${cell(v.qemu_version)}, TCG, the test guest (256 MiB, 1 vCPU, one 1 GiB sparse file disk, no NIC). Times are medians; "ready" is \`CORRAL_READY\` seen in the console log (polled every 10 ms on both sides).`,
    "",
    "| VM measure | value |",
    "|---|---|",
    `| Corral: startup job submitted → \`CORRAL_READY\` | **${ms(v.corral_ready_ms)}** (${list(v.runs.map((r) => r.corral.ready_ms))}) |`,
    `| raw QEMU: spawn → \`CORRAL_READY\` | **${ms(v.raw_ready_ms)}** (${list(v.runs.map((r) => r.raw.ready_ms))}) |`,
    `| Corral ÷ raw | **${v.ratio.toFixed(3)}×** (goal ≤ ${VM_TARGET}×; order ${v.order.join(" · ")})${v.paired_ratio !== undefined ? `; median of the pairs' own ratios ${v.paired_ratio.toFixed(3)}×` : ""} |`,
    `| Corral: startup job submitted → job success seen by the client | ${ms(v.corral_success_ms)} (${list(v.runs.map((r) => r.corral.success_ms))}) |`,
    `| Corral's overhead: submit → job running · → QEMU spawned · spawn → pidfile · spawn → agent's QMP connection accepted · → job ended · → client sees success | ${ms(o.submit_to_job_start_ms)} · ${ms(o.job_start_to_spawn_ms)} · ${ms(o.spawn_to_pidfile_ms)} · ${opt(o.spawn_to_qmp_connected_ms)} · ${opt(o.qmp_connected_to_job_end_ms)} · ${ms(o.job_end_to_client_ms)} (spawn → job ended ${ms(o.spawn_to_job_end_ms)}) |`,
    `| Corral's own time: submit → QEMU spawned (delays the boot) · submit → success less QEMU's spawn → QMP connection | **${ms(o.submit_to_spawn_ms)}** · **${opt(o.own_ms)}** |`,
    `| the guest's boot under Corral: spawn → \`CORRAL_READY\` | ${ms(o.spawn_to_ready_ms)} |`,
    ...(v.guest_uptime_s
      ? [`| the guest's own uptime at \`CORRAL_READY\` (its kernel's start → ready; the rest of spawn → ready is firmware and loading the kernel), Corral · raw | ${v.guest_uptime_s.corral ?? "?"} s · ${v.guest_uptime_s.raw ?? "?"} s (${v.runs.map((r) => `${r.corral.guest_uptime_s ?? "?"}/${r.raw.guest_uptime_s ?? "?"}`).join(", ")}) |`]
      : []),
    `| raw QEMU: spawn → daemonized · spawn → QMP ready (greeting + qmp_capabilities) | ${ms(v.raw_phases.daemonized_ms)} · ${ms(v.raw_phases.qmp_ready_ms)} |`,
    `| master RSS (the node agent and its kvm driver run inside it) with 0 · 1 · 2 VMs running | ${fmt(m.master_no_vm.rss_mib)} · ${fmt(m.master_one_vm.rss_mib)} · ${fmt(m.master_two_vms.rss_mib)} MiB → **${fmt(m.master_per_vm_mib)} MiB per VM** |`,
    `| QEMU RSS per VM, for scale | ${m.qemu_rss_mib.map((x) => `${fmt(x)} MiB`).join(", ")} |`,
  ];
  return lines.join("\n") + "\n";
}

/** Issue 11's goals: idle ≤ 1.1× raw; dirtying converges every time, ≤ 1.1× tuned raw, downtime ≤ 30 ms. */
export function migrateTargets(m: MigrateMeasure): TargetRow[] {
  const rows: TargetRow[] = [];
  const idle = m.cases.find((c) => c.id === "idle-defaults");
  const dirty = m.cases.find((c) => c.id === "dirty-defaults");
  if (idle) {
    rows.push({
      measure: `live migration of an idle 256 MiB guest, Corral's defaults: migrate job submit → success vs raw QEMU (target spawn → completed, source quit), median of ${idle.corral_completed}/${idle.raw_completed}`,
      target: `≤ ${MIGRATE_TARGET}× raw QEMU (issue 11)`,
      value: idle.ratio === null ? "no completed pair" : `${idle.ratio.toFixed(3)}× (${ms(idle.corral_total_ms!)} vs ${ms(idle.raw_total_ms!)})`,
      met: idle.ratio === null ? false : idle.ratio <= MIGRATE_TARGET,
    });
  }
  if (dirty) {
    const all = dirty.corral.length;
    rows.push({
      measure: "live migration of a guest dirtying 128 MiB/s, Corral's defaults: converges every time",
      target: "every migration converges (issue 11)",
      value: `${dirty.corral_completed} of ${all}`,
      met: all > 0 && dirty.corral_completed === all,
    });
    rows.push({
      measure: `the same vs tuned raw QEMU (downtime limit ${dirty.raw_params.downtimeMs} ms, as Corral's policy ended), median`,
      target: `≤ ${MIGRATE_TARGET}× tuned raw (issue 11)`,
      value: dirty.ratio === null ? "no completed pair" : `${dirty.ratio.toFixed(3)}× (${ms(dirty.corral_total_ms!)} vs ${ms(dirty.raw_total_ms!)})`,
      met: dirty.ratio === null ? false : dirty.ratio <= MIGRATE_TARGET,
    });
    rows.push({
      measure: "the same: QEMU's downtime, worst of Corral's runs",
      target: `≤ ${MIGRATE_DOWNTIME_MS} ms (issue 11)`,
      value: dirty.corral_downtime_max_ms === null ? "none completed" : `${ms(dirty.corral_downtime_max_ms)} (median ${ms(dirty.corral_downtime_ms!)})`,
      met: dirty.corral_downtime_max_ms === null ? false : dirty.corral_downtime_max_ms <= MIGRATE_DOWNTIME_MS,
    });
  }
  return rows;
}

/** The migration measure's own table (also the whole of an --only-migrate run's Markdown). */
export function migrateMarkdown(m: Maybe<MigrateMeasure>): string {
  if (!isAvailable(m)) return `| migration measure | ${cell(m.note)} |\n|---|---|\n`;
  const opt = (x: number | null | undefined) => (x === null || x === undefined ? "—" : ms(x));
  const dt = (x: number | null) => (x === null ? "—" : `${Math.round(x)} ms`);
  const runs = (rs: MigrationRun[]) => rs.map((r) => (r.outcome === "completed" ? ms(r.total_ms) : `${r.outcome} after ${ms(r.total_ms)}`)).join(", ") || "none";
  const params = (c: MigrateCase) => {
    const p = c.params;
    const bw = p.bandwidth > 0 ? `${p.bandwidth} MiB/s` : "unlimited";
    const raw = c.raw_params.downtimeMs !== p.downtimeMs ? `; raw tuned to ${c.raw_params.downtimeMs} ms` : "";
    return `${bw}, ${p.downtimeMs} ms${p.caps.length ? `, ${p.caps.join(":")}` : ""}${p.tls ? ", TLS" : ""}${p.storage ? ", with the storage" : ""}${raw}`;
  };
  const lines = [
    `A 256 MiB guest (the test guest, TCG, 1 vCPU, one 1 GiB sparse \`sharedfile\` disk, no NIC; ${cell(m.qemu_version)}) moved live between two node agents whose QEMUs run in two network namespaces joined by a veth pair: Corral's \`PUT /2/instances/X/migrate\` (total = submit → job success, the target QEMU's start included) against the same QEMU command line (runtime.json, \`-incoming defer\` on the target) driven by the bench over QMP with the same capabilities and parameters (total = target spawn → \`completed\` → target running, source quit; \`query-migrate\` every 50 ms, Corral's policy looks every 250 ms). One guest runs at a time; the runs alternate direction. "Tuned raw" gets the downtime limit Corral's policy ended with; the raw postcopy case switches at the point Corral's policy does (pass ≥ 2, expected downtime over the limit), and the raw Ganeti-like case is cancelled at Corral's deadline (its floor here ${ms(m.deadline_floor_ms)}). Times are medians of the completed runs; downtime and MiB sent are QEMU's own figures (\`query-migrate\`; Corral's from the job's final log line).`,
    "",
    "| case (bandwidth, downtime limit, caps) | Corral: total (runs) | raw: total (runs) | Corral ÷ raw | QEMU total-time Corral · raw | downtime Corral (max) · raw | MiB sent Corral · raw | converged Corral · raw | guest died after it, Corral · raw |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const c of m.cases) {
    lines.push(
      `| ${cell(c.label)} (${cell(params(c))}) | ${opt(c.corral_total_ms)} (${runs(c.corral)}) | ${opt(c.raw_total_ms)} (${runs(c.raw)}) | ${c.ratio === null ? "—" : `**${c.ratio.toFixed(3)}×**`} | ${opt(c.corral_qemu_total_ms)} · ${opt(c.raw_qemu_total_ms)} | ${dt(c.corral_downtime_ms)} (${dt(c.corral_downtime_max_ms)}) · ${dt(c.raw_downtime_ms)} | ${c.corral_mib_sent ?? "—"} · ${c.raw_mib_sent ?? "—"} | ${c.corral_completed}/${c.corral.length} · ${c.raw_completed}/${c.raw.length} | ${c.corral_guest_died ?? 0} · ${c.raw_guest_died ?? 0} |`,
    );
  }
  for (const n of m.not_available) lines.push(`| ${cell(n.label)} | ${cell(n.note)} | | | | | | | |`);
  lines.push("");
  const withStorage = m.cases.filter((c) => c.corral_storage_mibps !== undefined);
  if (withStorage.length > 0) {
    lines.push("The local-disk cases mirror a 1 GiB `file` disk filled with random data (NBD export on the target QEMU, `blockdev-mirror` on the source; mirror start → every mirror in sync, medians) before the memory moves; the totals above include it:");
    lines.push("");
    lines.push("| case | Corral: disk MiB/s | raw: disk MiB/s |");
    lines.push("|---|---|---|");
    for (const c of withStorage) lines.push(`| ${cell(c.label)} | ${c.corral_storage_mibps ?? "—"} | ${c.raw_storage_mibps ?? "—"} |`);
    lines.push("");
  }
  lines.push("Where Corral's time goes (medians of the completed runs, ms from submit; the job's own timestamps, same host clock) against the raw side's target spawn → QMP ready:");
  lines.push("");
  lines.push("| case | job running | target QEMU started (`* migrating instance to`) | memory transfer starts | complete | `* done` | job ended | client sees success | raw: target spawn → QMP ready |");
  lines.push("|---|---|---|---|---|---|---|---|---|");
  const ph = (c: MigrateCase, p: Phase) => opt(c.corral_phases[p]);
  for (const c of m.cases.filter((x) => x.corral_completed > 0)) {
    lines.push(`| ${cell(c.label)} | ${ph(c, "job_started")} | ${ph(c, "target_started")} | ${ph(c, "transfer_started")} | ${ph(c, "transfer_complete")} | ${ph(c, "done")} | ${ph(c, "job_ended")} | ${opt(c.corral_total_ms)} | ${opt(c.raw_target_ready_ms)} |`);
  }
  const cancels = m.cases.flatMap((c) => c.corral.filter((r) => r.outcome !== "completed").map((r) => `${c.id} ${r.from} → ${r.to}: ${r.note}`));
  if (cancels.length) {
    lines.push("");
    lines.push("Corral's migrations that did not complete (as the job says it):");
    lines.push("");
    for (const x of cancels) lines.push(`- ${cell(x)}`);
  }
  const deaths = m.cases.flatMap((c) =>
    (["corral", "raw"] as const).flatMap((side) => c[side].filter((r) => r.guest !== undefined && r.guest !== "alive").map((r) => `${c.id}, ${side}, ${r.from} → ${r.to} (${r.outcome}): ${r.guest}`)));
  if (deaths.length) {
    lines.push("");
    lines.push("Migrations after which the guest did not live on (no heartbeat on the console within 10 s; the guest was then booted again where it was: Corral's stopped at once and started, raw ones reset with `system_reset`):");
    lines.push("");
    for (const x of deaths) lines.push(`- ${cell(x)}`);
  }
  return lines.join("\n") + "\n";
}


// The audit trail's cost on the tag-job burst (issue 15; goal < 5%): two masters side by
// side, one as operators run it and one with --no-audit-trail (the reference), measured in
// alternating rounds (ABBA…, bench/lib/ab.ts) so that drift of the machine falls on both. Each
// round is one unmeasured burst and --bursts measured ones (bench/lib/jobs.ts, the same bursts
// as the main bench). The ratio that counts is the median of the rounds' own ratios (the
// machine drifts over a run by more than the effect); the ratio of medians is shown too.
//
//   source scripts/node-env.sh && node bench/audit.ts [--jobs 500] [--clients 8] [--bursts 3] [--rounds 4] [--profile DIR] [--aa] [--reference-first]
//
// --aa runs both sides without the trail: the ratio then is the noise floor of the method on
// this machine (the check that records were kept is skipped). The master started first came
// out 4–10% dearer in CPU in A/A runs on a loaded machine: --reference-first starts the
// reference first, so that a run of each way shows that bias on both sides.
//
// Writes bench/results/<time>-audit.json and .md.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { abRun, alternating, BURST_OPTIONS, log, median, medianRatio, pairedRatio, round2, type AbSide } from "./lib/ab.ts";
import { Client } from "./lib/http.ts";
import { tagBurstSeries } from "./lib/jobs.ts";
import { describeMachine } from "./lib/machine.ts";
import { cpuSecondsOf } from "./lib/master.ts";

const { values: v } = parseArgs({
  options: {
    ...BURST_OPTIONS,
    profile: { type: "string" },
    aa: { type: "boolean" },
    "reference-first": { type: "boolean" },
  },
});
const jobs = Number(v.jobs);
const clients = Number(v.clients);
const bursts = Number(v.bursts);
const rounds = Number(v.rounds);

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

interface Side extends AbSide {
  jobsPerS: number[];
  cpuMsPerJob: number[];
}

const run = abRun("audit");
async function side(name: string, args: string[]): Promise<Side> {
  const cpuProfDir = v.profile === undefined ? undefined : join(v.profile, name);
  return { ...(await run.side(name, args, cpuProfDir)), jobsPerS: [], cpuMsPerJob: [] };
}

/** CPU by thread (the main thread, the database writer, V8's helpers) so far, clock ticks. */
function threadTicks(s: Side): Record<string, number> {
  const ticks: Record<string, number> = {};
  for (const task of readdirSync(`/proc/${s.master.pid}/task`)) {
    const stat = readFileSync(`/proc/${s.master.pid}/task/${task}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    ticks[name] = (ticks[name] ?? 0) + Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

const startReference = () => side("reference", ["--no-audit-trail"]);
const startedFirst = v["reference-first"] ? await startReference() : undefined;
/**
 * Job waits each side answered per job, from its /metrics: a client waits again after every
 * change it sees, so a master that runs a job's states past slower answers more waits per
 * job — each dearer job then costs more CPU than its own work (the burst amplifies a cost).
 */
async function waitsPerJob(s: Side, jobCount: number): Promise<number> {
  const c = new Client(s.target, 1);
  const r = await c.request("GET", "/metrics");
  c.close();
  let waits = 0;
  for (const line of r.text.split("\n")) {
    if (line.startsWith('corral_http_requests_total{route="/2/jobs/[job_id]/wait"')) waits += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return round2(waits / jobCount);
}

const audited = await side("audited", v.aa ? ["--no-audit-trail"] : []);
const reference = startedFirst ?? (await startReference());
try {
  for (let r = 0; r < rounds; r++) {
    for (const s of alternating(r, audited, reference)) {
      const cpu0 = cpuSecondsOf(s.master.pid);
      const series = await tagBurstSeries(s.target, { jobs, clients, tagPrefix: `bench-audit-${r}-`, timeoutS: 300, repeats: bursts });
      s.jobsPerS.push(series.median.jobs_per_s);
      s.cpuMsPerJob.push(round2(((cpuSecondsOf(s.master.pid) - cpu0) * 1000) / series.job_ids.length));
      log(`audit bench: round ${r + 1} ${s.name}: ${round2(series.median.jobs_per_s)} jobs/s (median of ${bursts}), ${s.cpuMsPerJob.at(-1)} ms CPU/job`);
    }
  }
  const ticks = { audited: threadTicks(audited), reference: threadTicks(reference) };
  const jobCount = rounds * (bursts + 1) * jobs;
  const waits = { audited: await waitsPerJob(audited, jobCount), reference: await waitsPerJob(reference, jobCount) };
  // The audited master really kept the trail: a record per job, every burst's included.
  let records = 0;
  if (!v.aa) {
    const c = new Client(audited.target, 1);
    const [newest] = (await c.json("GET", "/corral/1/audit?limit=1")) as { id: number }[];
    c.close();
    records = newest?.id ?? 0;
    const expected = jobCount;
    if (records < expected) throw new Error(`the audited master has ${records} records, expected at least ${expected}`);
  }
  const result = {
    measure: v.aa ? "A/A: both sides without the audit trail (noise floor)" : "audit trail on the tag-job burst",
    started_first: v["reference-first"] ? "reference" : "audited",
    machine: describeMachine(run.work, join(import.meta.dirname, "..")),
    jobs, clients, bursts, rounds,
    audited: { jobs_per_s: audited.jobsPerS.map(round2), cpu_ms_per_job: audited.cpuMsPerJob, records },
    reference: { jobs_per_s: reference.jobsPerS.map(round2), cpu_ms_per_job: reference.cpuMsPerJob },
    thread_ticks: ticks,
    wait_requests_per_job: waits,
    jobs_ratio: pairedRatio(audited.jobsPerS, reference.jobsPerS),
    cpu_per_job_ratio: pairedRatio(audited.cpuMsPerJob, reference.cpuMsPerJob),
    jobs_ratio_of_medians: medianRatio(audited.jobsPerS, reference.jobsPerS),
    cpu_per_job_ratio_of_medians: medianRatio(audited.cpuMsPerJob, reference.cpuMsPerJob),
    // Both sides run the same jobs each round: the ratio of all the CPU each spent on them.
    cpu_ratio_of_sums: Math.round((sum(audited.cpuMsPerJob) / sum(reference.cpuMsPerJob)) * 1000) / 1000,
  };
  const md = [
    `| ${rounds} rounds, ABBA (medians) | tag jobs/s (median of ${bursts} bursts each) | master CPU ms/job |`,
    "|---|---|---|",
    `| ${v.aa ? "A side (no trail either: --aa)" : "audit trail on"} | ${round2(median(audited.jobsPerS))} | ${median(audited.cpuMsPerJob)} |`,
    `| reference (--no-audit-trail) | ${round2(median(reference.jobsPerS))} | ${median(reference.cpuMsPerJob)} |`,
    `| ${v.aa ? "A ÷ reference" : "audited ÷ reference"}, median of the rounds' ratios | **${result.jobs_ratio}** | **${result.cpu_per_job_ratio}** |`,
    `| ratio of the medians above | ${result.jobs_ratio_of_medians} | ${result.cpu_per_job_ratio_of_medians} |`,
    `| ratio of all the rounds' CPU | | ${result.cpu_ratio_of_sums} |`,
    "",
    `Job waits answered per job: ${waits.audited} audited, ${waits.reference} reference.`,
    "",
    `Started first: ${result.started_first}. CPU by thread over the run (clock ticks): ${JSON.stringify(ticks)}`,
    "",
  ].join("\n");
  run.write(result, md);
  process.stdout.write(md);
} finally {
  await run.close();
}

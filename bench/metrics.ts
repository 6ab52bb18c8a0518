// The cost of Prometheus metrics (issue 15; goal < 5%): two masters side by side, one as
// operators run it and one with --no-metrics (the reference), measured in alternating rounds
// (ABBA…) so that drift of the machine falls on both. Each round, on each master: the tag-job
// burst (bench/lib/jobs.ts, one unmeasured burst and --bursts measured ones) and `wrk` on
// GET /2/info (the hottest read). Throughout, the bench scrapes /metrics on both masters every
// --scrape-ms (1 s, 15× Prometheus' default rate; the reference answers 404), so the
// measured side pays for its scrapes too. Ratios: the median of the metered rounds over the
// reference's.
//
//   source scripts/node-env.sh && node bench/metrics.ts [--jobs 500] [--clients 8] [--bursts 3]
//     [--rounds 4] [--wrk-seconds 10] [--scrape-ms 1000]
//
// Writes bench/results/<time>-metrics.json and .md.

import { join } from "node:path";
import { parseArgs } from "node:util";
import { abRun, alternating, BURST_OPTIONS, log, median, medianRatio, round2, type AbSide } from "./lib/ab.ts";
import { Client } from "./lib/http.ts";
import { tagBurstSeries } from "./lib/jobs.ts";
import { describeMachine } from "./lib/machine.ts";
import { cpuSecondsOf } from "./lib/master.ts";
import { runWrk } from "./lib/wrk.ts";

const { values: v } = parseArgs({
  options: {
    ...BURST_OPTIONS,
    "wrk-seconds": { type: "string", default: "10" },
    "scrape-ms": { type: "string", default: "1000" },
  },
});
const jobs = Number(v.jobs);
const clients = Number(v.clients);
const bursts = Number(v.bursts);
const rounds = Number(v.rounds);
const wrkSeconds = Number(v["wrk-seconds"]);
const scrapeMs = Number(v["scrape-ms"]);

interface Side extends AbSide {
  jobsPerS: number[];
  cpuMsPerJob: number[];
  readsPerS: number[];
  readP99Ms: number[];
  cpuUsPerRead: number[];
  scrapes: { ok: number; other: number };
}

const run = abRun("metrics");
async function side(name: string, args: string[]): Promise<Side> {
  return { ...(await run.side(name, args)), jobsPerS: [], cpuMsPerJob: [], readsPerS: [], readP99Ms: [], cpuUsPerRead: [], scrapes: { ok: 0, other: 0 } };
}

/** Scrapes /metrics on the side's master every scrapeMs, one request at a time, until stopped. */
function scraper(s: Side): () => Promise<void> {
  const c = new Client(s.target, 1);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const r = await c.request("GET", "/metrics").catch(() => undefined);
      if (r?.status === 200) s.scrapes.ok++;
      else s.scrapes.other++;
      await new Promise((resolve) => setTimeout(resolve, scrapeMs));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    c.close();
  };
}

const metered = await side("metered", []);
const reference = await side("reference", ["--no-metrics"]);
const stops = [scraper(metered), scraper(reference)];
try {
  for (let r = 0; r < rounds; r++) {
    for (const s of alternating(r, metered, reference)) {
      const cpu0 = cpuSecondsOf(s.master.pid);
      const series = await tagBurstSeries(s.target, { jobs, clients, tagPrefix: `bench-metrics-${r}-`, timeoutS: 300, repeats: bursts });
      s.jobsPerS.push(series.median.jobs_per_s);
      s.cpuMsPerJob.push(round2(((cpuSecondsOf(s.master.pid) - cpu0) * 1000) / series.job_ids.length));
      const readCpu0 = cpuSecondsOf(s.master.pid);
      const reads = await runWrk({ url: `${s.master.base}/2/info`, connections: 8, threads: 1, durationS: wrkSeconds });
      if (reads.errors.status + reads.errors.timeout > 0) throw new Error(`wrk on ${s.name}: ${JSON.stringify(reads.errors)}`);
      s.readsPerS.push(reads.req_per_s);
      s.readP99Ms.push(reads.latency_ms.p99);
      s.cpuUsPerRead.push(round2(((cpuSecondsOf(s.master.pid) - readCpu0) * 1e6) / reads.requests));
      log(`metrics bench: round ${r + 1} ${s.name}: ${round2(series.median.jobs_per_s)} jobs/s (median of ${bursts}), GET /2/info ${reads.req_per_s} req/s`);
    }
  }
  await Promise.all(stops.map((stop) => stop()));
  if (metered.scrapes.ok === 0 || reference.scrapes.ok > 0) throw new Error(`scrapes: metered ${JSON.stringify(metered.scrapes)}, reference ${JSON.stringify(reference.scrapes)}`);
  const result = {
    measure: "Prometheus metrics on the tag-job burst and GET /2/info",
    machine: describeMachine(run.work, join(import.meta.dirname, "..")),
    jobs, clients, bursts, rounds, wrk_seconds: wrkSeconds, scrape_ms: scrapeMs,
    metered: { jobs_per_s: metered.jobsPerS.map(round2), cpu_ms_per_job: metered.cpuMsPerJob, reads_per_s: metered.readsPerS, read_p99_ms: metered.readP99Ms, cpu_us_per_read: metered.cpuUsPerRead, scrapes: metered.scrapes },
    reference: { jobs_per_s: reference.jobsPerS.map(round2), cpu_ms_per_job: reference.cpuMsPerJob, reads_per_s: reference.readsPerS, read_p99_ms: reference.readP99Ms, cpu_us_per_read: reference.cpuUsPerRead },
    jobs_ratio: medianRatio(metered.jobsPerS, reference.jobsPerS),
    cpu_per_job_ratio: medianRatio(metered.cpuMsPerJob, reference.cpuMsPerJob),
    reads_ratio: medianRatio(metered.readsPerS, reference.readsPerS),
    cpu_per_read_ratio: medianRatio(metered.cpuUsPerRead, reference.cpuUsPerRead),
  };
  const md = [
    `| ${rounds} rounds, ABBA (medians) | tag jobs/s | master CPU ms/job | GET /2/info req/s (wrk -c8, ${wrkSeconds} s) | p99 ms | master CPU µs/read |`,
    "|---|---|---|---|---|---|",
    `| metrics on (scraped every ${scrapeMs} ms) | ${round2(median(metered.jobsPerS))} | ${median(metered.cpuMsPerJob)} | ${median(metered.readsPerS)} | ${median(metered.readP99Ms)} | ${median(metered.cpuUsPerRead)} |`,
    `| reference (--no-metrics) | ${round2(median(reference.jobsPerS))} | ${median(reference.cpuMsPerJob)} | ${median(reference.readsPerS)} | ${median(reference.readP99Ms)} | ${median(reference.cpuUsPerRead)} |`,
    `| metered ÷ reference | **${result.jobs_ratio}** | **${result.cpu_per_job_ratio}** | **${result.reads_ratio}** | | **${result.cpu_per_read_ratio}** |`,
    "",
  ].join("\n");
  run.write(result, md);
  process.stdout.write(md);
} finally {
  await Promise.all(stops.map((stop) => stop()));
  await run.close();
}

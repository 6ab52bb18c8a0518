// The audit trail's cost on the tag-job burst (issue 15): two masters side by side, one as
// operators run it and one with --no-audit-trail (the reference), measured in alternating
// rounds (ABBA…) so that drift of the machine falls on both. Each round is one unmeasured
// burst and --bursts measured ones (bench/lib/jobs.ts, the same bursts as the main bench);
// the ratio is the median of the audited rounds' medians over the reference's.
//
//   source scripts/node-env.sh && node bench/audit.ts [--jobs 500] [--clients 8] [--bursts 3] [--rounds 4] [--profile DIR] [--aa]
//
// --aa runs both sides without the trail: the ratio then is the noise floor of the method on
// this machine (the check that records were kept is skipped).
//
// Writes bench/results/<time>-audit.json and .md.

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ha1Password } from "../src/api/http/users.ts";
import { Client, type Target } from "./lib/http.ts";
import { tagBurstSeries } from "./lib/jobs.ts";
import { describeMachine } from "./lib/machine.ts";
import { cpuSecondsOf, startMasterProc, type RunningMaster } from "./lib/master.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const { values: v } = parseArgs({
  options: {
    jobs: { type: "string", default: "500" },
    clients: { type: "string", default: "8" },
    bursts: { type: "string", default: "3" },
    rounds: { type: "string", default: "4" },
    profile: { type: "string" },
    aa: { type: "boolean" },
  },
});
const jobs = Number(v.jobs);
const clients = Number(v.clients);
const bursts = Number(v.bursts);
const rounds = Number(v.rounds);

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const work = join(HERE, ".work", `audit-${stamp}`);
const usersFile = join(work, "bench-users");
mkdirSync(work, { recursive: true });
writeFileSync(usersFile, `writer ${ha1Password("writer", "writerpass")} write,read\n`, { mode: 0o600 });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const round2 = (x: number) => Math.round(x * 100) / 100;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Side {
  name: "audited" | "reference";
  master: RunningMaster;
  target: Target;
  medians: number[];
  cpuMsPerJob: number[];
}

async function side(name: Side["name"], args: string[]): Promise<Side> {
  const cpuProfDir = v.profile === undefined ? undefined : join(v.profile, name);
  const master = await startMasterProc({ dataDir: join(work, name), port: 0, usersFile, nodeName: "bench-node", args, cpuProfDir });
  return { name, master, target: { base: master.base, auth: "writer:writerpass" }, medians: [], cpuMsPerJob: [] };
}

const audited = await side("audited", v.aa ? ["--no-audit-trail"] : []);
const reference = await side("reference", ["--no-audit-trail"]);
try {
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 === 0 ? [audited, reference] : [reference, audited]) {
      const cpu0 = cpuSecondsOf(s.master.pid);
      const series = await tagBurstSeries(s.target, { jobs, clients, tagPrefix: `bench-audit-${r}-`, timeoutS: 300, repeats: bursts });
      s.medians.push(series.median.jobs_per_s);
      s.cpuMsPerJob.push(round2(((cpuSecondsOf(s.master.pid) - cpu0) * 1000) / series.job_ids.length));
      log(`audit bench: round ${r + 1} ${s.name}: ${round2(series.median.jobs_per_s)} jobs/s (median of ${bursts})`);
    }
  }
  // CPU by thread (the main thread, the database writer, V8's helpers), clock ticks.
  const threads = (s: Side) => {
    const ticks: Record<string, number> = {};
    for (const task of readdirSync(`/proc/${s.master.pid}/task`)) {
      const stat = readFileSync(`/proc/${s.master.pid}/task/${task}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      ticks[name] = (ticks[name] ?? 0) + Number(fields[11]) + Number(fields[12]);
    }
    return ticks;
  };
  const threadTicks = { audited: threads(audited), reference: threads(reference) };
  // The audited master really kept the trail.
  let records = 0;
  if (!v.aa) {
    const c = new Client(audited.target, 1);
    const [newest] = (await c.json("GET", "/corral/1/audit?limit=1")) as { id: number }[];
    c.close();
    records = newest?.id ?? 0;
    const expected = rounds * (bursts + 1) * jobs;
    if (records < expected) throw new Error(`the audited master has ${records} records, expected at least ${expected}`);
  }
  const result = {
    measure: v.aa ? "A/A: both sides without the audit trail (noise floor)" : "audit trail on the tag-job burst",
    machine: describeMachine(work, join(HERE, "..")),
    jobs, clients, bursts, rounds,
    audited: { medians_jobs_per_s: audited.medians.map(round2), cpu_ms_per_job: audited.cpuMsPerJob, records },
    thread_ticks: threadTicks,
    reference: { medians_jobs_per_s: reference.medians.map(round2), cpu_ms_per_job: reference.cpuMsPerJob },
    ratio: Math.round((median(audited.medians) / median(reference.medians)) * 1000) / 1000,
    cpu_ratio: Math.round((median(audited.cpuMsPerJob) / median(reference.cpuMsPerJob)) * 1000) / 1000,
  };
  const md = [
    `| | jobs/s (median of ${rounds} rounds' medians) | master CPU ms/job |`,
    "|---|---|---|",
    `| ${v.aa ? "A side (no trail either: --aa)" : "audit trail on"} | ${round2(median(audited.medians))} | ${median(audited.cpuMsPerJob)} |`,
    `| reference (--no-audit-trail) | ${round2(median(reference.medians))} | ${median(reference.cpuMsPerJob)} |`,
    `| ratio | ${result.ratio} | ${result.cpu_ratio} |`,
    "",
    `CPU by thread over the run (clock ticks): ${JSON.stringify(threadTicks)}`,
    "",
  ].join("\n");
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(join(HERE, "results", `${stamp}-audit.json`), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(HERE, "results", `${stamp}-audit.md`), md);
  process.stdout.write(md);
} finally {
  await audited.master.stop();
  await reference.master.stop();
  rmSync(work, { recursive: true, force: true });
}

// Time to answer capacity (issue 16: GET /corral/1/capacity, hspace's fixed-size allocation)
// next to `hspace -t` on the same cluster, in one run. The clusters are the balancing bench's
// seeded ones (bench/lib/balance-cluster.ts: shared-storage instances, so every placement is
// checked for global N+1, the expensive part), written as htools text files. For each size:
// Corral's capacity() in this process (model, policies and the whole-cluster and per-group
// answers, timed from the text) and `hspace -t FILE --standard-alloc=…` with --hspace-timeout
// seconds; when hspace finishes, both counts must agree.
//
//   source scripts/node-env.sh && node bench/capacity.ts [--sizes 4x20,5x40,8x80]
//     [--memory 4096] [--hspace-timeout 200]
//
// Writes bench/results/<time>-capacity.json and .md.

import { parseArgs } from "node:util";
import { capacity } from "../src/balance/capacity.ts";
import { policiesFromHtoolsText } from "../src/balance/ipolicy.ts";
import { modelFromHtoolsText } from "../src/balance/model.ts";
import { raceHtools, ratioOf, timedTool } from "./lib/htools-race.ts";

const { values: v } = parseArgs({
  options: {
    sizes: { type: "string", default: "4x20,5x40,8x80" },
    memory: { type: "string", default: "4096" },
    "hspace-timeout": { type: "string", default: "200" },
    seed: { type: "string", default: "16" },
  },
});
const memory = Number(v.memory);
const disk = 10240;
const hspaceTimeoutS = Number(v["hspace-timeout"]);

interface HspaceRun {
  seconds: number;
  timedOut: boolean;
  count?: number;
  reason?: string;
}

async function runHspace(file: string): Promise<HspaceRun> {
  const { seconds, timedOut, stdout } = await timedTool("hspace", ["-t", file, "--machine-readable", `--standard-alloc=${disk},${memory},1`], hspaceTimeoutS);
  const count = /^HTS_ALLOC_INSTANCES=(\d+)$/m.exec(stdout)?.[1];
  return { seconds, timedOut, count: count === undefined ? undefined : Number(count), reason: /^HTS_ALLOC_FAIL_REASON=(\w+)$/m.exec(stdout)?.[1] };
}

interface Result {
  nodes: number;
  instances: number;
  corral: { seconds: number; count: number; reason: string | null };
  hspace: HspaceRun;
  ratio: string | number;
}

await raceHtools<Result>({
  bench: "capacity",
  sizes: v.sizes,
  seed: Number(v.seed),
  settings: { memory, disk, hspaceTimeoutS },
  async measure({ nodes, instances, text, file }) {
    const start = process.hrtime.bigint();
    const model = modelFromHtoolsText(text);
    const answer = capacity(model, policiesFromHtoolsText(model, text), { spec: { memory, disk, vcpus: 1 } }).cluster;
    const corralS = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`${nodes} nodes / ${instances} instances: Corral ${corralS.toFixed(2)} s, ${answer.count} more (${answer.failure_reason})`);
    const h = await runHspace(file);
    console.log(`  hspace ${h.timedOut ? `timed out after ${h.seconds.toFixed(0)} s` : `${h.seconds.toFixed(2)} s, ${h.count} more (${h.reason})`}`);
    if (h.count !== undefined && h.count !== answer.count) throw new Error(`counts differ: hspace ${h.count}, Corral ${answer.count}`);
    return { nodes, instances, corral: { seconds: corralS, count: answer.count, reason: answer.failure_reason }, hspace: h, ratio: ratioOf(h, corralS) };
  },
  table: {
    header: [`| cluster | spec | Corral | hspace -t | hspace / Corral | instances that fit (Corral; hspace) |`, `|---|---|---|---|---|---|`],
    row: (r) => {
      const h = r.hspace;
      return `| ${r.nodes} nodes / ${r.instances} instances | ${memory} MiB, ${disk} MiB sharedfile | ${r.corral.seconds.toFixed(2)} s | ${h.timedOut ? `> ${h.seconds.toFixed(0)} s (stopped)` : `${h.seconds.toFixed(2)} s`} | ${r.ratio}× | ${r.corral.count} ${r.corral.reason ?? ""}; ${h.count ?? "—"} ${h.reason ?? ""} |`;
    },
  },
});

// Planning time of the balancer (issue 16; goal: < 10 s for 2,000 nodes / 100,000 instances,
// and faster than hbal on the same cluster). A seeded cluster is generated — nodes of three
// sizes, instances of eight shapes on shared storage (sharedfile, so every instance can move
// to any node), piled more on the first nodes so there is something to balance — and written
// as an htools text file. In the same run: Corral's plan from that file (modelFromHtoolsText
// + planBalance, in this process) and `hbal -t FILE` with the same move limit, each timed from
// start to plan; both must report the same initial score. hbal gets --hbal-timeout seconds
// (it scores every candidate over all nodes, which on a large cluster takes hours).
//
//   source scripts/node-env.sh && node bench/balance.ts [--nodes 2000] [--instances 100000]
//     [--max-moves 5] [--hbal-timeout 600] [--sizes 2000x100000,200x10000]
//
// Writes bench/results/<time>-balance.json and .md.

import { parseArgs } from "node:util";
import { modelFromHtoolsText } from "../src/balance/model.ts";
import { planBalance } from "../src/balance/plan.ts";
import { raceHtools, ratioOf, timedTool } from "./lib/htools-race.ts";

const { values: v } = parseArgs({
  options: {
    sizes: { type: "string", default: "200x10000,2000x100000" },
    "max-moves": { type: "string", default: "5" },
    "hbal-timeout": { type: "string", default: "600" },
    seed: { type: "string", default: "16" },
  },
});
const maxMoves = Number(v["max-moves"]);
const hbalTimeoutS = Number(v["hbal-timeout"]);

interface HbalRun {
  seconds: number;
  timedOut: boolean;
  initial?: number;
  final?: number;
  moves?: number;
}

async function runHbal(file: string): Promise<HbalRun> {
  const { seconds, timedOut, stdout } = await timedTool("hbal", ["-t", file, `--max-length=${maxMoves}`], hbalTimeoutS);
  const initial = /Initial score: ([\d.]+)/.exec(stdout)?.[1];
  const final = /improved from [\d.]+ to ([\d.]+)/.exec(stdout)?.[1] ?? initial;
  return { seconds, timedOut, initial: initial ? Number(initial) : undefined, final: final ? Number(final) : undefined, moves: (stdout.match(/^\s+\d+\. /gm) ?? []).length };
}

interface Result {
  nodes: number;
  instances: number;
  maxMoves: number;
  corral: { seconds: number; moves: number; initial: number; final: number };
  hbal: HbalRun;
  ratio: string | number;
}

await raceHtools<Result>({
  bench: "balance",
  sizes: v.sizes,
  seed: Number(v.seed),
  settings: { maxMoves, hbalTimeoutS },
  async measure({ nodes, instances, text, file }) {
    const start = process.hrtime.bigint();
    const plan = planBalance(modelFromHtoolsText(text), { maxMoves });
    const corralS = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`${nodes} nodes / ${instances} instances: Corral ${corralS.toFixed(2)} s, ${plan.moves.length} moves, ${plan.initial_score.toFixed(8)} -> ${plan.final_score.toFixed(8)}`);
    const h = await runHbal(file);
    console.log(`  hbal ${h.timedOut ? `timed out after ${h.seconds.toFixed(0)} s` : `${h.seconds.toFixed(2)} s, ${h.moves} moves, ${h.initial} -> ${h.final}`}`);
    if (h.initial !== undefined && Math.abs(h.initial - plan.initial_score) > 1e-6) throw new Error(`initial scores differ: hbal ${h.initial}, Corral ${plan.initial_score}`);
    return {
      nodes, instances, maxMoves,
      corral: { seconds: corralS, moves: plan.moves.length, initial: plan.initial_score, final: plan.final_score },
      hbal: h,
      ratio: ratioOf(h, corralS),
    };
  },
  table: {
    header: [`| cluster | moves | Corral plan | hbal -t | hbal / Corral | scores (Corral; hbal) |`, `|---|---|---|---|---|---|`],
    row: (r) => {
      const c = r.corral;
      const h = r.hbal;
      return `| ${r.nodes} nodes / ${r.instances} instances | ≤ ${maxMoves} | ${c.seconds.toFixed(2)} s | ${h.timedOut ? `> ${h.seconds.toFixed(0)} s (stopped)` : `${h.seconds.toFixed(2)} s`} | ${r.ratio}× | ${c.initial.toFixed(6)} → ${c.final.toFixed(6)}; ${h.initial?.toFixed(6) ?? "—"} → ${h.timedOut ? "(stopped)" : (h.final?.toFixed(6) ?? "—")} |`;
    },
  },
});

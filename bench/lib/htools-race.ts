// What the balancing and capacity benches share: for each size of a seeded generated cluster
// (balance-cluster.ts), written as an htools text file, one measure of Corral against the
// htools program on the same file in the same run; then the results as
// bench/results/<time>-<bench>.json and .md.

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateCluster } from "./balance-cluster.ts";
import { describeMachine } from "./machine.ts";

/** An htools program's run: its time from start to exit, and whether the timeout stopped it. */
export interface ToolRun {
  seconds: number;
  timedOut: boolean;
  stdout: string;
}

export function timedTool(tool: string, args: string[], timeoutS: number): Promise<ToolRun> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: timeoutS * 1000, maxBuffer: 64 << 20 }, (err, stdout) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      resolve({ seconds, timedOut: err !== null && (err as { killed?: boolean }).killed === true, stdout });
    });
  });
}

/** "> 12.5" when the program was stopped, else how many times Corral's time it took. */
export function ratioOf(tool: { seconds: number; timedOut: boolean }, corralSeconds: number): string | number {
  return tool.timedOut ? `> ${(tool.seconds / corralSeconds).toFixed(1)}` : Number((tool.seconds / corralSeconds).toFixed(2));
}

export interface HtoolsRace<R> {
  /** The results' file name part: "balance", "capacity". */
  bench: string;
  /** "NODESxINSTANCES,…" */
  sizes: string;
  seed: number;
  /** Both sides on one cluster (`text` is the file's content); throws when they disagree. */
  measure(cluster: { nodes: number; instances: number; text: string; file: string }): Promise<R>;
  /** The markdown table: its header lines and one row per result. */
  table: { header: string[]; row(r: R): string };
  /** Settings recorded beside the results in the JSON. */
  settings: Record<string, unknown>;
}

export async function raceHtools<R>(race: HtoolsRace<R>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `corral-bench-${race.bench}-`));
  const results: R[] = [];
  try {
    for (const size of race.sizes.split(",")) {
      const [nodes, instances] = size.split("x").map(Number);
      const text = generateCluster(nodes, instances, race.seed);
      const file = join(dir, `cluster-${nodes}x${instances}.data`);
      writeFileSync(file, text);
      results.push(await race.measure({ nodes, instances, text, file }));
    }
    const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\..*/, "");
    const out = join(import.meta.dirname, "..", "results");
    mkdirSync(out, { recursive: true });
    const machine = describeMachine(dir, join(import.meta.dirname, "..", ".."));
    writeFileSync(join(out, `${stamp}-${race.bench}.json`), JSON.stringify({ machine, ...race.settings, results }, null, 2) + "\n");
    const md = [...race.table.header, ...results.map((r) => race.table.row(r))].join("\n");
    writeFileSync(join(out, `${stamp}-${race.bench}.md`), md + "\n");
    console.log(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A/B measures of one feature's cost (issue 15: metrics, audit trail): two masters side by
// side from the same build, one as operators run it and one with the feature off, measured
// in alternating rounds (ABBA…) so that drift of the machine falls on both. This is the
// shared part: the work directory and users file, the masters, the round order, the results.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ha1Password } from "../../src/api/http/users.ts";
import type { Target } from "./http.ts";
import { startMasterProc, type RunningMaster } from "./master.ts";

const BENCH_DIR = fileURLToPath(new URL("..", import.meta.url));

/** The tag-job burst's options every A/B bench takes (parseArgs form). */
export const BURST_OPTIONS = {
  jobs: { type: "string", default: "500" },
  clients: { type: "string", default: "8" },
  bursts: { type: "string", default: "3" },
  rounds: { type: "string", default: "4" },
} as const;

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
export const round2 = (x: number) => Math.round(x * 100) / 100;
/** median(a) ÷ median(b), three decimals. */
export const medianRatio = (a: readonly number[], b: readonly number[]) => Math.round((median(a) / median(b)) * 1000) / 1000;
/**
 * The median of the rounds' own ratios a[i] ÷ b[i], three decimals. The two sides of a round
 * run back to back, so this follows the machine's drift over a run (warm-up, other work) that
 * a ratio of the sides' medians mixes into the result.
 */
export const pairedRatio = (a: readonly number[], b: readonly number[]) => Math.round(median(a.map((x, i) => x / b[i])) * 1000) / 1000;
export const log = (line: string) => process.stderr.write(`${line}\n`);

export interface AbSide {
  readonly name: string;
  readonly master: RunningMaster;
  /** As the bench's write user. */
  readonly target: Target;
}

export interface AbRun {
  /** The bench's own scratch directory (under bench/.work/), removed by close(). */
  readonly work: string;
  /** Starts a master of its own with `args` added to `corral master`. */
  side(name: string, args: readonly string[], cpuProfDir?: string): Promise<AbSide>;
  /** Writes <time>-<kind>.json and .md to bench/results/ (or the directory abRun was given). */
  write(result: object, markdown: string): void;
  /** Stops the masters and removes the scratch directory. */
  close(): Promise<void>;
}

export function abRun(kind: string, resultsDir = join(BENCH_DIR, "results")): AbRun {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const work = join(BENCH_DIR, ".work", `${kind}-${stamp}`);
  const usersFile = join(work, "bench-users");
  mkdirSync(work, { recursive: true });
  writeFileSync(usersFile, `writer ${ha1Password("writer", "writerpass")} write,read\n`, { mode: 0o600 });
  const sides: AbSide[] = [];
  return {
    work,
    async side(name, args, cpuProfDir) {
      const master = await startMasterProc({ dataDir: join(work, name), port: 0, usersFile, nodeName: "bench-node", args: [...args], cpuProfDir });
      const s = { name, master, target: { base: master.base, auth: "writer:writerpass" } };
      sides.push(s);
      return s;
    },
    write(result, markdown) {
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(join(resultsDir, `${stamp}-${kind}.json`), JSON.stringify(result, null, 2) + "\n");
      writeFileSync(join(resultsDir, `${stamp}-${kind}.md`), markdown);
    },
    async close() {
      for (const s of sides) await s.master.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** The sides in ABBA order: round 0 a, b; round 1 b, a; … */
export function alternating<T>(round: number, a: T, b: T): [T, T] {
  return round % 2 === 0 ? [a, b] : [b, a];
}

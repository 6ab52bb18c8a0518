// The progress lines a job's log carries while a migration or a disk mirror runs
// (src/ops/instance/migrate.ts writes them, Ganeti's wording): read back by the command line's
// progress bar and the web console's, from this one definition.

export interface ProgressLine {
  /** "memory transfer" or "disk mirror". */
  topic: string;
  percent: number;
  /** What the parentheses say (MiB sent, pass, dirty rate, …). */
  detail: string;
}

const PROGRESS = /^\* (memory transfer|disk mirror) progress: ([\d.]+) % \((.*)\)$/;

export function parseProgressLine(message: unknown): ProgressLine | null {
  const m = typeof message === "string" ? PROGRESS.exec(message) : null;
  return m ? { topic: m[1], percent: Math.min(100, Number(m[2])), detail: m[3] } : null;
}

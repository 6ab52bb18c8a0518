// Small file-system helpers the agent's state needs: atomic JSON writes, safe reads.

import { mkdir, open, readFile, rename, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";

let tmpCounter = 0;

/**
 * Writes JSON so that a crash leaves either the old or the new content, never half of it.
 * With `sync`, the new content is on disk when this resolves (file and directory synced).
 */
export async function writeJsonAtomic(file: string, value: unknown, opts: { sync?: boolean } = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${++tmpCounter}`;
  const text = JSON.stringify(value, null, 1) + "\n";
  if (!opts.sync) await writeFile(tmp, text, { mode: 0o600 });
  else {
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await rename(tmp, file);
  if (opts.sync) {
    const dir = await open(dirname(file), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

/** Reads a JSON file; `fallback` when it does not exist. A corrupt file is an error. */
export async function readJson<T>(file: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return fallback;
    throw err;
  }
  return JSON.parse(text) as T;
}

export function readJsonSync<T>(file: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return fallback;
    throw err;
  }
  return JSON.parse(text) as T;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** "20240131123456" style stamp for log file names (Ganeti's TimestampForFilename). */
export function timestampForFilename(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}_${p(now.getHours())}_${p(now.getMinutes())}_${p(now.getSeconds())}_${p(now.getMilliseconds(), 3)}`;
}

// Script directories found through a search path (OS definitions, ExtStorage providers):
// Ganeti checks both the same way: a directory named after the thing, holding regular files,
// the scripts among them executable, with a readable reason when something is off.

import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { errText, isErrno } from "./fsutil.ts";

/** One file a definition may hold. */
export interface FileRule {
  file: string;
  required: boolean;
  executable: boolean;
}

export type FileCheck = { ok: true; present: Map<string, string> } | { ok: false; diagnose: string };

/** The first `<base>/<name>` directory along the search path, or null. */
export async function findInSearchPath(name: string, searchPath: string[]): Promise<string | null> {
  for (const base of searchPath) {
    try {
      if ((await stat(join(base, name))).isDirectory()) return join(base, name);
    } catch {
      // not in this one
    }
  }
  return null;
}

/** Checks the files of a definition; `present` maps each file found to its full path. */
export async function checkFiles(dir: string, rules: FileRule[]): Promise<FileCheck> {
  const present = new Map<string, string>();
  for (const { file, required, executable } of rules) {
    const full = join(dir, file);
    let st;
    try {
      st = await stat(full);
    } catch (err) {
      if (!required && isErrno(err, "ENOENT")) continue;
      return { ok: false, diagnose: `File '${file}' under path '${dir}' is missing (${errText(err)})` };
    }
    if (!st.isFile()) return { ok: false, diagnose: `File '${file}' under path '${dir}' is not a regular file` };
    if (executable && (st.mode & 0o100) === 0) {
      return { ok: false, diagnose: `File '${file}' under path '${dir}' is not executable` };
    }
    present.set(file, full);
  }
  return { ok: true, present };
}

/** Visible directory names under each base of the search path, as [base, name] pairs. */
export async function listDefinitions(searchPath: string[]): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const base of searchPath) {
    let names: string[];
    try {
      names = (await readdir(base)).filter((n) => !n.startsWith(".")).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if ((await findInSearchPath(name, [base])) !== null) out.push([base, name]);
    }
  }
  return out;
}

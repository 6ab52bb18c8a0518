// OS definitions (Ganeti's OS API, versions 10/15/20): a directory named after the OS in a
// search path with the scripts create, import, export, rename (and verify from API 20) and
// the files ganeti_api_version, variants.list (optional) and parameters.list (API 20).

import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { OsDiagnosis } from "../../rpc/calls.ts";
import { parseParameterList } from "../util/paramlist.ts";
import { checkFiles, findInSearchPath, listDefinitions, type FileRule } from "../util/definitions.ts";
import { errText } from "../util/fsutil.ts";

export const OS_API_VERSIONS = [10, 15, 20] as const;
export const OS_API_FILE = "ganeti_api_version";
export const OS_VARIANTS_FILE = "variants.list";
export const OS_PARAMETERS_FILE = "parameters.list";

export const OS_SCRIPTS = ["create", "create_untrusted", "import", "export", "rename", "verify"] as const;
export type OsScript = (typeof OS_SCRIPTS)[number];

export interface OsDefinition {
  name: string;
  path: string;
  apiVersions: number[];
  /** The version the environment follows: the highest both sides know. */
  apiVersion: number;
  scripts: Partial<Record<OsScript, string>>;
  variants: string[];
  parameters: [string, string][];
}

export type OsLookup = { ok: true; os: OsDefinition } | { ok: false; diagnose: string };

/** "debootstrap+buster" → ["debootstrap", "buster"]; no "+" → [name, ""]. */
export function splitOsName(full: string): [string, string] {
  const i = full.indexOf("+");
  return i < 0 ? [full, ""] : [full.slice(0, i), full.slice(i + 1)];
}

/** Finds and checks an OS definition by bare name (Ganeti's _TryOSFromDisk). */
export async function osFromDisk(name: string, searchPath: string[]): Promise<OsLookup> {
  const dir = await findInSearchPath(name, searchPath);
  if (!dir) return { ok: false, diagnose: `Directory for OS ${name} not found in search path` };

  const apiFile = join(dir, OS_API_FILE);
  let apiText: string;
  try {
    const st = await stat(apiFile);
    if (!st.isFile()) return { ok: false, diagnose: `File '${OS_API_FILE}' in ${dir} is not a regular file` };
    apiText = await readFile(apiFile, "utf8");
  } catch (err) {
    return { ok: false, diagnose: `Required file '${OS_API_FILE}' not found under path ${dir}: ${errText(err)}` };
  }
  const apiLines = apiText.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (apiLines.some((l) => !/^\d+$/.test(l))) {
    return { ok: false, diagnose: `API version(s) can't be converted to integer: ${JSON.stringify(apiLines)}` };
  }
  const apiVersions = apiLines.map(Number);
  const common = apiVersions.filter((v) => (OS_API_VERSIONS as readonly number[]).includes(v));
  if (common.length === 0) {
    return {
      ok: false,
      diagnose: `API version mismatch for path '${dir}': found [${apiVersions.join(", ")}], want [${OS_API_VERSIONS.join(", ")}].`,
    };
  }
  const apiVersion = Math.max(...common);
  const newest = Math.max(...apiVersions);

  const rules: FileRule[] = [
    { file: "create", required: false, executable: true },
    { file: "create_untrusted", required: false, executable: true },
    { file: "import", required: true, executable: true },
    { file: "export", required: true, executable: true },
    { file: "rename", required: true, executable: true },
  ];
  if (newest >= 20) {
    rules.push({ file: "verify", required: true, executable: true }, { file: OS_PARAMETERS_FILE, required: true, executable: false });
  }
  if (newest >= 15) rules.push({ file: OS_VARIANTS_FILE, required: false, executable: false });
  const checked = await checkFiles(dir, rules);
  if (!checked.ok) return checked;
  const present = checked.present;
  const scripts: Partial<Record<OsScript, string>> = {};
  for (const script of OS_SCRIPTS) {
    const path = present.get(script);
    if (path) scripts[script] = path;
  }
  if (!scripts.create && !scripts.create_untrusted) {
    return { ok: false, diagnose: `A create script (trusted or untrusted) under path '${dir}' must exist` };
  }

  let variants: string[] = [];
  if (present.has(OS_VARIANTS_FILE)) {
    try {
      variants = (await readFile(join(dir, OS_VARIANTS_FILE), "utf8"))
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
    } catch (err) {
      return { ok: false, diagnose: `Error while reading the OS variants file at ${dir}: ${errText(err)}` };
    }
  }
  let parameters: [string, string][] = [];
  if (present.has(OS_PARAMETERS_FILE)) {
    try {
      parameters = parseParameterList(await readFile(join(dir, OS_PARAMETERS_FILE), "utf8"));
    } catch (err) {
      return { ok: false, diagnose: `Error while reading the OS parameters file at ${dir}: ${errText(err)}` };
    }
  }
  return { ok: true, os: { name, path: dir, apiVersions, apiVersion, scripts, variants, parameters } };
}

/** Every directory in the search path as a (possibly invalid) OS (Ganeti's DiagnoseOS). */
export async function diagnoseOs(searchPath: string[]): Promise<OsDiagnosis[]> {
  const out: OsDiagnosis[] = [];
  for (const [base, name] of await listDefinitions(searchPath)) {
    const found = await osFromDisk(name, [base]);
    out.push(
      found.ok
        ? {
            name,
            path: found.os.path,
            valid: true,
            diagnose: "",
            variants: found.os.variants,
            parameters: found.os.parameters,
            api_versions: found.os.apiVersions,
          }
        : { name, path: join(base, name), valid: false, diagnose: found.diagnose, variants: [], parameters: [], api_versions: [] },
    );
  }
  return out;
}

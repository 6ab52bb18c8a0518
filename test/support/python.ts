// Runs a Python script of test/clients (Ganeti's official RAPI client drives Corral there).

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { requireTools } from "./tools.ts";

/** Debian's own Python: python3-ganeti-rapi installs into its dist-packages, which no other Python reads. */
export const PYTHON = "/usr/bin/python3";
export const RAPI_CLIENT = "/usr/lib/python3/dist-packages/ganeti/rapi/client.py";

/** What the official-client suites need: Debian's python3 and python3-ganeti-rapi. */
export const officialClient = () =>
  requireTools({ files: [{ path: PYTHON, package: "python3" }, { path: RAPI_CLIENT, package: "python3-ganeti-rapi" }] });

export function runPython(script: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [fileURLToPath(new URL(`../clients/${script}`, import.meta.url)), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, out: stdout + stderr });
    });
  });
}

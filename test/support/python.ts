// Runs a Python script of test/clients (Ganeti's official RAPI client drives Corral there).

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const PYTHON = "/usr/bin/python3";

export function runPython(script: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [fileURLToPath(new URL(`../clients/${script}`, import.meta.url)), ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, out: stdout + stderr });
    });
  });
}

// The real Ganeti 3.0 of shared/tools/ganeti-reference: up.sh brings up a single-node cluster
// (fake hypervisor) with RAPI on https://127.0.0.1:5080, down.sh stops exactly what up.sh
// started. Shared by the tests that compare with it and the bench. Never send it a node
// powercycle: with the fake hypervisor, Ganeti powercycles the machine it runs on.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REFERENCE_RAPI = "https://127.0.0.1:5080";

export function referenceToolDir(): string {
  return process.env.GANETI_REFERENCE_DIR ?? fileURLToPath(new URL("../../../shared/tools/ganeti-reference", import.meta.url));
}

/** Runs one of the tool's scripts (as root, or through sudo -n). */
export function runReferenceScript(script: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ["bash", [script, ...args]] : ["sudo", ["-n", "--preserve-env=ANCHOR_NO_APT", "bash", script, ...args]];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${script} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/** What GET /2/info's vcs_version says at the reference's address, or null when nothing answers. */
export function referenceVersion(): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(`${REFERENCE_RAPI}/2/info`, { rejectUnauthorized: false, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(String((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { vcs_version?: unknown }).vcs_version ?? ""));
        } catch {
          resolve(null);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(null));
    req.end();
  });
}

export interface Reference {
  /** We started it (and stop it again); false when it already ran. */
  started: boolean;
  stop(): Promise<void>;
}

/**
 * The reference, started with up.sh when nothing answers at its address (the first time
 * installs Debian's Ganeti packages: half a minute to two). Rejects with up.sh's output when
 * it cannot start, or when something that is not Ganeti holds the address.
 */
export async function startReference(log: (s: string) => void = () => undefined): Promise<Reference> {
  let version = await referenceVersion();
  let started = false;
  if (version === null) {
    const tool = referenceToolDir();
    if (!existsSync(join(tool, "up.sh"))) throw new Error(`the Ganeti reference tool is not at ${tool} (set GANETI_REFERENCE_DIR)`);
    log(`starting real Ganeti with ${tool}/up.sh`);
    await runReferenceScript(join(tool, "up.sh"), [], {}, 15 * 60_000);
    started = true;
    version = await referenceVersion();
  }
  if (!version?.startsWith("(ganeti)")) throw new Error(`${REFERENCE_RAPI} is not real Ganeti (vcs_version ${JSON.stringify(version)})`);
  return {
    started,
    stop: async () => {
      if (started) await runReferenceScript(join(referenceToolDir(), "down.sh"), [], {}, 5 * 60_000);
    },
  };
}

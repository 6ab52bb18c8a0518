// Runs the admin commands (admin/program.ts) and turns their failures into exit codes: 0,
// 1 when the cluster refused or a job failed, 2 for a usage error.

import { CommanderError } from "commander";
import { RapiError } from "../../client/rapi.ts";
import { JobFailure } from "./follow.ts";
import { UsageError } from "./params.ts";
import { adminProgram } from "./program.ts";
import { FilterSyntaxError } from "./qfilter.ts";

export async function runAdmin(argv: string[]): Promise<void> {
  try {
    await adminProgram("corral node-agent").parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed it
    if (err instanceof UsageError || err instanceof FilterSyntaxError) {
      process.stderr.write(`corral: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof JobFailure) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    if (err instanceof RapiError) {
      // A token's refusal says what its grants lack; the hint is for users without write access.
      const hint = err.code === 403 && !err.message.startsWith("API token") ? "; this needs a RAPI user with write access (--user, or the config file)" : "";
      process.stderr.write(`corral: ${err.code} ${err.message}${err.explain ? ` (${err.explain})` : ""}${hint}\n`);
      process.exit(1);
    }
    process.stderr.write(`corral: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

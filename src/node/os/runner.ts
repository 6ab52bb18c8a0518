// Runs an instance's OS scripts: find the definition, build the environment, run the script
// in the definition's directory with output to a per-run log, and report failures with the
// log's last lines (as Ganeti's InstanceOsAdd does).

import { join } from "node:path";
import type { ParamDict } from "../../model/objects.ts";
import type { AttachedDisk, InstanceSpec, OsDiagnosis } from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { ECODE } from "../../model/errors.ts";
import { failReason, runScript, scriptFailed, tailFile, type ScriptResult } from "../util/exec.ts";
import { errText, timestampForFilename } from "../util/fsutil.ts";
import { checkName } from "../util/names.ts";
import { diagnoseOs, osFromDisk, splitOsName, type OsDefinition, type OsScript } from "./definition.ts";
import { osCoreEnv, osEnvironment } from "./environment.ts";

export interface OsRunnerOptions {
  searchPath: string[];
  logDir: string;
  /** Limit for one script run (default 4 hours, like Ganeti's RPC_TMO_4HRS). */
  timeoutMs?: number;
}

export class OsRunner {
  readonly searchPath: string[];
  private readonly logDir: string;
  private readonly timeoutMs: number;

  constructor(opts: OsRunnerOptions) {
    this.searchPath = opts.searchPath;
    this.logDir = opts.logDir;
    this.timeoutMs = opts.timeoutMs ?? 4 * 3600 * 1000;
  }

  diagnose(): Promise<OsDiagnosis[]> {
    return diagnoseOs(this.searchPath);
  }

  /** The definition for "name" or "name+variant"; InvalidOS when missing or broken. */
  async find(fullName: string): Promise<OsDefinition> {
    const [name] = splitOsName(checkName(fullName, "OS name"));
    const found = await osFromDisk(name, this.searchPath);
    if (!found.ok) throw new AgentError(AGENT_ERRORS.invalidOs, found.diagnose, ECODE.environ);
    return found.os;
  }

  /** Runs create (reinstall sets INSTANCE_REINSTALL=1); returns the log file. */
  async create(inst: InstanceSpec, disks: AttachedDisk[], reinstall: boolean, debug: number): Promise<string> {
    const os = await this.find(inst.os);
    const env = osEnvironment(inst, os, debug, disks);
    if (reinstall) env.INSTANCE_REINSTALL = "1";
    const script = os.scripts.create ?? os.scripts.create_untrusted!;
    const logFile = this.logName("add", inst.os, inst.name);
    await this.run(os, "create", script, [], env, logFile);
    return logFile;
  }

  async rename(inst: InstanceSpec, oldName: string, disks: AttachedDisk[], debug: number): Promise<string> {
    const os = await this.find(inst.os);
    const env = osEnvironment(inst, os, debug, disks);
    env.OLD_INSTANCE_NAME = oldName;
    const logFile = this.logName("rename", inst.os, `${oldName}-${inst.name}`);
    await this.run(os, "rename", os.scripts.rename!, [], env, logFile);
    return logFile;
  }

  /** Runs the export script of disk `index`; its output becomes `outFile` (sparse). */
  exportDisk(inst: InstanceSpec, disks: AttachedDisk[], index: number, outFile: string, debug: number): Promise<string> {
    return this.diskTransfer("export", inst, disks, index, { stdoutFile: outFile }, debug);
  }

  /** Runs the import script of disk `index` with `inFile` (an export's dump) on stdin. */
  importDisk(inst: InstanceSpec, disks: AttachedDisk[], index: number, inFile: string, debug: number): Promise<string> {
    return this.diskTransfer("import", inst, disks, index, { stdinFile: inFile }, debug);
  }

  /** Ganeti's IEIO_SCRIPT: the OS environment plus <MODE>_DEVICE, _DISK_PATH and _INDEX. */
  private async diskTransfer(
    mode: "export" | "import",
    inst: InstanceSpec,
    disks: AttachedDisk[],
    index: number,
    io: { stdinFile?: string; stdoutFile?: string },
    debug: number,
  ): Promise<string> {
    const os = await this.find(inst.os);
    const env = osEnvironment(inst, os, debug, disks);
    const prefix = mode.toUpperCase();
    const path = disks[index]?.path;
    if (path) {
      env[`${prefix}_DEVICE`] = path;
      env[`${prefix}_DISK_PATH`] = path;
    }
    env[`${prefix}_INDEX`] = String(index);
    const logFile = this.logName(mode, inst.os, `${inst.name}-${index}`);
    await this.run(os, mode, os.scripts[mode]!, [], env, logFile, io);
    return logFile;
  }

  /** Ganeti's ValidateOS: unknown parameters fail; then `verify <checks>` must succeed. */
  async validate(fullName: string, osparams: ParamDict, checks: string[]): Promise<void> {
    const os = await this.find(fullName);
    if (os.apiVersion < 20) return; // parameters and verify exist from API 20 on
    if (checks.includes("parameters")) {
      const known = new Set(os.parameters.map(([n]) => n));
      const unknown = Object.keys(osparams).filter((p) => !known.has(p));
      if (unknown.length > 0) {
        throw new AgentError(
          AGENT_ERRORS.invalidOs,
          `The following parameters are not supported by the OS ${os.name}: ${unknown.join(", ")}`,
          ECODE.inval,
        );
      }
    }
    const env = osCoreEnv(fullName, os, osparams, 0);
    const result = await this.exec(os, os.scripts.verify!, checks, env);
    if (scriptFailed(result)) {
      throw new AgentError(
        AGENT_ERRORS.osScript,
        `OS validation script failed (${failReason(result, this.timeoutMs)}), output: ${result.output.trim()}`,
        ECODE.inval,
      );
    }
  }

  private logName(kind: string, osName: string, what: string): string {
    return join(this.logDir, `${kind}-${osName}-${what}-${timestampForFilename()}.log`);
  }

  private async run(
    os: OsDefinition,
    what: OsScript,
    script: string,
    args: string[],
    env: Record<string, string>,
    logFile: string,
    io: { stdinFile?: string; stdoutFile?: string } = {},
  ): Promise<void> {
    const result = await this.exec(os, script, args, env, logFile, io);
    if (scriptFailed(result)) {
      const lines = await tailFile(logFile, 20);
      throw new AgentError(
        AGENT_ERRORS.osScript,
        `OS ${what} script failed (${failReason(result, this.timeoutMs)}), last lines in the log file:\n${lines.join("\n")}`,
      );
    }
  }

  private async exec(
    os: OsDefinition,
    script: string,
    args: string[],
    env: Record<string, string>,
    logFile?: string,
    io: { stdinFile?: string; stdoutFile?: string } = {},
  ): Promise<ScriptResult> {
    try {
      return await runScript({ path: script, args, env, cwd: os.path, logFile, timeoutMs: this.timeoutMs, ...io });
    } catch (err) {
      throw new AgentError(AGENT_ERRORS.osScript, `Could not run ${script}: ${errText(err)}`);
    }
  }
}

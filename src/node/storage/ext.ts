// The ext template: volumes managed by ExtStorage providers (Ganeti's ExtStorage interface).
// A provider is a directory named after it in a search path, with executable scripts create,
// attach, detach, remove, grow, setinfo, verify (open, close, snapshot optional) and a
// parameters.list file. Scripts get their input only from the environment: VOL_NAME,
// VOL_SIZE, VOL_NEW_SIZE, VOL_METADATA, VOL_CNAME, VOL_UUID and EXTP_<param>.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ECODE } from "../../model/errors.ts";
import type { AttachedDisk, DiskSpec, DiskStatus, ExtStorageDiagnosis, StorageUnitInfo } from "../../rpc/calls.ts";
import { checkFiles, findInSearchPath, listDefinitions } from "../util/definitions.ts";
import { errText, timestampForFilename } from "../util/fsutil.ts";
import { failReason, runScript, SCRIPT_PATH, scriptFailed, tailFile } from "../util/exec.ts";
import { checkName } from "../util/names.ts";
import { parseParameterList } from "../util/paramlist.ts";
import { bdevError, checkSize, logicalIdPair, type DiskBackend, type DiskContext } from "./backend.ts";

export const ES_REQUIRED_SCRIPTS = ["create", "attach", "detach", "remove", "grow", "setinfo", "verify"] as const;
export const ES_OPTIONAL_SCRIPTS = ["open", "close", "snapshot"] as const;
export const ES_PARAMETERS_FILE = "parameters.list";

type EsAction = (typeof ES_REQUIRED_SCRIPTS)[number] | (typeof ES_OPTIONAL_SCRIPTS)[number];

/** Disk params that configure Ganeti itself rather than the provider. */
const NON_PROVIDER_PARAMS = new Set(["provider", "access"]);

export interface ExtStorageProvider {
  name: string;
  path: string;
  scripts: Partial<Record<EsAction, string>>;
  parameters: [string, string][];
}

export type ProviderLookup = { ok: true; provider: ExtStorageProvider } | { ok: false; diagnose: string };

/** Finds and checks a provider (Ganeti's ExtStorageFromDisk). */
export async function extStorageFromDisk(name: string, searchPath: string[]): Promise<ProviderLookup> {
  const dir = await findInSearchPath(name, searchPath);
  if (!dir) return { ok: false, diagnose: `Directory for External Storage Provider ${name} not found in search path` };
  const checked = await checkFiles(dir, [
    ...ES_REQUIRED_SCRIPTS.map((file) => ({ file, required: true, executable: true })),
    ...ES_OPTIONAL_SCRIPTS.map((file) => ({ file, required: false, executable: true })),
    { file: ES_PARAMETERS_FILE, required: true, executable: false },
  ]);
  if (!checked.ok) return checked;
  const scripts: Partial<Record<EsAction, string>> = {};
  for (const action of [...ES_REQUIRED_SCRIPTS, ...ES_OPTIONAL_SCRIPTS]) {
    const path = checked.present.get(action);
    if (path) scripts[action] = path;
  }
  let parameters: [string, string][];
  try {
    parameters = parseParameterList(await readFile(join(dir, ES_PARAMETERS_FILE), "utf8"));
  } catch (err) {
    return { ok: false, diagnose: `Error while reading the EXT parameters file at ${dir}: ${errText(err)}` };
  }
  return { ok: true, provider: { name, path: dir, scripts, parameters } };
}

/** Every directory in the search path as a (possibly invalid) provider. */
export async function diagnoseExtStorage(searchPath: string[]): Promise<ExtStorageDiagnosis[]> {
  const out: ExtStorageDiagnosis[] = [];
  for (const [base, name] of await listDefinitions(searchPath)) {
    const found = await extStorageFromDisk(name, [base]);
    out.push(
      found.ok
        ? { name, path: found.provider.path, valid: true, diagnose: "", parameters: found.provider.parameters }
        : { name, path: join(base, name), valid: false, diagnose: found.diagnose, parameters: [] },
    );
  }
  return out;
}

export interface ExtStorageOptions {
  searchPath: string[];
  /** Where each script run's output goes. */
  logDir: string;
  timeoutMs?: number;
}

interface ActionExtras {
  size?: number;
  grow?: number;
  metadata?: string;
}

export class ExtStorageBackend implements DiskBackend {
  readonly template = "ext";
  private readonly searchPath: string[];
  private readonly logDir: string;
  private readonly timeoutMs: number;

  constructor(opts: ExtStorageOptions) {
    this.searchPath = opts.searchPath;
    this.logDir = opts.logDir;
    this.timeoutMs = opts.timeoutMs ?? 10 * 60 * 1000;
  }

  async create(disk: DiskSpec, ctx: DiskContext): Promise<{ logical_id: unknown[]; path: string | null }> {
    const size = checkSize(disk.size, "Disk size");
    const given = logicalIdPair(disk, this.template);
    const provider = given?.[0] ?? disk.params.provider;
    if (typeof provider !== "string" || provider === "") {
      throw bdevError("An ext disk needs a provider (disk param 'provider' or logical_id[0])", ECODE.inval);
    }
    const id: [string, string] = [provider, given?.[1] ?? `${checkName(disk.uuid, "disk uuid")}.ext.disk${ctx.index}`];
    const withId = { ...disk, logical_id: id };
    await this.action("create", withId, { size });
    const attached = await this.attach(withId);
    if (ctx.info) await this.setInfo(withId, ctx.info);
    return { logical_id: id, path: attached.path };
  }

  async remove(disk: DiskSpec): Promise<void> {
    await this.action("detach", disk);
    await this.action("remove", disk);
  }

  async grow(disk: DiskSpec, amount: number, dryRun: boolean): Promise<number> {
    checkSize(amount, "Grow amount");
    const size = checkSize(disk.size, "Disk size");
    // Providers cannot dry-run; Ganeti skips the script too.
    if (!dryRun) await this.action("grow", disk, { size, grow: size + amount });
    return size + amount;
  }

  async rename(disk: DiskSpec): Promise<unknown[]> {
    // Volume names carry no instance name, so Ganeti's ExtStorage rename does nothing.
    return this.volumeId(disk);
  }

  async attach(disk: DiskSpec): Promise<AttachedDisk> {
    const stdout = await this.action("attach", disk);
    const lines = stdout.split("\n");
    const path = lines[0]?.trim() ?? "";
    const uris = lines.slice(1).map((l) => l.trim()).filter((l) => l !== "");
    if (path === "" && uris.length === 0) {
      throw bdevError(`ExtStorage attach of ${this.volumeId(disk)[1]} returned neither a device path nor a URI`);
    }
    return { path: path === "" ? null : path, uris };
  }

  async detach(disk: DiskSpec): Promise<void> {
    await this.action("detach", disk);
  }

  async setInfo(disk: DiskSpec, info: string): Promise<void> {
    await this.action("setinfo", disk, { metadata: info });
  }

  async find(disk: DiskSpec): Promise<DiskStatus> {
    // Like Ganeti, finding an ext volume means attaching it (attach is idempotent).
    try {
      const a = await this.attach(disk);
      return { exists: true, size: null, path: a.path };
    } catch {
      return { exists: false, size: null, path: null };
    }
  }

  async spaceInfo(): Promise<StorageUnitInfo | null> {
    return null; // Ganeti reports no space for ext either
  }

  private volumeId(disk: DiskSpec): [string, string] {
    const pair = logicalIdPair(disk, this.template);
    if (!pair) throw bdevError("An ext disk needs a logical_id [provider, volume]", ECODE.inval);
    return [checkName(pair[0], "ExtStorage provider"), checkName(pair[1], "volume name")];
  }

  /** Runs one provider script; returns its stdout for attach, "" otherwise. */
  private async action(action: EsAction, disk: DiskSpec, extras: ActionExtras = {}): Promise<string> {
    const [providerName, volume] = this.volumeId(disk);
    const found = await extStorageFromDisk(providerName, this.searchPath);
    if (!found.ok) throw bdevError(found.diagnose, ECODE.environ);
    const script = found.provider.scripts[action];
    if (!script) return ""; // optional action the provider does not implement

    const env: Record<string, string> = { PATH: SCRIPT_PATH, VOL_NAME: volume };
    for (const [key, value] of Object.entries(disk.params ?? {})) {
      if (NON_PROVIDER_PARAMS.has(key)) continue;
      if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw bdevError(`Invalid ExtStorage parameter name '${key}'`, ECODE.inval);
      env[`EXTP_${key.toUpperCase()}`] = typeof value === "string" ? value : JSON.stringify(value);
    }
    if (extras.size !== undefined) env.VOL_SIZE = String(extras.size);
    if (extras.grow !== undefined) env.VOL_NEW_SIZE = String(extras.grow);
    if (extras.metadata !== undefined) env.VOL_METADATA = extras.metadata;
    if (disk.name) env.VOL_CNAME = disk.name;
    if (disk.uuid) env.VOL_UUID = disk.uuid;

    const logFile = join(this.logDir, `${action}-${providerName}-${volume}-${timestampForFilename()}.log`);
    const capture = action === "attach";
    const result = await runScript({
      path: script,
      env,
      cwd: found.provider.path,
      logFile,
      captureStdout: capture,
      timeoutMs: this.timeoutMs,
    }).catch((err: unknown) => {
      throw bdevError(`External storage's ${action} script could not run: ${errText(err)}`);
    });
    if (scriptFailed(result)) {
      const lines = await tailFile(logFile, 20);
      throw bdevError(
        `External storage's ${action} script failed (${failReason(result, this.timeoutMs)}), last lines of output:\n${lines.join("\n")}`,
      );
    }
    return capture ? result.stdout : "";
  }
}

// Instance exports on a node (Ganeti's EXPORT_DIR): one directory per exported instance
// holding config.ini and one dump per disk. An export is assembled in "<name>.new" and
// renamed into place when finalized, so a half-made export never shows in listings.

import { existsSync, mkdirSync, openSync, closeSync, ftruncateSync, statSync } from "node:fs";
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve, sep } from "node:path";
import { ECODE } from "../../model/errors.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { isErrno } from "../util/fsutil.ts";
import { argError, checkName } from "../util/names.ts";
import { readExtents, writeSparse } from "../util/sparse.ts";

export const EXPORT_CONF_FILE = "config.ini";
const NEW_SUFFIX = ".new";

export class ExportStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** `<dir>/<name>` for an export name. */
  private path(name: string): string {
    return join(this.dir, checkName(name, "export name"));
  }

  /** An export given as its name or as an absolute path inside the export directory. */
  resolveExport(nameOrPath: string): string {
    if (typeof nameOrPath !== "string" || nameOrPath === "") throw argError("export path must be a non-empty string");
    if (!nameOrPath.startsWith("/")) return this.path(nameOrPath);
    const full = resolve(nameOrPath);
    if (!full.startsWith(this.dir + sep) || full.slice(this.dir.length + 1).includes(sep)) {
      throw argError(`Export path ${nameOrPath} is not an export in ${this.dir}`);
    }
    checkName(basename(full), "export name");
    return full;
  }

  /** Starts a new export of `name`, dropping a half-made one. */
  async prepare(name: string): Promise<string> {
    const dir = this.path(name) + NEW_SUFFIX;
    await rm(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Where disk dump `file` of the export being made goes. */
  newDumpPath(name: string, file: string): string {
    return join(this.path(name) + NEW_SUFFIX, checkName(file, "dump file name"));
  }

  /** Writes config.ini and puts the export in place of any older one. */
  async finalize(name: string, config: string): Promise<string> {
    const fresh = this.path(name) + NEW_SUFFIX;
    if (!existsSync(fresh)) throw new AgentError(AGENT_ERRORS.internal, `No export of ${name} is being made on this node`, ECODE.state);
    await writeFile(join(fresh, EXPORT_CONF_FILE), config, { mode: 0o600 });
    const final = this.path(name);
    await rm(final, { recursive: true, force: true });
    await rename(fresh, final);
    return final;
  }

  /** Finished exports (those with a config.ini). */
  async list(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
    const out: string[] = [];
    for (const e of entries.sort()) {
      if (e.endsWith(NEW_SUFFIX)) continue;
      if (existsSync(join(this.dir, e, EXPORT_CONF_FILE))) out.push(e);
    }
    return out;
  }

  async info(nameOrPath: string): Promise<{ path: string; config: string }> {
    const path = this.resolveExport(nameOrPath);
    try {
      return { path, config: await readFile(join(path, EXPORT_CONF_FILE), "utf8") };
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new AgentError(AGENT_ERRORS.internal, `No export found in ${path}`, ECODE.noEnt);
      throw err;
    }
  }

  /** Removes an export (and any half-made one of the same name). */
  async remove(name: string): Promise<void> {
    const path = this.path(name);
    const had = existsSync(path);
    await rm(path + NEW_SUFFIX, { recursive: true, force: true });
    if (!had) throw new AgentError(AGENT_ERRORS.internal, `Export '${name}' not found`, ECODE.noEnt);
    await rm(path, { recursive: true, force: true });
  }

  /** Drops a half-made export. */
  async abort(name: string): Promise<void> {
    await rm(this.path(name) + NEW_SUFFIX, { recursive: true, force: true });
  }

  /** The path of dump `file` in a finished export. */
  dumpPath(nameOrPath: string, file: string): string {
    return join(this.resolveExport(nameOrPath), checkName(file, "dump file name"));
  }

  /** Non-zero blocks of a dump, for copying it to another node. */
  async read(nameOrPath: string, file: string, offset: number, length: number): Promise<{ size: number; extents: [number, string][] }> {
    const path = this.dumpPath(nameOrPath, file);
    try {
      await stat(path);
    } catch {
      throw new AgentError(AGENT_ERRORS.internal, `Dump ${path} does not exist`, ECODE.noEnt);
    }
    return readExtents(path, offset, Math.min(length, 16 * 1024 * 1024));
  }

  /** Writes blocks of a dump into export `name` (a copy being received); `size` sets its length. */
  write(name: string, file: string, size: number, extents: [number, string][]): void {
    const dir = this.path(name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, checkName(file, "dump file name"));
    const fd = openSync(path, existsSync(path) ? "r+" : "w", 0o600);
    try {
      for (const [offset, data] of extents) writeSparse(fd, Buffer.from(data, "base64"), offset);
      if (statSync(path).size !== size) ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
  }
}

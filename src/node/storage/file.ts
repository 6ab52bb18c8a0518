// The file and sharedfile templates: each disk is a sparse file of the requested size under
// the agent's (shared) file storage directory. logical_id is [driver, path] as in Ganeti,
// and every path must stay inside that directory.

import { mkdir, open, realpath, rename, rmdir, stat, statfs, truncate, unlink } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { ECODE } from "../../model/errors.ts";
import type { AttachedDisk, DiskSpec, DiskStatus, StorageUnitInfo } from "../../rpc/calls.ts";
import { errText, isErrno } from "../util/fsutil.ts";
import { checkInside, checkName } from "../util/names.ts";
import { bdevError, checkSize, logicalIdPair, MiB, type DiskBackend, type DiskContext } from "./backend.ts";

/** Ganeti's file drivers; the fake hypervisor does not care which one is named. */
export const FILE_DRIVERS = ["loop", "blktap", "blktap2"] as const;

export class FileBackend implements DiskBackend {
  readonly template: "file" | "sharedfile";
  readonly dir: string;

  constructor(template: "file" | "sharedfile", dir: string) {
    this.template = template;
    this.dir = resolve(dir);
  }

  async create(disk: DiskSpec, ctx: DiskContext): Promise<{ logical_id: unknown[]; path: string }> {
    const size = checkSize(disk.size, "Disk size");
    const given = logicalIdPair(disk, this.template);
    const [driver, wanted] = given ?? [
      "loop",
      join(this.dir, checkName(ctx.instance, "instance name"), `${checkName(disk.uuid, "disk uuid")}.${this.template}.disk${ctx.index}`),
    ];
    this.checkDriver(driver);
    const path = await this.safePath(wanted, true);
    let handle;
    try {
      handle = await open(path, "wx", 0o600);
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw bdevError(`File already existing: ${path}`, ECODE.exists);
      throw bdevError(`Could not create file ${path}: ${errText(err)}`);
    }
    try {
      // Sparse: the size is set, no block is written.
      await handle.truncate(size * MiB);
    } finally {
      await handle.close();
    }
    return { logical_id: [driver, path], path };
  }

  async remove(disk: DiskSpec): Promise<void> {
    const path = await this.diskPath(disk);
    try {
      await unlink(path);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw bdevError(`Can't remove file ${path}: ${errText(err)}`);
    }
    await this.removeEmptyParent(path);
  }

  async grow(disk: DiskSpec, amount: number, dryRun: boolean): Promise<number> {
    checkSize(amount, "Grow amount");
    const path = await this.diskPath(disk);
    const current = await this.actualSize(path);
    if (current === null) throw bdevError(`Can't grow ${path}: file does not exist`, ECODE.noEnt);
    // Ganeti grows from the file's actual size, not the configured one.
    const next = current + amount * MiB;
    if (!dryRun) {
      try {
        await truncate(path, next);
      } catch (err) {
        throw bdevError(`Can't grow ${path}: ${errText(err)}`);
      }
    }
    return Math.ceil(next / MiB);
  }

  async rename(disk: DiskSpec, newLogicalId: unknown[]): Promise<unknown[]> {
    const from = await this.diskPath(disk);
    const target = logicalIdPair({ ...disk, logical_id: newLogicalId }, this.template);
    if (!target) throw bdevError(`Invalid new logical_id ${JSON.stringify(newLogicalId)}`, ECODE.inval);
    this.checkDriver(target[0]);
    const to = await this.safePath(target[1], true);
    if (to === from) return [target[0], to];
    if ((await this.actualSize(to)) !== null) throw bdevError(`Can't rename ${from} to ${to}: target exists`, ECODE.exists);
    try {
      await rename(from, to);
    } catch (err) {
      throw bdevError(`Can't rename ${from} to ${to}: ${errText(err)}`);
    }
    await this.removeEmptyParent(from);
    return [target[0], to];
  }

  async attach(disk: DiskSpec): Promise<AttachedDisk> {
    const path = await this.diskPath(disk);
    if ((await this.actualSize(path)) === null) throw bdevError(`File ${path} does not exist`, ECODE.noEnt);
    return { path, uris: [] };
  }

  async detach(): Promise<void> {
    // Nothing is mapped for a plain file.
  }

  async setInfo(): Promise<void> {
    // Ganeti's file storage keeps no metadata either.
  }

  async find(disk: DiskSpec): Promise<DiskStatus> {
    const path = await this.diskPath(disk);
    const size = await this.actualSize(path);
    return size === null ? { exists: false, size: null, path } : { exists: true, size: Math.floor(size / MiB), path };
  }

  async spaceInfo(): Promise<StorageUnitInfo> {
    await mkdir(this.dir, { recursive: true });
    const fs = await statfs(this.dir);
    return {
      type: this.template,
      name: this.dir,
      storage_size: Math.floor((fs.blocks * fs.bsize) / MiB),
      storage_free: Math.floor((fs.bavail * fs.bsize) / MiB),
    };
  }

  private checkDriver(driver: string): void {
    if (!(FILE_DRIVERS as readonly string[]).includes(driver)) {
      throw bdevError(`Unknown file driver '${driver}', expected one of ${FILE_DRIVERS.join(", ")}`, ECODE.inval);
    }
  }

  private async diskPath(disk: DiskSpec): Promise<string> {
    const pair = logicalIdPair(disk, this.template);
    if (!pair) throw bdevError(`A ${this.template} disk needs a logical_id [driver, path]`, ECODE.inval);
    return this.safePath(pair[1], false);
  }

  /** The path, checked to be inside the storage dir even after resolving symlinks. */
  private async safePath(path: string, makeParent: boolean): Promise<string> {
    let full: string;
    try {
      full = checkInside(this.dir, path, `${this.template} disk path`);
    } catch (err) {
      throw bdevError(errText(err), ECODE.inval);
    }
    await mkdir(this.dir, { recursive: true });
    if (makeParent) await mkdir(dirname(full), { recursive: true });
    let realParent: string;
    try {
      realParent = await realpath(dirname(full));
    } catch {
      return full; // parent missing: nothing there to escape through
    }
    const realRoot = await realpath(this.dir);
    if (realParent !== realRoot && !realParent.startsWith(realRoot + sep)) {
      throw bdevError(`${path} leads outside ${this.dir}`, ECODE.inval);
    }
    return full;
  }

  private async actualSize(path: string): Promise<number | null> {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return null;
      throw bdevError(`Can't stat ${path}: ${errText(err)}`);
    }
  }

  /** Drops the per-instance directory once its last disk is gone (never the storage dir). */
  private async removeEmptyParent(path: string): Promise<void> {
    const parent = dirname(path);
    if (resolve(parent) === this.dir) return;
    try {
      await rmdir(parent);
    } catch {
      // not empty, or already gone
    }
  }
}

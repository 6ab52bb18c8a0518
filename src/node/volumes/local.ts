// Over 450 lines: one backend behind PVC's storage calls (pools, volumes, snapshots, OSDs,
// options, status), each a short method over files; split by object, they would share every
// helper.
// The local storage backend, Corral's embedded default for PVC's Ceph endpoints: a pool is a
// directory under the shared file storage dir, a volume a sparse file in it (an instance disk
// of template "sharedfile"), a snapshot a reflinked (else copied) file. OSDs are the storage
// devices registered on this node; their in/out flag and the cluster options are recorded,
// since nothing here replicates data.

import { constants as fsc } from "node:fs";
import { copyFile, mkdir, open, readdir, rename, rm, stat, statfs, truncate, unlink } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ECODE } from "../../model/errors.ts";
import type { OsdInfo, PoolInfo, SnapshotInfo, StorageReply, StorageRequest, VolumeInfo } from "../../model/pvc-node.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { errText, isErrno, readJson, writeJsonAtomic } from "../util/fsutil.ts";
import { failReason, runScript, scriptFailed, SCRIPT_PATH } from "../util/exec.ts";
import { argError } from "../util/names.ts";

const MiB = 1024 * 1024;
/** Object size Ceph would use (order 22); the local backend reports sizes in its terms. */
const OBJECT_SIZE = 4 * MiB;
/** Pool, volume and snapshot names: no slashes, no leading dot (those are the backend's own). */
const OBJ_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$/;

export function storageError(message: string, ecode?: (typeof ECODE)[keyof typeof ECODE]): AgentError {
  return new AgentError(AGENT_ERRORS.blockDevice, message, ecode);
}

export function checkObjName(value: unknown, what: string): string {
  if (typeof value !== "string" || !OBJ_NAME.test(value)) {
    throw argError(`Invalid ${what} name ${JSON.stringify(value)}: letters, digits, '_', '.', '+', '-', not starting with '.'`);
  }
  return value;
}

export function checkBytes(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw argError(`${what} must be a positive number of bytes, got ${JSON.stringify(value)}`);
  }
  return value;
}

interface PoolMeta {
  pgs: number;
  id: number;
}

interface OsdRecord {
  id: string;
  device: string;
  weight: number;
  in: boolean;
}

export interface LocalBackendOptions {
  /** The pools' root: `<shared file storage dir>/pvc`. */
  root: string;
  /** Where this node's OSD registry lives (the agent's state dir). */
  stateDir: string;
  nodeName: string;
}

export class LocalStorage {
  readonly root: string;
  private readonly osdFile: string;
  private readonly optionsFile: string;
  private readonly nodeName: string;

  constructor(o: LocalBackendOptions) {
    this.root = o.root;
    this.osdFile = join(o.stateDir, "pvc-osds.json");
    this.optionsFile = join(o.root, ".options.json");
    this.nodeName = o.nodeName;
  }

  async run(req: StorageRequest): Promise<StorageReply> {
    switch (req.op) {
      case "status": return { text: await this.statusText() };
      case "df": return { text: await this.dfText() };
      case "pool_list": return { pools: await this.pools() };
      case "pool_add": return this.poolAdd(checkObjName(req.pool, "pool"), req.pgs);
      case "pool_remove": return this.poolRemove(checkObjName(req.pool, "pool"));
      case "volume_list": return { volumes: await this.volumes(req.pool) };
      case "volume_add": return this.volumeAdd(req.pool, req.volume, checkBytes(req.size, "size"));
      case "volume_resize": return this.volumeResize(req.pool, req.volume, checkBytes(req.size, "size"));
      case "volume_rename": return this.volumeRename(req.pool, req.volume, checkObjName(req.new_name, "volume"));
      case "volume_remove": return this.volumeRemove(req.pool, req.volume);
      case "volume_disk": {
        const path = await this.existingVolume(req.pool, req.volume);
        const size = (await stat(path)).size;
        return { disk: { dev_type: "sharedfile", logical_id: ["loop", path], size: Math.max(1, Math.ceil(size / MiB)) } };
      }
      case "lock_flush":
        // Files carry no locks; only the volume must exist.
        await this.existingVolume(req.pool, req.volume);
        return {};
      case "snapshot_list": return { snapshots: await this.snapshots(req.pool, req.volume) };
      case "snapshot_add": return this.snapshotAdd(req.pool, req.volume, checkObjName(req.snapshot, "snapshot"));
      case "snapshot_rename": return this.snapshotRename(req.pool, req.volume, req.snapshot, checkObjName(req.new_name, "snapshot"));
      case "snapshot_remove": return this.snapshotRemove(req.pool, req.volume, req.snapshot);
      case "osd_list": return { osds: await this.osds() };
      case "osd_add": return this.osdAdd(req.id, req.device, req.weight);
      case "osd_remove": return this.osdRemove(req.id);
      case "osd_state": return this.osdState(req.id, req.state);
      case "option": return this.option(req.action, req.option);
      default: throw argError(`Unknown storage request ${JSON.stringify((req as { op: unknown }).op)}`);
    }
  }

  // --- pools

  private poolDir(pool: string): string {
    return join(this.root, checkObjName(pool, "pool"));
  }

  private async poolNames(): Promise<string[]> {
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && OBJ_NAME.test(e.name)).map((e) => e.name).sort();
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
  }

  private async existingPool(pool: string): Promise<string> {
    const dir = this.poolDir(pool);
    try {
      if ((await stat(dir)).isDirectory()) return dir;
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    throw storageError(`Pool '${pool}' does not exist`, ECODE.noEnt);
  }

  private async pools(): Promise<PoolInfo[]> {
    const fs = await this.fsStats();
    const out: PoolInfo[] = [];
    for (const name of await this.poolNames()) {
      const meta = await readJson<PoolMeta>(join(this.root, name, ".pool.json"), { pgs: 0, id: 0 });
      const vols = await this.volumes(name);
      const snaps = await this.snapshots(name);
      let used = 0;
      for (const v of vols) used += await allocated(join(this.root, name, v.name));
      let objects = 0;
      for (const v of vols) objects += Math.ceil(v.size / OBJECT_SIZE);
      out.push({
        name,
        pgs: meta.pgs,
        stats: {
          id: meta.id,
          size_bytes: used,
          num_objects: objects,
          num_object_clones: snaps.length,
          num_object_copies: objects,
          num_objects_missing_on_primary: 0,
          num_objects_unfound: 0,
          num_objects_degraded: 0,
          read_ops: 0,
          read_bytes: 0,
          write_ops: 0,
          write_bytes: 0,
          free_bytes: fs.free,
          used_bytes: used,
          used_percent: fs.total > 0 ? Math.round((used / fs.total) * 10000) / 100 : 0,
        },
      });
    }
    return out;
  }

  private async poolAdd(pool: string, pgs: number): Promise<StorageReply> {
    if (!Number.isInteger(pgs) || pgs < 1) throw argError(`pgs must be a positive integer, got ${JSON.stringify(pgs)}`);
    const dir = this.poolDir(pool);
    await mkdir(this.root, { recursive: true });
    try {
      await mkdir(dir);
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw storageError(`Pool '${pool}' already exists`, ECODE.exists);
      throw storageError(`Cannot create pool '${pool}': ${errText(err)}`);
    }
    const ids = await Promise.all((await this.poolNames()).map((p) => readJson<PoolMeta>(join(this.root, p, ".pool.json"), { pgs: 0, id: 0 })));
    await writeJsonAtomic(join(dir, ".pool.json"), { pgs, id: Math.max(0, ...ids.map((m) => m.id)) + 1 } satisfies PoolMeta);
    return {};
  }

  private async poolRemove(pool: string): Promise<StorageReply> {
    const dir = await this.existingPool(pool);
    await rm(dir, { recursive: true, force: true });
    return {};
  }

  // --- volumes

  private volumePath(pool: string, volume: string): string {
    return join(this.poolDir(pool), checkObjName(volume, "volume"));
  }

  private async existingVolume(pool: string, volume: string): Promise<string> {
    await this.existingPool(pool);
    const path = this.volumePath(pool, volume);
    try {
      if ((await stat(path)).isFile()) return path;
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    throw storageError(`Volume '${pool}/${volume}' does not exist`, ECODE.noEnt);
  }

  private async volumes(pool?: string): Promise<VolumeInfo[]> {
    const pools = pool === undefined ? await this.poolNames() : [checkObjName(pool, "pool")];
    const out: VolumeInfo[] = [];
    for (const p of pools) {
      let entries;
      try {
        entries = await readdir(join(this.root, p), { withFileTypes: true });
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue;
        throw err;
      }
      for (const e of entries.filter((x) => x.isFile() && OBJ_NAME.test(x.name)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const st = await stat(join(this.root, p, e.name));
        out.push({ pool: p, name: e.name, size: st.size, stats: rbdInfo(p, e.name, st.size, st.birthtime) });
      }
    }
    return out;
  }

  private async volumeAdd(pool: string, volume: string, size: number): Promise<StorageReply> {
    await this.existingPool(pool);
    const path = this.volumePath(pool, volume);
    let handle;
    try {
      handle = await open(path, "wx", 0o600);
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw storageError(`Volume '${pool}/${volume}' already exists`, ECODE.exists);
      throw storageError(`Cannot create volume '${pool}/${volume}': ${errText(err)}`);
    }
    try {
      await handle.truncate(size);
    } finally {
      await handle.close();
    }
    return {};
  }

  private async volumeResize(pool: string, volume: string, size: number): Promise<StorageReply> {
    const path = await this.existingVolume(pool, volume);
    await truncate(path, size);
    return {};
  }

  private async volumeRename(pool: string, volume: string, newName: string): Promise<StorageReply> {
    const from = await this.existingVolume(pool, volume);
    const to = this.volumePath(pool, newName);
    if (await exists(to)) throw storageError(`Volume '${pool}/${newName}' already exists`, ECODE.exists);
    await rename(from, to);
    const snapFrom = this.snapDir(pool, volume);
    if (await exists(snapFrom)) await rename(snapFrom, this.snapDir(pool, newName));
    return {};
  }

  private async volumeRemove(pool: string, volume: string): Promise<StorageReply> {
    const path = await this.existingVolume(pool, volume);
    await unlink(path);
    await rm(this.snapDir(pool, volume), { recursive: true, force: true });
    return {};
  }

  // --- snapshots

  private snapDir(pool: string, volume: string): string {
    return join(this.poolDir(pool), ".snapshots", checkObjName(volume, "volume"));
  }

  private async snapshots(pool?: string, volume?: string): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const v of await this.volumes(pool)) {
      if (volume !== undefined && v.name !== volume) continue;
      let names: string[] = [];
      try {
        names = (await readdir(this.snapDir(v.pool, v.name))).filter((n) => OBJ_NAME.test(n)).sort();
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
      for (const name of names) out.push({ pool: v.pool, volume: v.name, name });
    }
    return out;
  }

  private async snapshotAdd(pool: string, volume: string, snapshot: string): Promise<StorageReply> {
    const src = await this.existingVolume(pool, volume);
    const dir = this.snapDir(pool, volume);
    await mkdir(dir, { recursive: true });
    const dst = join(dir, snapshot);
    if (await exists(dst)) throw storageError(`Snapshot '${pool}/${volume}@${snapshot}' already exists`, ECODE.exists);
    await snapshotCopy(src, dst);
    return {};
  }

  private async existingSnapshot(pool: string, volume: string, snapshot: string): Promise<string> {
    await this.existingVolume(pool, volume);
    const path = join(this.snapDir(pool, volume), checkObjName(snapshot, "snapshot"));
    if (!(await exists(path))) throw storageError(`Snapshot '${pool}/${volume}@${snapshot}' does not exist`, ECODE.noEnt);
    return path;
  }

  private async snapshotRename(pool: string, volume: string, snapshot: string, newName: string): Promise<StorageReply> {
    const from = await this.existingSnapshot(pool, volume, snapshot);
    const to = join(this.snapDir(pool, volume), newName);
    if (await exists(to)) throw storageError(`Snapshot '${pool}/${volume}@${newName}' already exists`, ECODE.exists);
    await rename(from, to);
    return {};
  }

  private async snapshotRemove(pool: string, volume: string, snapshot: string): Promise<StorageReply> {
    await unlink(await this.existingSnapshot(pool, volume, snapshot));
    return {};
  }

  // --- OSDs and options

  private async osdRecords(): Promise<OsdRecord[]> {
    return readJson<OsdRecord[]>(this.osdFile, []);
  }

  private async osds(): Promise<OsdInfo[]> {
    const out: OsdInfo[] = [];
    for (const r of await this.osdRecords()) {
      let kb = 0;
      let usedKb = 0;
      try {
        const st = await stat(r.device);
        if (st.isDirectory()) {
          const fs = await statfs(r.device);
          kb = Math.floor((fs.blocks * fs.bsize) / 1024);
          usedKb = kb - Math.floor((fs.bavail * fs.bsize) / 1024);
        } else kb = Math.floor(st.size / 1024);
      } catch {
        // A device that went away: up 0 below.
      }
      const up = kb > 0 ? 1 : 0;
      out.push({
        id: r.id,
        node: this.nodeName,
        device: r.device,
        stats: {
          uuid: osdUuid(this.nodeName, r.id),
          up,
          in: r.in ? 1 : 0,
          primary_affinity: 1,
          utilization: kb > 0 ? Math.round((usedKb / kb) * 10000) / 100 : 0,
          var: 1,
          pgs: 0,
          kb,
          weight: r.weight,
          reweight: r.in ? 1 : 0,
          node: this.nodeName,
          used: human(usedKb * 1024),
          avail: human((kb - usedKb) * 1024),
          wr_ops: 0,
          wr_data: 0,
          rd_ops: 0,
          rd_data: 0,
          state: up ? "exists,up" : "exists",
        },
      });
    }
    return out;
  }

  private async osdAdd(id: number, device: string, weight: number): Promise<StorageReply> {
    if (!Number.isInteger(id) || id < 0) throw argError(`OSD id must be a whole number, got ${JSON.stringify(id)}`);
    if (typeof device !== "string" || !device.startsWith("/") || device.includes("\0")) {
      throw argError(`OSD device must be an absolute path, got ${JSON.stringify(device)}`);
    }
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) throw argError(`Invalid OSD weight ${JSON.stringify(weight)}`);
    let st;
    try {
      st = await stat(device);
    } catch (err) {
      throw storageError(`Device ${device} is not present on node ${this.nodeName}: ${errText(err)}`, ECODE.noEnt);
    }
    if (!st.isBlockDevice() && !st.isDirectory()) {
      throw storageError(`${device} on node ${this.nodeName} is neither a block device nor a directory`, ECODE.inval);
    }
    const records = await this.osdRecords();
    if (records.some((r) => r.device === device)) throw storageError(`Device ${device} is already an OSD on node ${this.nodeName}`, ECODE.exists);
    records.push({ id: String(id), device, weight, in: true });
    await writeJsonAtomic(this.osdFile, records);
    return { id: String(id) };
  }

  private async osdRemove(id: string): Promise<StorageReply> {
    const records = await this.osdRecords();
    const rest = records.filter((r) => r.id !== String(id));
    if (rest.length === records.length) throw storageError(`No OSD ${id} on node ${this.nodeName}`, ECODE.noEnt);
    await writeJsonAtomic(this.osdFile, rest);
    return {};
  }

  private async osdState(id: string, state: "in" | "out"): Promise<StorageReply> {
    if (state !== "in" && state !== "out") throw argError(`OSD state must be in or out, got ${JSON.stringify(state)}`);
    const records = await this.osdRecords();
    const r = records.find((x) => x.id === String(id));
    if (!r) throw storageError(`No OSD ${id} on node ${this.nodeName}`, ECODE.noEnt);
    r.in = state === "in";
    await writeJsonAtomic(this.osdFile, records);
    return {};
  }

  private async option(action: "set" | "unset", option: string): Promise<StorageReply> {
    if (typeof option !== "string" || !/^[a-z][a-z_-]{0,63}$/.test(option)) throw argError(`Invalid option ${JSON.stringify(option)}`);
    if (action !== "set" && action !== "unset") throw argError(`Option action must be set or unset, got ${JSON.stringify(action)}`);
    const flags = new Set(await readJson<string[]>(this.optionsFile, []));
    if (action === "set") flags.add(option);
    else flags.delete(option);
    await mkdir(this.root, { recursive: true });
    await writeJsonAtomic(this.optionsFile, [...flags].sort());
    return {};
  }

  // --- status text

  private async fsStats(): Promise<{ total: number; free: number }> {
    await mkdir(this.root, { recursive: true });
    const fs = await statfs(this.root);
    return { total: fs.blocks * fs.bsize, free: fs.bavail * fs.bsize };
  }

  private async statusText(): Promise<string> {
    const fs = await this.fsStats();
    const pools = await this.pools();
    const volumes = await this.volumes();
    const flags = await readJson<string[]>(this.optionsFile, []);
    const used = pools.reduce((s, p) => s + (p.stats.used_bytes ?? 0), 0);
    return [
      "  cluster:",
      "    backend: local (files under " + this.root + ")",
      `    health: HEALTH_OK${flags.length > 0 ? ` (flags ${flags.join(",")} set)` : ""}`,
      "",
      "  data:",
      `    pools:   ${pools.length} pools`,
      `    volumes: ${volumes.length} volumes`,
      `    usage:   ${human(used)} used, ${human(fs.free)} / ${human(fs.total)} avail`,
      "",
    ].join("\n");
  }

  private async dfText(): Promise<string> {
    const pools = await this.pools();
    const rows = [["POOL_NAME", "USED", "OBJECTS", "CLONES", "COPIES", "MISSING_ON_PRIMARY", "UNFOUND", "DEGRADED", "RD_OPS", "RD", "WR_OPS", "WR"]];
    for (const p of pools) {
      const s = p.stats;
      rows.push([p.name, human(s.used_bytes), String(s.num_objects), String(s.num_object_clones), String(s.num_object_copies), "0", "0", "0", "0", "0 B", "0", "0 B"]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const fs = await this.fsStats();
    const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join(" ").trimEnd()).join("\n");
    return `${table}\n\ntotal_objects    ${pools.reduce((a, p) => a + p.stats.num_objects, 0)}\ntotal_used       ${human(fs.total - fs.free)}\ntotal_avail      ${human(fs.free)}\ntotal_space      ${human(fs.total)}\n`;
  }
}

/**
 * A snapshot file: a reflink where the file system has them (btrfs, XFS), else GNU cp's
 * hole-aware copy, which skips the unwritten parts of a sparse volume instead of reading
 * gigabytes of zeros.
 */
async function snapshotCopy(src: string, dst: string): Promise<void> {
  try {
    await copyFile(src, dst, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE_FORCE);
    return;
  } catch (err) {
    if (isErrno(err, "EEXIST")) throw storageError(`${dst} already exists`, ECODE.exists);
  }
  const r = await runScript({ path: "cp", args: ["--reflink=auto", "--sparse=always", "--no-clobber", "--", src, dst], env: { PATH: SCRIPT_PATH }, cwd: "/", timeoutMs: 3600_000 });
  if (scriptFailed(r)) throw storageError(`Cannot copy ${src} to ${dst}: cp ${failReason(r, 3600_000)} ${r.output.trim()}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

/** Bytes a (sparse) file really takes. */
async function allocated(path: string): Promise<number> {
  try {
    return (await stat(path)).blocks * 512;
  } catch {
    return 0;
  }
}

function osdUuid(node: string, id: string): string {
  const hex = createHash("sha256").update(`${node}/${id}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The fields `rbd info --format json` has, for a file volume. */
function rbdInfo(pool: string, name: string, size: number, created: Date): Record<string, unknown> {
  const prefix = createHash("sha1").update(`${pool}/${name}`).digest("hex").slice(0, 12);
  return {
    name,
    size,
    objects: Math.ceil(size / OBJECT_SIZE),
    order: 22,
    object_size: OBJECT_SIZE,
    block_name_prefix: `rbd_data.${prefix}`,
    format: 2,
    features: [],
    op_features: [],
    flags: [],
    create_timestamp: created.toUTCString(),
  };
}

/** "58.1G"-style sizes as `ceph osd status` prints them. */
export function human(bytes: number): string {
  const units = ["", "k", "M", "G", "T", "P"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? String(Math.round(v)) : `${Math.round(v * 10) / 10}${units[i]}`;
}

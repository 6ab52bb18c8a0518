// The Ceph storage backend: the same requests as the local backend, carried out with the
// `ceph`, `rados`, `rbd` and `ceph-volume` commands on the node (PVC's primary coordinator
// runs them the same way). Arguments go to the commands as an argument list, never a shell.

import { ECODE } from "../../model/errors.ts";
import type { OsdInfo, PoolInfo, SnapshotInfo, StorageReply, StorageRequest, VolumeInfo } from "../../model/pvc-node.ts";
import { failReason, runScript, SCRIPT_PATH } from "../util/exec.ts";
import { argError } from "../util/names.ts";
import { checkBytes, checkObjName, storageError } from "./local.ts";

export interface CephBackendOptions {
  nodeName: string;
  /** PATH the commands are looked up in (tests put stand-ins first). */
  path?: string;
  timeoutMs?: number;
}

type Json = Record<string, unknown>;
const MiB = 1024 * 1024;

export class CephStorage {
  private readonly nodeName: string;
  private readonly path: string;
  private readonly timeoutMs: number;

  constructor(o: CephBackendOptions) {
    this.nodeName = o.nodeName;
    this.path = o.path ?? SCRIPT_PATH;
    this.timeoutMs = o.timeoutMs ?? 5 * 60 * 1000;
  }

  /** Runs one command; its stdout, or a storage error with what it printed. */
  private async cmd(tool: string, ...args: string[]): Promise<string> {
    let r;
    try {
      r = await runScript({ path: tool, args, env: { PATH: this.path, LC_ALL: "C" }, cwd: "/", captureStdout: true, timeoutMs: this.timeoutMs });
    } catch (err) {
      throw storageError(`Cannot run ${tool} on node ${this.nodeName}: ${err instanceof Error ? err.message : String(err)}`, ECODE.environ);
    }
    if (r.timedOut || r.code !== 0) {
      const said = r.output.trim().split("\n").slice(-3).join(" ");
      throw storageError(`${tool} ${args.join(" ")} ${failReason(r, this.timeoutMs)}${said ? `: ${said}` : ""}`);
    }
    return r.stdout;
  }

  private async json<T>(tool: string, ...args: string[]): Promise<T> {
    const out = await this.cmd(tool, ...args, "--format", "json");
    try {
      return JSON.parse(out) as T;
    } catch {
      throw storageError(`${tool} ${args.join(" ")} did not print JSON`);
    }
  }

  async run(req: StorageRequest): Promise<StorageReply> {
    switch (req.op) {
      case "status": return { text: await this.cmd("ceph", "status") };
      case "df": return { text: await this.cmd("rados", "df") };
      case "pool_list": return { pools: await this.pools() };
      case "pool_add": {
        const pool = checkObjName(req.pool, "pool");
        if (!Number.isInteger(req.pgs) || req.pgs < 1) throw argError(`pgs must be a positive integer, got ${JSON.stringify(req.pgs)}`);
        await this.cmd("ceph", "osd", "pool", "create", pool, String(req.pgs), "replicated");
        await this.cmd("ceph", "osd", "pool", "application", "enable", pool, "rbd");
        return {};
      }
      case "pool_remove": {
        const pool = checkObjName(req.pool, "pool");
        await this.cmd("ceph", "osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it");
        return {};
      }
      case "volume_list": return { volumes: await this.volumes(req.pool) };
      case "volume_add":
        await this.cmd("rbd", "create", "--size", `${checkBytes(req.size, "size")}B`, this.spec(req.pool, req.volume));
        return {};
      case "volume_resize":
        await this.cmd("rbd", "resize", "--allow-shrink", "--size", `${checkBytes(req.size, "size")}B`, this.spec(req.pool, req.volume));
        return {};
      case "volume_rename":
        await this.cmd("rbd", "rename", this.spec(req.pool, req.volume), this.spec(req.pool, req.new_name));
        return {};
      case "volume_remove":
        await this.cmd("rbd", "rm", this.spec(req.pool, req.volume));
        return {};
      case "volume_disk": {
        const info = await this.json<Json>("rbd", "info", this.spec(req.pool, req.volume));
        const size = typeof info.size === "number" ? info.size : 0;
        return { disk: { dev_type: "rbd", logical_id: ["rbd", `${req.pool}/${req.volume}`], size: Math.max(1, Math.ceil(size / MiB)) } };
      }
      case "lock_flush": {
        const spec = this.spec(req.pool, req.volume);
        const locks = await this.json<{ id?: string; locker?: string }[] | Record<string, { locker?: string }>>("rbd", "lock", "list", spec);
        const list = Array.isArray(locks) ? locks : Object.entries(locks).map(([id, l]) => ({ id, locker: l.locker }));
        for (const l of list) if (l.id && l.locker) await this.cmd("rbd", "lock", "remove", spec, l.id, l.locker);
        return {};
      }
      case "snapshot_list": return { snapshots: await this.snapshots(req.pool, req.volume) };
      case "snapshot_add":
        await this.cmd("rbd", "snap", "create", `${this.spec(req.pool, req.volume)}@${checkObjName(req.snapshot, "snapshot")}`);
        return {};
      case "snapshot_rename":
        await this.cmd("rbd", "snap", "rename",
          `${this.spec(req.pool, req.volume)}@${checkObjName(req.snapshot, "snapshot")}`,
          `${this.spec(req.pool, req.volume)}@${checkObjName(req.new_name, "snapshot")}`);
        return {};
      case "snapshot_remove":
        await this.cmd("rbd", "snap", "rm", `${this.spec(req.pool, req.volume)}@${checkObjName(req.snapshot, "snapshot")}`);
        return {};
      case "osd_list": return { osds: await this.osds() };
      case "osd_add": {
        if (typeof req.device !== "string" || !req.device.startsWith("/dev/")) throw argError(`OSD device must be a /dev path, got ${JSON.stringify(req.device)}`);
        if (typeof req.weight !== "number" || !Number.isFinite(req.weight) || req.weight < 0) throw argError(`Invalid OSD weight ${JSON.stringify(req.weight)}`);
        await this.cmd("ceph-volume", "lvm", "create", "--bluestore", "--data", req.device);
        const listed = await this.json<Record<string, { devices?: string[] }[]>>("ceph-volume", "lvm", "list", req.device);
        const id = Object.keys(listed)[0];
        if (id === undefined) throw storageError(`ceph-volume created no OSD on ${req.device}`);
        await this.cmd("ceph", "osd", "crush", "reweight", `osd.${id}`, String(req.weight));
        return { id };
      }
      case "osd_remove": {
        const id = checkOsdId(req.id);
        await this.cmd("ceph", "osd", "out", id);
        await this.cmd("ceph", "osd", "purge", id, "--yes-i-really-mean-it");
        return {};
      }
      case "osd_state": {
        if (req.state !== "in" && req.state !== "out") throw argError(`OSD state must be in or out, got ${JSON.stringify(req.state)}`);
        await this.cmd("ceph", "osd", req.state, checkOsdId(req.id));
        return {};
      }
      case "option": {
        if (req.action !== "set" && req.action !== "unset") throw argError(`Option action must be set or unset, got ${JSON.stringify(req.action)}`);
        if (typeof req.option !== "string" || !/^[a-z][a-z_-]{0,63}$/.test(req.option)) throw argError(`Invalid option ${JSON.stringify(req.option)}`);
        await this.cmd("ceph", "osd", req.action, req.option);
        return {};
      }
      default: throw argError(`Unknown storage request ${JSON.stringify((req as { op: unknown }).op)}`);
    }
  }

  private spec(pool: string, volume: string): string {
    return `${checkObjName(pool, "pool")}/${checkObjName(volume, "volume")}`;
  }

  private async pools(): Promise<PoolInfo[]> {
    const df = await this.json<{ pools?: Json[] }>("rados", "df");
    const detail = await this.json<Json[]>("ceph", "osd", "pool", "ls", "detail");
    const pgs = new Map(detail.map((p) => [String(p.pool_name), Number(p.pg_num ?? 0)]));
    return (df.pools ?? []).map((p) => {
      const stats: Record<string, number> = {};
      for (const [k, v] of Object.entries(p)) if (typeof v === "number") stats[k] = v;
      return { name: String(p.name), pgs: pgs.get(String(p.name)) ?? 0, stats };
    });
  }

  private async volumes(pool?: string): Promise<VolumeInfo[]> {
    const pools = pool === undefined ? (await this.pools()).map((p) => p.name) : [checkObjName(pool, "pool")];
    const out: VolumeInfo[] = [];
    for (const p of pools) {
      for (const name of await this.json<string[]>("rbd", "ls", p)) {
        const info = await this.json<Json>("rbd", "info", `${p}/${name}`);
        out.push({ pool: p, name, size: typeof info.size === "number" ? info.size : 0, stats: info });
      }
    }
    return out;
  }

  private async snapshots(pool?: string, volume?: string): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const v of await this.volumes(pool)) {
      if (volume !== undefined && v.name !== volume) continue;
      for (const s of await this.json<Json[]>("rbd", "snap", "ls", `${v.pool}/${v.name}`)) {
        out.push({ pool: v.pool, volume: v.name, name: String(s.name) });
      }
    }
    return out;
  }

  private async osds(): Promise<OsdInfo[]> {
    const dump = await this.json<{ osds?: Json[] }>("ceph", "osd", "dump");
    const df = await this.json<{ nodes?: Json[] }>("ceph", "osd", "df");
    const tree = await this.json<{ nodes?: Json[] }>("ceph", "osd", "tree");
    const host = new Map<number, string>();
    for (const n of tree.nodes ?? []) {
      if (n.type === "host" && Array.isArray(n.children)) for (const c of n.children) host.set(Number(c), String(n.name));
    }
    const usage = new Map((df.nodes ?? []).map((n) => [Number(n.id), n]));
    return (dump.osds ?? []).map((o) => {
      const id = Number(o.osd);
      const u = usage.get(id) ?? {};
      return {
        id: String(id),
        node: host.get(id) ?? "",
        device: "",
        stats: {
          uuid: o.uuid, up: o.up, in: o.in, primary_affinity: o.primary_affinity,
          utilization: u.utilization, var: u.var, pgs: u.pgs, kb: u.kb, weight: u.crush_weight, reweight: u.reweight,
          node: host.get(id) ?? "", used: u.kb_used, avail: u.kb_avail,
          state: Array.isArray(o.state) ? o.state.join(",") : o.state,
        },
      };
    });
  }
}

function checkOsdId(id: unknown): string {
  if (typeof id !== "string" || !/^\d+$/.test(id)) throw argError(`Invalid OSD id ${JSON.stringify(id)}`);
  return id;
}

// The node calls on disks (Ganeti's blockdev_* RPCs), each under the disk's lock, through the
// backend of the disk's template; and the ExtStorage providers' diagnosis.

import type { DiskStatus, NodeRpc } from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { diagnoseExtStorage } from "../storage/ext.ts";
import { copySparse } from "../util/sparse.ts";
import { argError, checkInt, checkName, checkString } from "../util/names.ts";
import { checkDiskSpec } from "./spec.ts";
import type { AgentParts } from "./parts.ts";

export type DiskCalls = Pick<NodeRpc, "blockdevCreate" | "blockdevRemove" | "blockdevGrow" | "blockdevRename" | "blockdevAssemble" | "blockdevShutdown" | "blockdevSetInfo" | "blockdevFind" | "extStorageDiagnose" | "blockdevConvert">;

export function diskCalls(a: AgentParts): DiskCalls {
  return {
    async blockdevCreate(args) {
      const instance = checkName(args.instance, "instance name");
      const index = checkInt(args.index, "disk index");
      const disk = checkDiskSpec(args.disk);
      const info = args.info === undefined ? `originstname+${instance}` : checkString(args.info, "info");
      return a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).create(disk, { instance, index, info }));
    },

    async blockdevRemove(args) {
      const disk = checkDiskSpec(args.disk);
      await a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).remove(disk));
      return null;
    },

    async blockdevGrow(args) {
      const disk = checkDiskSpec(args.disk);
      const amount = checkInt(args.amount, "amount", 1);
      const size = await a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).grow(disk, amount, args.dry_run === true));
      return { size };
    },

    async blockdevRename(args) {
      const disk = checkDiskSpec(args.disk);
      if (!Array.isArray(args.new_logical_id)) throw argError("new_logical_id must be a list");
      const logical_id = await a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).rename(disk, args.new_logical_id));
      return { logical_id };
    },

    async blockdevAssemble(args) {
      checkName(args.instance, "instance name");
      const disk = checkDiskSpec(args.disk);
      return a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).attach(disk));
    },

    async blockdevShutdown(args) {
      const disk = checkDiskSpec(args.disk);
      await a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).detach(disk));
      return null;
    },

    async blockdevSetInfo(args) {
      const disk = checkDiskSpec(args.disk);
      const info = checkString(args.info, "info");
      await a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).setInfo(disk, info));
      return null;
    },

    async blockdevFind(args) {
      if (!Array.isArray(args.disks)) throw argError("disks must be a list");
      const out: DiskStatus[] = [];
      for (const [i, d] of args.disks.entries()) {
        const disk = checkDiskSpec(d, `disk ${i}`);
        out.push(await a.backend(disk).find(disk));
      }
      return out;
    },

    async extStorageDiagnose() {
      return diagnoseExtStorage(a.extSearchPath);
    },

    async blockdevConvert(args) {
      const src = checkDiskSpec(args.src, "source disk");
      const dst = checkDiskSpec(args.dst, "target disk");
      const [from, to] = [await a.backend(src).attach(src), await a.backend(dst).attach(dst)];
      if (!from.path || !to.path) {
        throw new AgentError(AGENT_ERRORS.blockDevice, `Can't copy disk ${src.uuid} to ${dst.uuid}: both need a local path`);
      }
      try {
        copySparse(from.path, to.path);
      } catch (err) {
        throw new AgentError(AGENT_ERRORS.blockDevice, `Can't copy ${from.path} to ${to.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
      return null;
    },
  };
}

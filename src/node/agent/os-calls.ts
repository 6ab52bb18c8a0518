// The node calls that run OS definition scripts over an instance's disks: create, rename,
// export and import (Ganeti's instance_os_add, export, import), and the export store's calls.

import { stat } from "node:fs/promises";
import type { NodeRpc } from "../../rpc/calls.ts";
import { argError, checkInt, checkName, checkObject, checkString } from "../util/names.ts";
import { checkInstanceSpec } from "./spec.ts";
import type { AgentParts } from "./parts.ts";

export type OsCalls = Pick<NodeRpc, "osDiagnose" | "osValidate" | "instanceOsAdd" | "instanceOsRename" | "exportPrepare" | "exportDisk" | "exportFinalize" | "exportAbort" | "exportList" | "exportInfo" | "exportRemove" | "exportRead" | "exportWrite" | "importDisk">;

export function osCalls(a: AgentParts): OsCalls {
  return {
    async osDiagnose() {
      return a.os.diagnose();
    },

    async osValidate(args) {
      const name = checkString(args.name, "OS name");
      const osparams = checkObject(args.osparams ?? {}, "osparams");
      const checks = args.checks ?? ["parameters"];
      if (!Array.isArray(checks) || checks.some((c) => c !== "parameters")) {
        throw argError(`Unknown OS validation checks ${JSON.stringify(checks)}; supported: parameters`);
      }
      await a.os.validate(name, osparams, checks);
      return null;
    },

    async instanceOsAdd(args) {
      const inst = checkInstanceSpec(args.instance);
      const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
      return a.locks.run(inst.name, async () => {
        const disks = await a.attachAll(inst.name, inst.disks);
        return { log_file: await a.os.create(inst, disks, args.reinstall === true, debug) };
      });
    },

    async instanceOsRename(args) {
      const inst = checkInstanceSpec(args.instance);
      const oldName = checkName(args.old_name, "old instance name");
      const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
      return a.locks.run(inst.name, async () => {
        const disks = await a.attachAll(inst.name, inst.disks);
        return { log_file: await a.os.rename(inst, oldName, disks, debug) };
      });
    },

    async exportPrepare(args) {
      await a.exports.prepare(checkName(args.name, "export name"));
      return null;
    },

    async exportDisk(args) {
      const inst = checkInstanceSpec(args.instance);
      const index = checkInt(args.index, "disk index");
      const disk = inst.disks[index];
      if (!disk) throw argError(`Instance ${inst.name} has no disk ${index}`);
      const file = checkName(disk.uuid, "disk uuid");
      const out = a.exports.newDumpPath(checkName(args.name, "export name"), file);
      const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
      await a.locks.run(inst.name, async () => {
        const disks = await a.attachAll(inst.name, inst.disks);
        await a.os.exportDisk(inst, disks, index, out, debug);
      });
      return { file, size: (await stat(out)).size };
    },

    async exportFinalize(args) {
      return { path: await a.exports.finalize(checkName(args.name, "export name"), checkString(args.config, "config")) };
    },

    async exportAbort(args) {
      await a.exports.abort(checkName(args.name, "export name"));
      return null;
    },

    async exportList() {
      return a.exports.list();
    },

    async exportInfo(args) {
      return a.exports.info(checkString(args.path, "export path"));
    },

    async exportRemove(args) {
      await a.exports.remove(checkName(args.name, "export name"));
      return null;
    },

    async exportRead(args) {
      return a.exports.read(checkString(args.path, "export path"), checkString(args.file, "file"),
        checkInt(args.offset, "offset"), checkInt(args.length, "length", 1));
    },

    async exportWrite(args) {
      if (!Array.isArray(args.extents)) throw argError("extents must be a list");
      const extents = args.extents.map((e, i): [number, string] => {
        if (!Array.isArray(e) || e.length !== 2) throw argError(`extent ${i} must be [offset, data]`);
        return [checkInt(e[0], `extent ${i} offset`), checkString(e[1], `extent ${i} data`)];
      });
      a.exports.write(checkName(args.name, "export name"), checkString(args.file, "file"), checkInt(args.size, "size"), extents);
      return null;
    },

    async importDisk(args) {
      const inst = checkInstanceSpec(args.instance);
      const index = checkInt(args.index, "disk index");
      if (!inst.disks[index]) throw argError(`Instance ${inst.name} has no disk ${index}`);
      const dump = a.exports.dumpPath(checkString(args.path, "export path"), checkString(args.file, "file"));
      const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
      return a.locks.run(inst.name, async () => {
        const disks = await a.attachAll(inst.name, inst.disks);
        return { log_file: await a.os.importDisk(inst, disks, index, dump, debug) };
      });
    },
  };
}

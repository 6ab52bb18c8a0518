// The node calls of a migration, on both sides: the source's info and migrate, the target's
// accept, status long polls, and the finalization on each side (kvm's policy: hypervisor/kvm).

import { migrationCapsOf } from "../../model/hvparams.ts";
import type { NodeRpc } from "../../rpc/calls.ts";
import { checkInt, checkString } from "../util/names.ts";
import { checkDiskExports, checkInstanceSpec } from "./spec.ts";
import type { AgentParts } from "./parts.ts";

/** Longest wait of a migrationStatus long poll, ms. */
const MAX_MIGRATION_WAIT_MS = 2000;

export type MigrationCalls = Pick<NodeRpc, "migrationInfo" | "acceptInstance" | "migrateInstance" | "migrationStatus" | "finalizeMigrationDst" | "finalizeMigrationSource">;

export function migrationCalls(a: AgentParts): MigrationCalls {
  return {
    async migrationInfo(args) {
      const inst = checkInstanceSpec(args.instance);
      return { info: await a.hypervisor(inst.hypervisor).migrationInfo(inst.name) };
    },

    async acceptInstance(args) {
      const inst = checkInstanceSpec(args.instance);
      const info = checkString(args.info, "info");
      const hv = a.hypervisor(inst.hypervisor);
      return a.locks.run(inst.name, async () => {
        const disks = await a.attachAll(inst.name, inst.disks);
        const options = { storage: args.storage === true, tls: args.tls === true };
        return { disks: await a.locks.run("memory", () => hv.acceptInstance(inst, info, disks, options)) };
      });
    },

    async migrateInstance(args) {
      const inst = checkInstanceSpec(args.instance);
      const target = checkString(args.target, "target");
      const hv = a.hypervisor(inst.hypervisor);
      const hvp = inst.hvparams;
      const options = {
        live: args.live === true,
        bandwidth: typeof hvp.migration_bandwidth === "number" ? hvp.migration_bandwidth : undefined,
        downtime: typeof hvp.migration_downtime === "number" ? hvp.migration_downtime : undefined,
        caps: migrationCapsOf(hvp.migration_caps),
        ...(args.storage === undefined ? {} : { storage: checkDiskExports(args.storage) }),
        tls: args.tls === true,
      };
      await a.locks.run(inst.name, () => hv.migrate(inst.name, target, options));
      return null;
    },

    async migrationStatus(args) {
      const inst = checkInstanceSpec(args.instance);
      const waitMs = args.wait_ms === undefined ? 0 : Math.min(checkInt(args.wait_ms, "wait_ms"), MAX_MIGRATION_WAIT_MS);
      return a.hypervisor(inst.hypervisor).migrationStatus(inst.name, waitMs);
    },

    async finalizeMigrationDst(args) {
      const inst = checkInstanceSpec(args.instance);
      const info = checkString(args.info, "info");
      const hv = a.hypervisor(inst.hypervisor);
      await a.locks.run(inst.name, () => hv.finalizeMigrationDst(inst, info, args.success === true));
      return null;
    },

    async finalizeMigrationSource(args) {
      const inst = checkInstanceSpec(args.instance);
      const hv = a.hypervisor(inst.hypervisor);
      await a.locks.run(inst.name, () => hv.finalizeMigrationSource(inst.name, args.success === true));
      return null;
    },
  };
}

// Live migration of an instance on node-local disks (`file`), a Corral extension Ganeti
// refuses: with `migrate_storage` the target node gets new, empty disks of the same sizes, its
// hypervisor serves them while the source mirrors into them (kvm: NBD + blockdev-mirror), and
// the memory moves once they are in sync. The config then names the target's disks; the old
// files are removed only after the migration succeeded, the new ones whenever it did not.

import { DTS_MIGRATABLE_STORAGE, STORAGE_MIGRATING_HYPERVISORS } from "../../model/constants.ts";
import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Instance, Node } from "../../model/objects.ts";
import type { ParamSpec } from "../../model/params.ts";
import type { DiskSpec, InstanceSpec, MigrationStatus } from "../../rpc/calls.ts";
import { logWarning, type LuContext } from "../lu.ts";
import { raiseOnFail } from "./common.ts";

/**
 * Whether the migration moves the instance's disks: refuses what cannot be moved (null when the
 * disks are not node-local, or the caller did not ask: Ganeti's own refusal applies then).
 */
export function storageMigration(inst: Instance, localTemplates: readonly string[], requested: boolean): boolean {
  if (!requested || localTemplates.length === 0) return false;
  const unmovable = localTemplates.filter((t) => !DTS_MIGRATABLE_STORAGE.includes(t));
  if (unmovable.length > 0) {
    throw new OpPrereqError(`Instance's disk layout '${unmovable.join(", ")}' cannot be migrated with its storage (possible for: ${DTS_MIGRATABLE_STORAGE.join(", ")})`, ECODE.state);
  }
  if (!STORAGE_MIGRATING_HYPERVISORS.includes(inst.hypervisor)) {
    throw new OpPrereqError(`Migrating an instance's storage needs the ${STORAGE_MIGRATING_HYPERVISORS.join(" or ")} hypervisor; instance ${inst.name} uses '${inst.hypervisor}'`, ECODE.inval);
  }
  return true;
}

/** The target's new disks: the instance's spec as the target must see it, and what to undo. */
export interface TargetDisks {
  spec: InstanceSpec;
  /** The new disks' specs, by disk index (only the moved ones). */
  created: Map<number, DiskSpec>;
}

/** Creates an empty disk of each moved disk's size on the target (its agent chooses the path). */
export async function createTargetDisks(ctx: LuContext<ParamSpec>, spec: InstanceSpec, target: Node): Promise<TargetDisks> {
  const dst = ctx.master.node(target);
  const created = new Map<number, DiskSpec>();
  const moved = spec.disks.map((d, index) => ({ d, index })).filter(({ d }) => DTS_MIGRATABLE_STORAGE.includes(d.dev_type));
  ctx.feedback(`* creating ${moved.length} disk(s) of ${moved.reduce((sum, { d }) => sum + d.size, 0)} MiB on ${target.name}`);
  try {
    for (const { d, index } of moved) {
      const fresh: DiskSpec = { ...d, logical_id: [] };
      const made = await raiseOnFail(dst.blockdevCreate({ instance: spec.name, index, disk: fresh }), `Can't create disk ${index} on node ${target.name}`);
      created.set(index, { ...d, logical_id: made.logical_id });
    }
  } catch (err) {
    await removeDisks(ctx, target, [...created.values()], "new");
    throw err;
  }
  return { spec: { ...spec, disks: spec.disks.map((d, i) => created.get(i) ?? d) }, created };
}

/** Removes disks from a node; a failure is a warning (the job's outcome is decided already). */
export async function removeDisks(ctx: LuContext<ParamSpec>, node: Node, disks: readonly DiskSpec[], which: "old" | "new"): Promise<void> {
  for (const disk of disks) {
    try {
      await ctx.master.node(node).blockdevRemove({ disk });
    } catch (err) {
      logWarning(ctx, `Could not remove the ${which} disk ${disk.uuid} (${JSON.stringify(disk.logical_id)}) on node ${node.name}: ${err instanceof Error ? err.message : String(err)}; remove it by hand`);
    }
  }
}

/** The job log's line while disks are mirrored; null outside that stage. */
export function mirrorProgressLine(st: MigrationStatus): string | null {
  if (st.stage !== "storage" || st.diskDoneMiB === undefined || st.diskTotalMiB === undefined) return null;
  const percent = st.diskTotalMiB > 0 ? Math.min(100, (st.diskDoneMiB * 100) / st.diskTotalMiB) : 0;
  return `* disk mirror progress: ${percent.toFixed(2)} % (${Math.round(st.diskDoneMiB)}/${Math.round(st.diskTotalMiB)} MiB)`;
}

// Hotplug of disks and NICs into a running instance (Ganeti 2.16+'s hotplug for kvm): the
// devices a modification removes are unplugged before the config drops them, the ones it
// adds are plugged in once the config has them. A device that cannot be (un)plugged is a
// warning, as in Ganeti: the config change stands and takes effect at the next start.

import type { Disk, Instance, Nic } from "../../model/objects.ts";
import { logWarning, type LuContext } from "../lu.ts";
import type { ParamSpec } from "../../model/params.ts";
import { agentOf, instanceSpec } from "./common.ts";

/** Hypervisors whose running domains take devices (Ganeti: kvm only). */
export const HYPERVISORS_WITH_HOTPLUG: ReadonlySet<string> = new Set(["kvm"]);

export interface HotplugChange {
  device: "disk" | "nic";
  action: "add" | "remove";
  uuid: string;
}

/** What differs between the devices an instance has and the ones it will have. */
export function hotplugChanges(before: Pick<Instance, "disks" | "nics">, after: { disks: readonly Disk[]; nics: readonly Nic[] }): HotplugChange[] {
  const diff = (device: "disk" | "nic", old: readonly { uuid: string }[], now: readonly { uuid: string }[]): HotplugChange[] => [
    ...old.filter((o) => !now.some((n) => n.uuid === o.uuid)).map((o) => ({ device, action: "remove" as const, uuid: o.uuid })),
    ...now.filter((n) => !old.some((o) => o.uuid === n.uuid)).map((n) => ({ device, action: "add" as const, uuid: n.uuid })),
  ];
  return [...diff("disk", before.disks, after.disks), ...diff("nic", before.nics, after.nics)];
}

/** Plugs or unplugs the `action` changes, against `inst` as the config has it at that moment. */
export async function hotplug(ctx: LuContext<ParamSpec>, inst: Instance, changes: readonly HotplugChange[], action: "add" | "remove"): Promise<void> {
  const client = agentOf(ctx, inst.primary_node);
  for (const change of changes) {
    if (change.action !== action) continue;
    const list: readonly { uuid: string }[] = change.device === "disk" ? inst.disks : inst.nics;
    const index = list.findIndex((d) => d.uuid === change.uuid);
    if (index < 0) continue;
    try {
      await client.instanceHotplug({ instance: instanceSpec(ctx.snapshot(), inst), action, device: change.device, index });
      ctx.feedback(`Hotplug: ${action === "add" ? "plugged" : "unplugged"} ${change.device} ${index} ${action === "add" ? "into" : "from"} the running instance`);
    } catch (err) {
      logWarning(ctx, `Could not hotplug (${action}) ${change.device} ${index}: ${err instanceof Error ? err.message : String(err)}; the change takes effect at the next start`);
    }
  }
}

// What the master does when a hypervisor reports, by itself, that a guest stopped: a guest
// that powered itself off (not at Corral's request, and without user_shutdown keeping its
// domain) is marked down by a normal shutdown job, so the cluster stops expecting it to run
// and the reason is in the job's trail. A domain that crashed is left as it is: the instance
// shows ERROR_down until someone starts it again.

import type { JobQueue } from "../jobs/queue.ts";
import { buildOpcode } from "../model/opcode.ts";
import { OpInstanceShutdown } from "../model/opcodes/instance.ts";
import type { InstanceEvent } from "../rpc/index.ts";
import type { ConfigStore } from "../store/store.ts";
import type { LiveMonitor } from "./live.ts";

/** QEMU's SHUTDOWN reason for a guest that powered off (hypervisors report theirs alike). */
export const GUEST_POWEROFF = "guest-shutdown";

/** `leads`: whether this master leads (a standby on etcd sees the same events and leaves them to the leader). */
export function followGuestPowerOffs(live: LiveMonitor, store: ConfigStore, queue: JobQueue, log: (line: string) => void, leads: () => boolean = () => true): void {
  live.onInstanceEvent((nodeUuid: string, event: InstanceEvent) => {
    if (event.kind !== "stopped" || event.detail !== GUEST_POWEROFF || !leads()) return;
    const inst = [...store.snapshot().instances.values()].find((i) => i.name === event.instance && i.primary_node === nodeUuid);
    if (!inst || inst.admin_state !== "up") return;
    const op = buildOpcode(OpInstanceShutdown, {
      instance_name: inst.name,
      timeout: 0,
      reason: [["corral:master:guest-poweroff", `the guest powered itself off at ${new Date(event.at).toISOString()}`, Date.now() * 1e6]],
    });
    // The master's own job, whatever request's context the event arrived in (never an API token's).
    queue.submitJobs([[op]], { authority: null }).then(
      ([id]) => log(`instance ${inst.name}: the guest powered itself off; job ${id} marks it down`),
      (err: unknown) => log(`instance ${inst.name}: the guest powered itself off, but marking it down failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  });
}

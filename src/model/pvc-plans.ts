// The Corral jobs that carry out PVC's intents: each starts with OP_PVC_VM_INTENT (what the
// client asked for, remembered with the job id) and goes on with Ganeti's instance opcode
// that does it. The PVC view reads the intent and that job's outcome.

import type { Instance, Node } from "./objects.ts";
import { buildOpcode, type Opcode } from "./opcode.ts";
import { OpInstanceMigrate, OpInstanceReboot, OpInstanceShutdown, OpInstanceStartup } from "./opcodes/instance.ts";
import { OpPvcVmIntent } from "./opcodes/pvc.ts";
import type { PvcVmIntent } from "./pvc.ts";

/** PVC's graceful shutdown gets 90 s, then the VM is stopped by force. */
export const PVC_SHUTDOWN_TIMEOUT = 90;

function intent(inst: Instance, state: PvcVmIntent, extra: { last_node?: string | null; move_to?: string | null } = {}): Opcode {
  return buildOpcode(OpPvcVmIntent, { instance_name: inst.name, state, last_node: extra.last_node ?? null, move_to: extra.move_to ?? null });
}

/** start, shutdown (graceful, then forced), stop (forced now), restart (graceful stop, start). */
export function stateJob(inst: Instance, state: "start" | "shutdown" | "stop" | "restart"): Opcode[] {
  const name = inst.name;
  switch (state) {
    case "start":
      return [intent(inst, state), buildOpcode(OpInstanceStartup, { instance_name: name })];
    case "shutdown":
      return [intent(inst, state), buildOpcode(OpInstanceShutdown, { instance_name: name, timeout: PVC_SHUTDOWN_TIMEOUT })];
    case "stop":
      return [intent(inst, state), buildOpcode(OpInstanceShutdown, { instance_name: name, timeout: 0 })];
    case "restart":
      return [intent(inst, state), buildOpcode(OpInstanceReboot, { instance_name: name, reboot_type: "full", shutdown_timeout: PVC_SHUTDOWN_TIMEOUT })];
  }
}

/**
 * Moves a VM to `target`: a running VM migrates live (falling back to failover, i.e. a
 * shutdown and start on the target, when live migration is impossible); a VM that is not
 * running is only reassigned. `lastNode` is what to remember: a node name, "" to forget,
 * null to keep.
 */
export function moveJob(inst: Instance, target: Node, running: boolean, state: "migrate" | "unmigrate", lastNode: string | null): Opcode[] {
  if (!running) return [intent(inst, state, { last_node: lastNode, move_to: target.name })];
  return [
    intent(inst, state, { last_node: lastNode }),
    // PVC has no instance policies: a VM that Ganeti's policy would not place still moves.
    buildOpcode(OpInstanceMigrate, { instance_name: inst.name, target_node: target.name, allow_failover: true, ignore_ipolicy: true }),
  ];
}

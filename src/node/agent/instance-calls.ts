// The node calls on an instance's domain: start, shutdown, reboot, balloon, list, info,
// console, events, disk resize and hotplug. Each takes the instance's lock on this node.

import { setTimeout as sleep } from "node:timers/promises";
import { ECODE } from "../../model/errors.ts";
import { type InstanceSpec, type NodeRpc, type RunningInstance, type ShutdownResult, MAX_EVENT_WAIT_S } from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import { argError, checkInt, checkName, checkNumber, checkString } from "../util/names.ts";
import { checkInstanceSpec, memoryParams } from "./spec.ts";
import type { AgentParts } from "./parts.ts";

/** Longest soft-shutdown wait accepted, seconds: bounds every wait loop. */
const MAX_SHUTDOWN_TIMEOUT = 24 * 3600;

export type InstanceCalls = Pick<NodeRpc, "instanceStart" | "instanceShutdown" | "instanceReboot" | "instanceBalloonMemory" | "instanceList" | "instanceInfo" | "instanceConsole" | "instanceEvents" | "instanceDiskResize" | "instanceHotplug">;

export function instanceCalls(a: AgentParts): InstanceCalls {
  /** Starts `inst` (instance lock held). Already running is success, as in Ganeti. */
  async function start(inst: InstanceSpec, paused: boolean): Promise<RunningInstance> {
    const hv = a.hypervisor(inst.hypervisor);
    const running = await hv.instanceInfo(inst.name);
    // A domain kept after its guest powered off (user_shutdown) starts afresh.
    if (running?.state === "shutdown") await hv.stop(inst.name, true);
    else if (running) return running;
    const disks = await a.attachAll(inst.name, inst.disks);
    const { maxmem, minmem, vcpus } = memoryParams(inst);
    return a.locks.run("memory", async () => {
      const free = (await hv.nodeInfo()).memory_free;
      if (free < minmem) {
        throw new AgentError(
          AGENT_ERRORS.hypervisor,
          `Not enough memory on node ${a.nodeName} to start instance ${inst.name}: needs ${minmem} MiB, ${free} MiB free`,
          ECODE.noRes,
        );
      }
      // Ganeti's startup memory: as much as maxmem allows, never below minmem.
      const memory = Math.max(minmem, Math.min(maxmem, free));
      return hv.start({ instance: inst, memory, vcpus, disks, paused });
    });
  }

  /** Soft stop, wait up to `timeout` s, then forced (instance lock held). */
  async function shutdown(hv: Hypervisor, name: string, timeout: number): Promise<ShutdownResult> {
    if (!(await hv.instanceInfo(name))) return { was_running: false, forced: false };
    const deadline = Date.now() + timeout * 1000;
    try {
      await hv.stop(name, false);
    } catch (err) {
      if (await hv.instanceInfo(name)) throw stopFailed(name, err);
      return { was_running: true, forced: false };
    }
    while (Date.now() < deadline) {
      if (!(await hv.instanceInfo(name))) return { was_running: true, forced: false };
      await sleep(Math.max(1, Math.min(a.pollMs, deadline - Date.now())));
    }
    if (!(await hv.instanceInfo(name))) return { was_running: true, forced: false };
    try {
      await hv.stop(name, true);
    } catch (err) {
      if (await hv.instanceInfo(name)) throw stopFailed(name, err);
    }
    if (await hv.instanceInfo(name)) {
      throw new AgentError(AGENT_ERRORS.hypervisor, `Could not shutdown instance ${name} even by destroy`);
    }
    return { was_running: true, forced: true };
  }

  function stopFailed(name: string, err: unknown): AgentError {
    return new AgentError(AGENT_ERRORS.hypervisor, `Failed to stop instance ${name}: ${err instanceof Error ? err.message : String(err)}`);
  }

  return {
    async instanceStart(args) {
      const inst = checkInstanceSpec(args.instance);
      return a.locks.run(inst.name, () => start(inst, args.startup_paused === true));
    },

    async instanceShutdown(args) {
      const name = checkName(args.name, "instance name");
      const hvName = checkString(args.hypervisor, "hypervisor");
      const timeout = Math.min(checkNumber(args.timeout, "timeout"), MAX_SHUTDOWN_TIMEOUT);
      // A node without that hypervisor runs none of its domains: there is nothing to stop.
      if (!a.hasHypervisor(hvName)) return { was_running: false, forced: false };
      const hv = a.hypervisor(hvName);
      return a.locks.run(name, () => shutdown(hv, name, timeout));
    },

    async instanceReboot(args) {
      const inst = checkInstanceSpec(args.instance);
      const type = args.type;
      if (type !== "soft" && type !== "hard" && type !== "full") {
        throw argError(`Invalid reboot type ${JSON.stringify(type)}, expected soft, hard or full`);
      }
      const timeout = Math.min(checkNumber(args.shutdown_timeout, "shutdown_timeout"), MAX_SHUTDOWN_TIMEOUT);
      return a.locks.run(inst.name, async () => {
        const hv = a.hypervisor(inst.hypervisor);
        if (!(await hv.instanceInfo(inst.name))) {
          throw new AgentError(AGENT_ERRORS.hypervisor, `Cannot reboot instance ${inst.name} that is not running`, ECODE.state);
        }
        if (type === "soft") {
          await hv.softReboot(inst.name);
          return (await hv.instanceInfo(inst.name))!;
        }
        // hard: recreate the domain; full: the same from the node's point of view (Ganeti's
        // master turns "full" into stop + start, which is what this does).
        await shutdown(hv, inst.name, timeout);
        return start(inst, false);
      });
    },

    async instanceBalloonMemory(args) {
      const name = checkName(args.name, "instance name");
      const hv = a.hypervisor(checkString(args.hypervisor, "hypervisor"));
      const memory = checkInt(args.memory, "memory", 1);
      return a.locks.run(name, () => a.locks.run("memory", () => hv.balloon(name, memory)));
    },

    async instanceList(args) {
      const names = args.hypervisors ?? a.hypervisorNames();
      if (!Array.isArray(names)) throw argError("hypervisors must be a list");
      const out: RunningInstance[] = [];
      for (const n of names) out.push(...(await a.hypervisor(checkString(n, "hypervisor")).listInstances()));
      return out;
    },

    async instanceInfo(args) {
      const name = checkName(args.name, "instance name");
      return a.hypervisor(checkString(args.hypervisor, "hypervisor")).instanceInfo(name);
    },

    async instanceConsole(args) {
      const inst = checkInstanceSpec(args.instance);
      const hv = a.hypervisor(inst.hypervisor);
      if (!(await hv.instanceInfo(inst.name))) {
        throw new AgentError(AGENT_ERRORS.hypervisor, `Instance ${inst.name} is not running`, ECODE.state);
      }
      return hv.console(inst, typeof args.host === "string" && args.host !== "" ? args.host : a.nodeName);
    },

    async instanceEvents(args) {
      const epoch = args.epoch === null || args.epoch === undefined ? null : checkString(args.epoch, "epoch");
      const since = checkInt(args.since, "since", 0);
      const timeout = Math.min(checkNumber(args.timeout, "timeout"), MAX_EVENT_WAIT_S);
      return a.events.since(epoch, since, Math.max(0, timeout) * 1000);
    },

    async instanceDiskResize(args) {
      const inst = checkInstanceSpec(args.instance);
      const index = checkInt(args.index, "index", 0);
      const size = checkInt(args.size, "size", 1);
      const disk = inst.disks[index];
      if (!disk) throw argError(`Instance ${inst.name} has no disk ${index}`);
      await a.locks.run(inst.name, async () => {
        const hv = a.hypervisor(inst.hypervisor);
        if (!(await hv.instanceInfo(inst.name))) return; // not running: the next start sees the new size
        const attached = await a.locks.run(`disk:${disk.uuid}`, () => a.backend(disk).attach(disk));
        await hv.resizeDisk(inst.name, index, attached, size);
      });
      return null;
    },

    async instanceHotplug(args) {
      const inst = checkInstanceSpec(args.instance);
      const { action, device } = args;
      if (action !== "add" && action !== "remove") throw argError(`Invalid hotplug action ${JSON.stringify(action)}, expected add or remove`);
      if (device !== "disk" && device !== "nic") throw argError(`Invalid hotplug device ${JSON.stringify(device)}, expected disk or nic`);
      const index = checkInt(args.index, "index", 0);
      await a.locks.run(inst.name, async () => {
        const hv = a.hypervisor(inst.hypervisor);
        if (!(await hv.instanceInfo(inst.name))) {
          throw new AgentError(AGENT_ERRORS.hypervisor, `Cannot hotplug into instance ${inst.name}: it is not running`, ECODE.state);
        }
        if (device === "nic") {
          const nic = inst.nics[index];
          if (!nic) throw argError(`Instance ${inst.name} has no NIC ${index}`);
          return hv.hotplugNic(inst.name, action, index, nic);
        }
        const disk = inst.disks[index];
        if (!disk) throw argError(`Instance ${inst.name} has no disk ${index}`);
        const attached = action === "add" ? (await a.attachAll(inst.name, [disk]))[0] : null;
        return hv.hotplugDisk(inst.name, action, index, disk, attached);
      });
      return null;
    },
  };
}

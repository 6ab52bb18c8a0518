// What the agent needs from a hypervisor. The fake one simulates domains in the state dir; a
// kvm one can follow behind the same interface. Policy (how long to wait for a soft shutdown,
// how much memory to start with) lives in the agent, not here.

import type { ParamDict } from "../../model/objects.ts";
import type { AttachedDisk, ConsoleInfo, HvNodeInfo, InstanceSpec, MigrationStatus, RunningInstance } from "../../rpc/calls.ts";

export type { HvNodeInfo };

export interface HvStartSpec {
  name: string;
  /** Exact memory to give the domain, MiB (the agent computed it from minmem/maxmem). */
  memory: number;
  vcpus: number;
  hvparams: ParamDict;
  disks: AttachedDisk[];
  paused: boolean;
}

export interface Hypervisor {
  readonly name: string;
  nodeInfo(): Promise<HvNodeInfo>;
  /** Domains running (or paused, or migrating away) on this node. */
  listInstances(): Promise<RunningInstance[]>;
  instanceInfo(name: string): Promise<RunningInstance | null>;
  /** Starts a domain; refuses when it already runs or the node cannot hold `memory`. */
  start(spec: HvStartSpec): Promise<RunningInstance>;
  /**
   * One stop request. Soft asks the guest to shut down (it may ignore the request); forced
   * destroys the domain. The caller polls instanceInfo and escalates.
   */
  stop(name: string, force: boolean): Promise<void>;
  /** Reboot inside the guest; the domain stays. */
  softReboot(name: string): Promise<void>;
  balloon(name: string, memory: number): Promise<RunningInstance>;
  console(instance: InstanceSpec, host: string): ConsoleInfo;

  /** Opaque data the target needs to accept the instance. */
  migrationInfo(name: string): Promise<string>;
  /** Target side: prepare to receive; reserves the memory the instance runs with. */
  acceptInstance(instance: InstanceSpec, info: string): Promise<void>;
  /** Source side: hand the instance's state over to `target`. */
  migrate(name: string, target: string, live: boolean): Promise<void>;
  migrationStatus(name: string): Promise<MigrationStatus>;
  /** Target side: the instance now runs here (success) or the reservation is dropped. */
  finalizeMigrationDst(instance: InstanceSpec, info: string, success: boolean): Promise<void>;
  /** Source side: the instance is gone from here (success) or resumes here. */
  finalizeMigrationSource(name: string, success: boolean): Promise<void>;

  /** Power-cycles the node; returns a message. Simulated hypervisors reset only themselves. */
  powercycle(): Promise<string>;
  /** A boot id that changes when the (simulated) node reboots. */
  bootId(): Promise<string>;
}

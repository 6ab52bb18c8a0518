// What the agent needs from a hypervisor: the fake one (records in the state dir) and kvm
// (QEMU processes driven over QMP) behind one interface. Policy (how long to wait for a soft
// shutdown, how much memory to start with, which disks to attach) lives in the agent; the
// hypervisor turns one instance description into a running domain and reports what happens
// to it.

import type { AttachedDisk, ConsoleInfo, DiskExports, DiskSpec, HvNodeInfo, InstanceSpec, MigrationStatus, NicSpec, RunningInstance } from "../../rpc/calls.ts";

export type { HvNodeInfo };

export interface HvStartSpec {
  /** The whole instance: uuid, filled hvparams and beparams, NICs (MACs, links), network_port. */
  instance: InstanceSpec;
  /** Exact memory to give the domain, MiB (the agent computed it from minmem/maxmem). */
  memory: number;
  vcpus: number;
  /** The instance's disks as their storage backends attached them, in the instance's order. */
  disks: AttachedDisk[];
  /** Start with the vCPUs stopped (Ganeti's startup_paused). */
  paused: boolean;
}

/** How a source hands its domain over (the kvm hvparams migration_* as the agent filled them). */
export interface HvMigrateOptions {
  live: boolean;
  /** MiB/s; 0 = unlimited. */
  bandwidth?: number;
  /** Longest pause of the guest at the switch-over, ms. */
  downtime?: number;
  /** QEMU migration capabilities (migration_caps: postcopy-ram, auto-converge…). */
  caps?: string[];
  /** Node-local disks: mirror them into what the target exports (at `target`) before the memory moves. */
  storage?: DiskExports;
  /** Encrypt the traffic (TLS with certificates signed by the cluster certificate). */
  tls?: boolean;
}

/** How a target prepares: serve new disks for a mirror (`storage`), take only a TLS stream (`tls`). */
export interface HvAcceptOptions {
  storage: boolean;
  tls: boolean;
}

/** A change to a running domain that the hypervisor noticed by itself. */
export interface HvEvent {
  instance: string;
  /**
   * stopped: the guest powered off (or the domain was quit) and the domain is gone;
   * user-down: the guest powered off and the domain is kept, shut down (user_shutdown);
   * crashed: the domain's process died without the guest shutting down;
   * started/reset: for information (a reboot done inside the guest).
   */
  kind: "stopped" | "user-down" | "crashed" | "started" | "reset";
  /** What the hypervisor said (QEMU's SHUTDOWN reason, an exit status…). */
  detail: string;
  /** When it happened, epoch ms (the hypervisor's own timestamp where it has one). */
  at: number;
}

export interface Hypervisor {
  readonly name: string;
  nodeInfo(): Promise<HvNodeInfo>;
  /** Domains running (or paused, or shut down but kept, or migrating away) on this node. */
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

  /** Tells a running domain that disk `index` is now `sizeMiB` large; never shrinks. */
  resizeDisk(name: string, index: number, disk: AttachedDisk, sizeMiB: number): Promise<void>;
  /** Plugs a disk (attached by its backend) into a running domain, or unplugs it. */
  hotplugDisk(name: string, action: "add" | "remove", index: number, spec: DiskSpec, disk: AttachedDisk | null): Promise<void>;
  /** Plugs a NIC into a running domain, or unplugs it. */
  hotplugNic(name: string, action: "add" | "remove", index: number, nic: NicSpec): Promise<void>;

  /** Opaque data the target needs to accept the instance. */
  migrationInfo(name: string): Promise<string>;
  /**
   * Target side: prepare to receive (disks attached there); reserves the memory the instance
   * runs with. With `storage` the disks are new and empty, and served for the source to mirror
   * into (a hypervisor that cannot refuses).
   */
  acceptInstance(instance: InstanceSpec, info: string, disks: AttachedDisk[], options: HvAcceptOptions): Promise<DiskExports | null>;
  /** Source side: hand the instance's state over to `target` (the target node's address). */
  migrate(name: string, target: string, options: HvMigrateOptions): Promise<void>;
  /** Waits up to `waitMs` for an active migration to end (0: answers at once). */
  migrationStatus(name: string, waitMs: number): Promise<MigrationStatus>;
  /** Target side: the instance now runs here (success) or the reservation is dropped. */
  finalizeMigrationDst(instance: InstanceSpec, info: string, success: boolean): Promise<void>;
  /** Source side: the instance is gone from here (success) or resumes here. */
  finalizeMigrationSource(name: string, success: boolean): Promise<void>;

  /** Calls `listener` for every event from now on; returns the function that stops it. */
  onEvent(listener: (event: HvEvent) => void): () => void;

  /** Power-cycles the node; returns a message. Simulated hypervisors reset only themselves. */
  powercycle(): Promise<string>;
  /** A boot id that changes when the (simulated) node reboots. */
  bootId(): Promise<string>;
  /** Stops watching domains (they keep running: QEMU processes outlive the agent). */
  close?(): Promise<void>;
}

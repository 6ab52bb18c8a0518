// What the node agent's call families (instance-calls.ts, migration-calls.ts, disk-calls.ts,
// os-calls.ts) share: the node's name, its locks, hypervisors, disk backends, OS runner and
// export store. NodeAgent builds it once and hands it to each family.

import type { AttachedDisk, DiskSpec } from "../../rpc/calls.ts";
import type { ExportStore } from "../export/exports.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import type { OsRunner } from "../os/runner.ts";
import type { DiskBackend } from "../storage/backend.ts";
import type { KeyedMutex } from "../util/lock.ts";
import type { EventLog } from "./events.ts";

export interface AgentParts {
  readonly nodeName: string;
  /** Per instance name, per disk ("disk:UUID"), and "memory" for what changes the node's free memory. */
  readonly locks: KeyedMutex;
  /** What the hypervisors noticed by themselves (a guest powered off, a process died). */
  readonly events: EventLog;
  /** How often a soft shutdown is checked for completion, ms. */
  readonly pollMs: number;
  readonly os: OsRunner;
  readonly exports: ExportStore;
  readonly extSearchPath: string[];
  /** A hypervisor by name; an AgentError naming those there are when this node lacks it. */
  hypervisor(name: string): Hypervisor;
  hasHypervisor(name: string): boolean;
  hypervisorNames(): string[];
  /** The backend of the disk's template; an AgentError when this node lacks it. */
  backend(disk: DiskSpec): DiskBackend;
  /** Activates the disks in order (each under its lock); a failure names the disk and the instance. */
  attachAll(instance: string, disks: DiskSpec[]): Promise<AttachedDisk[]>;
}

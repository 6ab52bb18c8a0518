// What the agent needs from a kind of storage (one per disk template). The agent picks the
// backend from the disk's dev_type; backends own where the data lives and how it is reached.

import { ECODE, type Ecode } from "../../model/errors.ts";
import type { AttachedDisk, DiskSpec, DiskStatus, StorageUnitInfo } from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";

export interface DiskContext {
  /** Name of the instance the disk belongs to (Ganeti puts it in file paths). */
  instance: string;
  /** Index of the disk in the instance (disk/0, disk/1...). */
  index: number;
  /** Metadata for the storage, e.g. "originstname+inst1" (Ganeti's setinfo text). */
  info?: string;
}

export interface DiskBackend {
  /** The disk template it implements: "file", "sharedfile", "ext", "diskless". */
  readonly template: string;
  /** Creates the storage; an empty disk.logical_id means "choose one". */
  create(disk: DiskSpec, ctx: DiskContext): Promise<{ logical_id: unknown[]; path: string | null }>;
  /** Removes the storage; a missing one is not an error. */
  remove(disk: DiskSpec): Promise<void>;
  /** Grows by `amount` MiB; returns the new size in MiB. */
  grow(disk: DiskSpec, amount: number, dryRun: boolean): Promise<number>;
  /** Moves the storage to `newLogicalId`; returns the logical id now in effect. */
  rename(disk: DiskSpec, newLogicalId: unknown[]): Promise<unknown[]>;
  /** Makes the disk usable on this node and says where it is. */
  attach(disk: DiskSpec): Promise<AttachedDisk>;
  detach(disk: DiskSpec): Promise<void>;
  setInfo(disk: DiskSpec, info: string): Promise<void>;
  find(disk: DiskSpec): Promise<DiskStatus>;
  /** Space of this template's storage unit, or null when it has none to report. */
  spaceInfo(): Promise<StorageUnitInfo | null>;
}

export function bdevError(message: string, ecode?: Ecode): AgentError {
  return new AgentError(AGENT_ERRORS.blockDevice, message, ecode);
}

export const MiB = 1024 * 1024;

/** A disk's `[first, second]` logical id as two strings, or null when empty. */
export function logicalIdPair(disk: DiskSpec, template: string): [string, string] | null {
  const id = disk.logical_id;
  if (!Array.isArray(id) || id.length === 0) return null;
  if (id.length !== 2 || typeof id[0] !== "string" || typeof id[1] !== "string") {
    throw bdevError(`Invalid logical_id for a ${template} disk: ${JSON.stringify(id)}`, ECODE.inval);
  }
  return [id[0], id[1]];
}

export function checkSize(size: unknown, what: string): number {
  if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) {
    throw bdevError(`${what} must be a positive number of MiB, got ${JSON.stringify(size)}`, ECODE.inval);
  }
  return size;
}

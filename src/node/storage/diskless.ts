// The diskless template: instances without disks. Any disk operation is a caller error.

import { ECODE } from "../../model/errors.ts";
import type { AttachedDisk, DiskStatus, StorageUnitInfo } from "../../rpc/calls.ts";
import { bdevError, type DiskBackend } from "./backend.ts";

export class DisklessBackend implements DiskBackend {
  readonly template = "diskless";
  private refuse(what: string): never {
    throw bdevError(`Cannot ${what} a disk of a diskless instance`, ECODE.inval);
  }
  async create(): Promise<{ logical_id: unknown[]; path: string | null }> { return this.refuse("create"); }
  async remove(): Promise<void> { return this.refuse("remove"); }
  async grow(): Promise<number> { return this.refuse("grow"); }
  async rename(): Promise<unknown[]> { return this.refuse("rename"); }
  async attach(): Promise<AttachedDisk> { return this.refuse("attach"); }
  async detach(): Promise<void> { return this.refuse("detach"); }
  async setInfo(): Promise<void> { return this.refuse("set info on"); }
  async find(): Promise<DiskStatus> { return { exists: false, size: null, path: null }; }
  async spaceInfo(): Promise<StorageUnitInfo | null> { return null; }
}

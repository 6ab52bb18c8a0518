// The node side of Corral's storage layer: requests for the local backend go to files under
// the shared file storage dir, requests for Ceph to the ceph/rbd commands.

import type { StorageBackendKind, StorageReply, StorageRequest } from "../../model/pvc-node.ts";
import { argError, checkObject } from "../util/names.ts";
import { CephStorage } from "./ceph.ts";
import { LocalStorage } from "./local.ts";

export interface NodeStorageOptions {
  nodeName: string;
  stateDir: string;
  /** Root of the local backend's pools (`<shared file storage dir>/pvc`). */
  localRoot: string;
  /** PATH for the Ceph commands. */
  cephPath?: string;
}

export class NodeStorage {
  private readonly local: LocalStorage;
  private readonly ceph: CephStorage;

  constructor(o: NodeStorageOptions) {
    this.local = new LocalStorage({ root: o.localRoot, stateDir: o.stateDir, nodeName: o.nodeName });
    this.ceph = new CephStorage({ nodeName: o.nodeName, path: o.cephPath });
  }

  run(args: { backend: StorageBackendKind; request: StorageRequest }): Promise<StorageReply> {
    const request = checkObject(args.request, "storage request") as StorageRequest;
    if (args.backend === "local") return this.local.run(request);
    if (args.backend === "ceph") return this.ceph.run(request);
    throw argError(`Unknown storage backend ${JSON.stringify(args.backend)}`);
  }
}

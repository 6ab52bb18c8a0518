// Changes to the storage layer (pools, volumes, snapshots, OSDs, cluster options) as jobs:
// the request runs on the storage node (or the OSD's node) and the job ends when it is done,
// as PVC's Ceph commands are synchronous.

import { classificationOf, ECODE, OpExecError, OpPrereqError } from "../../model/errors.ts";
import { OpPvcStorage } from "../../model/opcodes/pvc.ts";
import type { StorageOp, StorageRequest } from "../../model/pvc-node.ts";
import { storageRequest } from "../../storage/service.ts";
import { defineLU } from "../lu.ts";
import { resolveNode } from "../../query/pvc-names.ts";

/** The requests that change something (reads do not go through jobs). */
export const STORAGE_CHANGES: ReadonlySet<StorageOp> = new Set<StorageOp>([
  "pool_add", "pool_remove", "volume_add", "volume_resize", "volume_rename", "volume_remove",
  "snapshot_add", "snapshot_rename", "snapshot_remove", "osd_add", "osd_remove", "osd_state", "option",
]);

export const pvcStorageLU = defineLU({
  opcode: OpPvcStorage,
  // One storage change at a time cluster-wide, as PVC's single command pipe has it.
  locks: () => ({ cluster: { names: "all", mode: "exclusive" } }),
  checkPrereq(ctx) {
    const request = ctx.op.request as StorageRequest;
    if (request.op !== ctx.op.action || !STORAGE_CHANGES.has(request.op)) {
      throw new OpPrereqError(`'${ctx.op.action}' is not a storage change`, ECODE.inval);
    }
    return { request, node: ctx.op.node === null ? undefined : resolveNode(ctx.snapshot(), ctx.op.node) };
  },
  async exec(ctx, { request, node }) {
    try {
      return await storageRequest(ctx.snapshot(), ctx.master.node, request, node);
    } catch (err) {
      throw new OpExecError(err instanceof Error ? err.message : String(err), classificationOf(err));
    }
  },
});

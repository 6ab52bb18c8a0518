// A job's precondition (an If-Match the HTTP layer accepted) checked again where it cannot
// race: under the job's locks, right before the first opcode's prerequisites. A change that
// slipped in between the HTTP check and the job's start fails the job before anything ran.

import { ECODE, OpPrereqError } from "../model/errors.ts";
import type { JobPrecondition } from "../model/job.ts";
import type { ConfigObject } from "../model/objects.ts";
import { snapshotMap, type ConfigSnapshot } from "../store/store.ts";

const TITLES: Record<JobPrecondition["kind"], string> = {
  cluster: "Cluster",
  node: "Node",
  nodegroup: "Node group",
  instance: "Instance",
  network: "Network",
};

/** Throws Ganeti's OpPrereqError unless the object is still at the expected serial_no. */
export function checkPrecondition(snap: ConfigSnapshot, expected: JobPrecondition): void {
  const title = TITLES[expected.kind];
  const found: (ConfigObject & { name?: string }) | undefined =
    expected.kind === "cluster"
      ? snap.cluster.uuid === expected.uuid ? snap.cluster : undefined
      : snapshotMap(snap, expected.kind).get(expected.uuid);
  if (!found) throw new OpPrereqError(`${title} ${expected.uuid} no longer exists`, ECODE.noEnt);
  if (found.serial_no !== expected.serial_no) {
    throw new OpPrereqError(
      `${title} ${found.name ?? expected.uuid} was modified: serial_no ${found.serial_no}, expected ${expected.serial_no}`,
      ECODE.state,
    );
  }
}

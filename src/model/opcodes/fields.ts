// Parameters several opcodes share (Ganeti's OpParams): same name, check, default and doc.
import { DEFAULT_SHUTDOWN_TIMEOUT } from "../constants.ts";
import { opt, req, t } from "../params.ts";

export const instanceName = req(t.string, "A required instance name (for single-instance LUs)");
export const instanceUuid = opt(
  t.maybe(t.nonEmptyString),
  null,
  "An instance UUID (for single-instance LUs)",
);
export const shutdownTimeout = opt(
  t.nonNegInt,
  DEFAULT_SHUTDOWN_TIMEOUT,
  "How long to wait for instance to shut down",
);
export const force = opt(t.bool, false, "Whether to force the operation");
export const hvState = opt(t.maybe(t.anyDict), null, "Set hypervisor states");
export const diskState = opt(t.maybe(t.anyDict), null, "Set disk states");
export const diskParams = opt(
  t.maybe(t.dictOf(t.anyDict, t.diskTemplate)),
  null,
  "Disk templates' parameter defaults",
);
export const macPrefix = opt(
  t.maybe(t.nonEmptyString),
  null,
  "Network specific mac prefix (that overrides the cluster one)",
);
export const groupName = req(t.nonEmptyString, "Group name");
export const forceVariant = opt(t.bool, false, "Whether to force an unknown OS variant");
export const waitForSync = opt(t.bool, true, "Whether to wait for the disk to synchronize");
export const ignoreIpolicy = opt(t.bool, false, "Whether to ignore ipolicy violations");
export const iallocator = opt(
  t.maybe(t.nonEmptyString),
  null,
  "Iallocator for deciding the target node for shared-storage instances",
);
export const conflictsCheck = opt(t.bool, true, "Whether to check for conflicting IP addresses");
export const targetNode = opt(
  t.maybe(t.nonEmptyString),
  null,
  "Target node for instance migration/failover",
);
export const targetNodeUuid = opt(
  t.maybe(t.nonEmptyString),
  null,
  "Target node UUID for instance migration/failover",
);
export const networkName = req(t.nonEmptyString, "Network name");
export const nodeName = req(t.nonEmptyString, "A required node name (for single-node LUs)");
export const nodeUuid = opt(t.maybe(t.nonEmptyString), null, "A node UUID (for single-node LUs)");
export const storageName = opt(t.maybe(t.nonEmptyString), null, "Storage name");

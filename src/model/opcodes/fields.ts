// Parameters several opcodes share (Ganeti's OpParams): same name, check, default and doc.
import { DEFAULT_SHUTDOWN_TIMEOUT } from "../constants.ts";
import { opt, req, t } from "../params.ts";

/** The result of opcodes that hand their work to further jobs (Ganeti's JobIdListOnly). */
export const jobIdListResult =
  `Dictionary containing none but the required key "jobs" (value List of ((Length 2) and ` +
  `(Item 0 is (Boolean [success]), item 1 is (String or JobId [Job ID if successful, error ` +
  `message otherwise]))) [List of submitted jobs])`;

// The object an opcode works on.
export const instanceName = req(t.string, "A required instance name (for single-instance LUs)");
export const instanceUuid = opt(
  t.maybe(t.nonEmptyString),
  null,
  "An instance UUID (for single-instance LUs)",
);
export const nodeName = req(t.nonEmptyString, "A required node name (for single-node LUs)");
export const nodeUuid = opt(t.maybe(t.nonEmptyString), null, "A node UUID (for single-node LUs)");
export const groupName = req(t.nonEmptyString, "Group name");
export const networkName = req(t.nonEmptyString, "Network name");

// Behaviour switches.
export const force = opt(t.bool, false, "Whether to force the operation");
export const forceVariant = opt(t.bool, false, "Whether to force an unknown OS variant");
export const ignoreIpolicy = opt(t.bool, false, "Whether to ignore ipolicy violations");
export const conflictsCheck = opt(t.bool, true, "Whether to check for conflicting IP addresses");
export const waitForSync = opt(t.bool, true, "Whether to wait for the disk to synchronize");
export const shutdownTimeout = opt(
  t.nonNegInt,
  DEFAULT_SHUTDOWN_TIMEOUT,
  "How long to wait for instance to shut down",
);

// Placement.
export const iallocator = opt(
  t.maybe(t.nonEmptyString),
  null,
  "Iallocator for deciding the target node for shared-storage instances",
);
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

// Cluster, group and node settings.
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
export const storageName = opt(t.maybe(t.nonEmptyString), null, "Storage name");

// Every logical unit, by the OP_ID it executes.

import type { LogicalUnit } from "./lu.ts";
import { clusterRedistConfLU } from "./cluster.ts";
import { clusterSetParamsLU } from "./cluster/setparams.ts";
import { groupAddLU, groupAssignNodesLU, groupRemoveLU, groupRenameLU, groupSetParamsLU } from "./group.ts";
import {
  networkAddLU, networkConnectLU, networkDisconnectLU, networkRemoveLU, networkRenameLU, networkSetParamsLU,
} from "./network.ts";
import { nodeEvacuateLU, nodeMigrateLU } from "./node/evacuate.ts";
import { nodeAddLU, nodeRemoveLU } from "./node/membership.ts";
import { nodePowercycleLU } from "./node/powercycle.ts";
import { nodeSetParamsLU } from "./node/setparams.ts";
import { nodeModifyStorageLU, nodeQueryStorageLU, repairNodeStorageLU } from "./node/storage.ts";
import { tagsDelLU, tagsSetLU } from "./tags.ts";
import { instanceLogicalUnits } from "./instance/index.ts";
import { pvcLogicalUnits } from "./pvc/index.ts";

const all: LogicalUnit[] = [
  clusterRedistConfLU,
  clusterSetParamsLU,
  tagsSetLU,
  tagsDelLU,
  groupAddLU,
  groupRemoveLU,
  groupRenameLU,
  groupSetParamsLU,
  groupAssignNodesLU,
  networkAddLU,
  networkRemoveLU,
  networkSetParamsLU,
  networkRenameLU,
  networkConnectLU,
  networkDisconnectLU,
  nodeSetParamsLU,
  nodePowercycleLU,
  nodeEvacuateLU,
  nodeMigrateLU,
  nodeQueryStorageLU,
  nodeModifyStorageLU,
  repairNodeStorageLU,
  nodeAddLU,
  nodeRemoveLU,
];

export const logicalUnits: ReadonlyMap<string, LogicalUnit> = new Map(
  [...all, ...instanceLogicalUnits, ...pvcLogicalUnits].map((lu) => [lu.opcode.id, lu]),
);

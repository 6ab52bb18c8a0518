// The PVC API's logical units (registered in ops/index.ts).
import type { LogicalUnit } from "../lu.ts";
import { pvcAclAddLU, pvcAclRemoveLU, pvcLeaseAddLU, pvcLeaseRemoveLU, pvcNetworkAddLU, pvcNetworkModifyLU, pvcNetworkRemoveLU } from "./network.ts";
import { pvcNodeDomainStateLU, pvcNodeFlushLU, pvcNodeReadyLU } from "./node.ts";
import { pvcStorageLU } from "./storage.ts";
import { pvcVmDefineLU, pvcVmFlushLocksLU, pvcVmIntentLU, pvcVmModifyLU, pvcVmUndefineLU } from "./vm.ts";

export const pvcLogicalUnits: LogicalUnit[] = [
  pvcVmDefineLU, pvcVmModifyLU, pvcVmUndefineLU, pvcVmIntentLU, pvcVmFlushLocksLU,
  pvcNodeFlushLU, pvcNodeReadyLU, pvcNodeDomainStateLU,
  pvcNetworkAddLU, pvcNetworkModifyLU, pvcNetworkRemoveLU, pvcLeaseAddLU, pvcLeaseRemoveLU, pvcAclAddLU, pvcAclRemoveLU,
  pvcStorageLU,
];

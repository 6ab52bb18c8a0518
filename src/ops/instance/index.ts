// The instance logical units (and the OS and export ones they go with), for the LU table.

import type { LogicalUnit } from "../lu.ts";
import { osDiagnoseLU } from "../os.ts";
import { backupExportLU, backupPrepareLU, backupRemoveLU } from "./backup.ts";
import { instanceCreateLU } from "./create.ts";
import { instanceMultiAllocLU } from "./multialloc.ts";
import {
  instanceActivateDisksLU, instanceDeactivateDisksLU, instanceGrowDiskLU, instanceRecreateDisksLU, instanceReplaceDisksLU,
} from "./disks.ts";
import { instanceFailoverLU, instanceMigrateLU } from "./migrate.ts";
import { instanceSetParamsLU } from "./modify.ts";
import { instanceRebootLU, instanceShutdownLU, instanceStartupLU } from "./power.ts";
import { instanceConsoleLU, instanceQueryDataLU } from "./query.ts";
import { instanceReinstallLU, instanceRenameLU } from "./reinstall.ts";
import { instanceRemoveLU } from "./remove.ts";

export const instanceLogicalUnits: LogicalUnit[] = [
  instanceCreateLU,
  instanceMultiAllocLU,
  instanceRemoveLU,
  instanceStartupLU,
  instanceShutdownLU,
  instanceRebootLU,
  instanceReinstallLU,
  instanceRenameLU,
  instanceSetParamsLU,
  instanceActivateDisksLU,
  instanceDeactivateDisksLU,
  instanceRecreateDisksLU,
  instanceGrowDiskLU,
  instanceReplaceDisksLU,
  instanceMigrateLU,
  instanceFailoverLU,
  instanceQueryDataLU,
  instanceConsoleLU,
  backupPrepareLU,
  backupExportLU,
  backupRemoveLU,
  osDiagnoseLU,
];

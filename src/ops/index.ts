// Every logical unit, by the OP_ID it executes.

import type { LogicalUnit } from "./lu.ts";
import { clusterRedistConfLU } from "./cluster.ts";
import { tagsDelLU, tagsSetLU } from "./tags.ts";

const all: LogicalUnit<never, never>[] = [clusterRedistConfLU, tagsSetLU, tagsDelLU] as never[];

export const logicalUnits: ReadonlyMap<string, LogicalUnit> = new Map(
  (all as unknown as LogicalUnit[]).map((lu) => [lu.opcode.id, lu]),
);

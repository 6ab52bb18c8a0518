// Every opcode Corral knows, by OP_ID. Add a module's opcodes here when you declare them.
import type { OpcodeDef } from "../opcode.ts";
import * as backup from "./backup.ts";
import * as cluster from "./cluster.ts";
import * as group from "./group.ts";
import * as instance from "./instance.ts";
import * as network from "./network.ts";
import * as node from "./node.ts";
import * as nodeadd from "./nodeadd.ts";
import * as os from "./os.ts";
import * as pvc from "./pvc.ts";
import * as query from "./query.ts";
import * as tags from "./tags.ts";

const modules: Record<string, unknown>[] = [backup, cluster, group, instance, network, node, nodeadd, os, pvc, query, tags];

export const opcodeDefs: ReadonlyMap<string, OpcodeDef> = new Map(
  modules
    .flatMap((m) => Object.values(m))
    .filter((v): v is OpcodeDef => typeof v === "object" && v !== null && "id" in v && "params" in v)
    .map((def) => [def.id, def]),
);

export function opcodeDef(id: string): OpcodeDef | undefined {
  return opcodeDefs.get(id);
}

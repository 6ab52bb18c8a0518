// What some reads need from the nodes rather than the config, as Ganeti serves them: an
// instance's console and the exports each node holds. The master implements them over its
// node connections (src/master/nodereads.ts); API handlers read them like any query input and
// never reach a node themselves.

import type { Instance } from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import type { ExportInfo } from "./export.ts";

export interface NodeReads {
  /** How to reach a running instance's console (Ganeti's console dict), or null when its node cannot tell. */
  instanceConsole(snap: ConfigSnapshot, inst: Instance): Promise<Record<string, unknown> | null>;
  /** Every node's exports, asked at once; a node that fails or is slow has one entry without export. */
  exports(snap: ConfigSnapshot): Promise<ExportInfo[]>;
}

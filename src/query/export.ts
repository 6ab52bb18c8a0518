// Export fields (Ganeti's Query/Export.hs): one row per export a node holds.

import { field, FieldTable, type NoValue } from "./fields.ts";

/** What the master learned from a node's export-list call. */
export interface ExportInfo {
  /** Node name. */
  node: string;
  /** Export name; null when the node did not answer. */
  export: string | null;
}

export interface ExportRow {
  node: string;
  /** The export, or why there is none: a node that did not answer or is offline gets one such row. */
  export: string | NoValue;
}

export const exportFields = new FieldTable<ExportRow>([
  field("node", "Node", "text", "Node name", (e) => e.node, "hostname"),
  field("export", "Export", "text", "Export name", (e) => e.export),
]);

// Export fields (Ganeti's Query/Export.hs): one row per export a node holds.

import { field, FieldTable, NODATA } from "./fields.ts";

export interface ExportRow {
  /** Node name. */
  node: string;
  /** Export name; null when the node did not answer (Ganeti then has one row, export "no data"). */
  export: string | null;
}

export const exportFields = new FieldTable<ExportRow>([
  field("node", "Node", "text", "Node name", (e) => e.node, "hostname"),
  field("export", "Export", "text", "Export name", (e) => e.export ?? NODATA),
]);

// Operating system fields (Ganeti's lib/query.py _BuildOsFields), for OP_OS_DIAGNOSE and
// GET /2/os. Rows are what the master gathers from the nodes' OS scripts.

import { field, FieldTable } from "./fields.ts";
import { niceCompare, niceSort } from "./names.ts";

export interface OsRow {
  name: string;
  valid: boolean;
  hidden: boolean;
  blacklisted: boolean;
  variants: string[];
  api_versions: number[];
  /** `[name, description]` pairs. */
  parameters: [string, string][];
  /** Per node name: `[[path, status, diagnose, variants, parameters, api_versions], …]`. */
  node_status: Record<string, unknown[]>;
  os_hvp: Record<string, unknown>;
  osparams: Record<string, unknown>;
  trusted: boolean;
}

export const osFields = new FieldTable<OsRow>([
  field("name", "Name", "text", "Operating system name", (o) => o.name),
  field("valid", "Valid", "bool", "Whether operating system definition is valid", (o) => o.valid),
  field("hidden", "Hidden", "bool", "Whether operating system is hidden", (o) => o.hidden),
  field("blacklisted", "Blacklisted", "bool", "Whether operating system is blacklisted", (o) => o.blacklisted),
  field("variants", "Variants", "other", "Operating system variants", (o) => niceSort(o.variants)),
  field("api_versions", "ApiVersions", "other", "Operating system API versions", (o) => [...o.api_versions].sort((a, b) => a - b)),
  field("parameters", "Parameters", "other", "Operating system parameters",
    (o) => [...o.parameters].sort((a, b) => niceCompare(a[0], b[0]))),
  field("node_status", "NodeStatus", "other", "Status from node", (o) => o.node_status),
  field("os_hvp", "OsHypervisorParams", "other", "Operating system specific hypervisor parameters", (o) => o.os_hvp),
  field("osparams", "OsParameters", "other", "Operating system specific parameters", (o) => o.osparams),
  field("trusted", "Trusted", "bool", "Whether this OS is trusted", (o) => o.trusted),
]);

/** GET /2/os?bulk=1 fields (Ganeti master's OSI_FIELDS_BULK). */
export const OSI_FIELDS_BULK = ["name", "valid", "variants", "parameters", "api_versions", "blacklisted", "hidden", "trusted"] as const;

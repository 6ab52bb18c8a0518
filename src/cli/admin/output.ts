// How lists look: gnt-*'s columns (titles, numbers right-aligned, sizes in units, Y/N for
// booleans, "(unavail)" and the like for missing values), `--separator`, `--no-headers`, or
// JSON. Field titles and kinds come from the API's field definitions (/2/query/*/fields).

import Table from "cli-table3";
import { stringify } from "yaml";

export interface FieldDef {
  name: string;
  title: string;
  kind: string;
  doc: string;
}

export type Units = "h" | "m" | "g" | "t";

/** Where text goes: stdout, or nowhere for a job log a command does not show. */
export interface TextOut {
  write(text: string): unknown;
}

export interface ListFormat {
  headers: boolean;
  separator?: string;
  units: Units;
  json: boolean;
}

/** Ganeti's FormatUnit: MiB as "512M", "1.5G", "2.0T" (h), or bare numbers in one unit. */
export function formatUnit(mib: number, units: Units): string {
  switch (units) {
    case "m":
      return String(Math.round(mib));
    case "g":
      return (mib / 1024).toFixed(1);
    case "t":
      return (mib / 1024 / 1024).toFixed(1);
    default:
      if (mib < 1024) return `${Math.round(mib)}M`;
      if (mib < 1024 * 1024) return `${(mib / 1024).toFixed(1)}G`;
      return `${(mib / 1024 / 1024).toFixed(1)}T`;
  }
}

/** What gnt-* list prints for a value whose status is not normal (RS_UNKNOWN, NODATA, UNAVAIL, OFFLINE). */
const STATUS_TEXT: Record<number, string> = { 1: "??", 2: "?", 3: "-", 4: "*" };

function formatValue(value: unknown, kind: string, units: Units): string {
  if (value === null || value === undefined) return "-";
  if (kind === "unit" && typeof value === "number") return formatUnit(value, units);
  if (kind === "bool" || typeof value === "boolean") return value ? "Y" : "N";
  if (kind === "timestamp" && Array.isArray(value) && typeof value[0] === "number") {
    return new Date(value[0] * 1000).toISOString().replace("T", " ").slice(0, 19);
  }
  if (Array.isArray(value)) return value.map((v) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))).join(",");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const NUMERIC = new Set(["number", "unit", "float"]);

/** A Query2 answer's rows ([[status, value], …] per row) as text or JSON. */
export function renderRows(fields: readonly FieldDef[], rows: readonly (readonly [number, unknown])[][], f: ListFormat): string {
  if (f.json) {
    const out = rows.map((row) => Object.fromEntries(fields.map((d, i) => [d.name, row[i][0] === 0 ? row[i][1] : null])));
    return JSON.stringify(out, null, 2) + "\n";
  }
  const cells = rows.map((row) => row.map(([status, value], i) => (status === 0 ? formatValue(value, fields[i].kind, f.units) : (STATUS_TEXT[status] ?? "?"))));
  const head = fields.map((d) => d.title);
  if (f.separator !== undefined) {
    const lines = f.headers ? [head, ...cells] : cells;
    return lines.map((l) => l.join(f.separator) + "\n").join("");
  }
  return table(f.headers ? head : null, cells, fields.map((d) => (NUMERIC.has(d.kind) ? "right" : "left")));
}

/** Aligned columns without borders, one space apart, as gnt-* prints them. */
export function table(head: string[] | null, rows: string[][], aligns?: ("left" | "right")[]): string {
  const t = new Table({
    ...(head ? { head } : {}),
    chars: {
      top: "", "top-mid": "", "top-left": "", "top-right": "", bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
      left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: " ",
    },
    style: { "padding-left": 0, "padding-right": 0, head: [], border: [], compact: true },
    ...(aligns ? { colAligns: aligns } : {}),
  });
  t.push(...rows);
  if (rows.length === 0 && !head) return "";
  return t.toString().split("\n").map((l) => l.trimEnd()).join("\n") + "\n";
}

/** An object as gnt-* `info` prints one: indented YAML. */
export function renderInfo(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

/** Plain text when stdout is not a terminal: no cursor movement, no progress bars. */
export const interactive = (): boolean => process.stdout.isTTY === true && process.env.TERM !== "dumb";

// What every admin command shares: the client its global options describe, the write
// options (--submit, --dry-run), lists over /2/query, and confirmation of destructive steps.

import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { RapiClient } from "../../client/rapi.ts";
import { connectAdmin, type AdminConnectionValues } from "./connection.ts";
import { followJob } from "./follow.ts";
import { renderInfo, renderRows, type FieldDef, type ListFormat, type Units } from "./output.ts";
import { UsageError } from "./params.ts";
import { namesFilter, parseQueryFilter, type QueryFilter } from "./qfilter.ts";

export interface WriteValues {
  submit?: boolean;
  dryRun?: boolean;
}

/** One client per invocation: the config file is read, and a password asked for, once. */
const clients = new WeakMap<Command, Promise<RapiClient>>();

/** The client for this invocation (global connection options, environment, config file). */
export function clientOf(cmd: Command): Promise<RapiClient> {
  let root = cmd;
  while (root.parent) root = root.parent;
  let client = clients.get(root);
  if (!client) {
    client = connectAdmin(cmd.optsWithGlobals<AdminConnectionValues>());
    clients.set(root, client);
  }
  return client;
}

export const enc = encodeURIComponent;

/** `?dry-run=1` and the like: a query string of the set flags; a list repeats its key (`?tag=a&tag=b`). */
export function query(params: Record<string, string | number | boolean | readonly string[] | undefined | null>): string {
  const parts = Object.entries(params)
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((item: string) => [k, item] as const) : [[k, v] as const]))
    .filter(([, v]) => v !== undefined && v !== null && v !== false)
    .map(([k, v]) => `${enc(k)}=${v === true ? 1 : enc(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/** Commands whose --dry-run reaches RAPI as its `dry-run=1` query flag (submitJob adds it). */
const dryRunByQuery = new WeakSet<Command>();

/** Adds --submit (print the job id, do not follow); and --dry-run where RAPI takes it in the query. */
export function writeOptions(cmd: Command, dryRun = false): Command {
  cmd.option("--submit", "print the job id and return without following the job");
  if (dryRun) {
    cmd.option("--dry-run", "check the request without changing anything");
    dryRunByQuery.add(cmd);
  }
  return cmd;
}

/** Sends a job-creating request and follows the job (or only prints its id with --submit). */
export async function submitJob(cmd: Command, method: string, path: string, body?: unknown): Promise<Record<string, unknown> | null> {
  const client = await clientOf(cmd);
  const v = cmd.opts<WriteValues>();
  const target = dryRunByQuery.has(cmd) && v.dryRun ? `${path}${path.includes("?") ? "&" : "?"}dry-run=1` : path;
  return followJob(client, await client.request(method, target, body), { submit: v.submit === true });
}

/** submitJob for actions that only need it to succeed. */
export async function runJob(cmd: Command, method: string, path: string, body?: unknown): Promise<void> {
  await submitJob(cmd, method, path, body);
}

export interface ListValues {
  output?: string;
  filter?: string;
  headers?: boolean;
  separator?: string;
  units?: string;
  format?: string;
}

/** gnt-*'s list options. */
export function listOptions(cmd: Command): Command {
  return cmd
    .option("-o, --output <fields>", "fields to show, comma-separated; +a,b adds to the default set")
    .option("-F, --filter <expression>", "only what matches, in Ganeti's query language (e.g. 'pnode == \"node1\" and not admin_state == \"up\"')")
    .option("--no-headers", "no title line")
    .option("--separator <text>", "columns joined by this text, not aligned")
    .option("--units <unit>", "sizes in h (human, default), m, g or t")
    .option("--format <format>", "text (default) or json");
}

function listFormat(v: ListValues): ListFormat {
  const units = v.units ?? (v.separator !== undefined ? "m" : "h");
  if (!["h", "m", "g", "t"].includes(units)) throw new UsageError(`--units takes h, m, g or t, not '${units}'`);
  const format = v.format ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--format takes text or json, not '${format}'`);
  return { headers: v.headers !== false, separator: v.separator, units: units as Units, json: format === "json" };
}

/** The fields a list shows: its defaults, -o's, or the defaults plus -o +extra. */
export function chosenFields(defaults: readonly string[], output: string | undefined): string[] {
  if (output === undefined || output === "") return [...defaults];
  if (output.startsWith("+")) return [...defaults, ...output.slice(1).split(",").filter(Boolean)];
  return output.split(",").filter(Boolean);
}

/**
 * `corral RESOURCE list [NAME…]`: Query2 over PUT /2/query/RESOURCE with the chosen fields
 * and the filter; titles and kinds come back with the answer (the API's field registry).
 */
export async function listResource(cmd: Command, resource: string, defaults: readonly string[], names: readonly string[], nameField = "name"): Promise<void> {
  const v = cmd.opts<ListValues>();
  const format = listFormat(v);
  const fields = chosenFields(defaults, v.output);
  const filters: QueryFilter[] = [];
  const byName = namesFilter(names, nameField);
  if (byName) filters.push(byName);
  if (v.filter !== undefined) filters.push(parseQueryFilter(v.filter));
  const qfilter = filters.length === 0 ? null : filters.length === 1 ? filters[0] : ["&", ...filters];
  const client = await clientOf(cmd);
  const answer = (await client.request("PUT", `/2/query/${resource}`, { fields, qfilter })) as { fields: FieldDef[]; data: [number, unknown][][] };
  const unknown = answer.fields.filter((f) => f.kind === "unknown").map((f) => f.name);
  if (unknown.length) throw new UsageError(`unknown field${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (see corral ${cmdPath(cmd)}-fields)`);
  process.stdout.write(renderRows(answer.fields, answer.data, format));
}

/** `corral RESOURCE list-fields [FIELD…]`: name, kind, title and description of each field. */
export async function listFields(cmd: Command, resource: string, names: readonly string[]): Promise<void> {
  const v = cmd.opts<ListValues>();
  const client = await clientOf(cmd);
  const { fields: defs } = (await client.request("GET", `/2/query/${resource}/fields${names.length ? query({ fields: names.join(",") }) : ""}`)) as { fields: FieldDef[] };
  const rows = defs.map((d) => [[0, d.name], [0, d.kind], [0, d.title], [0, d.doc]] as [number, unknown][]);
  const head: FieldDef[] = [["name", "Name"], ["kind", "Type"], ["title", "Title"], ["doc", "Description"]].map(([name, title]) => ({ name, title, kind: "text", doc: "" }));
  process.stdout.write(renderRows(head, rows, listFormat(v)));
}

const cmdPath = (cmd: Command): string => {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
};

/** Prints an object as gnt-* info does, or as JSON with --format json. */
export function printInfo(cmd: Command, value: unknown): void {
  const json = cmd.opts<{ format?: string }>().format === "json";
  process.stdout.write(json ? JSON.stringify(value, null, 2) + "\n" : renderInfo(value));
}

/** Asks before a destructive step; without a terminal it needs --force. */
export async function confirm(cmd: Command, question: string): Promise<void> {
  if (cmd.opts<{ force?: boolean }>().force) return;
  if (!process.stdin.isTTY) throw new UsageError(`${question} Give --force to do it without asking.`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} y/[n]: `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError("Aborted.");
}

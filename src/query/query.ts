// Query2 execution (`/2/query/[resource]` and `/2/query/[resource]/fields`), as Ganeti's
// luxid runs it: parse and check the filter, pick the objects (by name when the filter is
// just `name == …` terms, else all, nice-sorted), filter them, and answer one
// `[status, value]` pair per requested field.

import { ECODE, OpPrereqError } from "../model/errors.ts";
import type { Job } from "../model/job.ts";
import type { FilterRule, Instance, Network, Node, NodeGroup } from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { indexOf, type SnapIndex } from "./context.ts";
import { exportFields, type ExportInfo, type ExportRow } from "./export.ts";
import { NODATA, OFFLINE, statusRow, type FieldDefJson, type FieldTable, type ResultStatus } from "./fields.ts";
import { filterRuleFields } from "./filterrule.ts";
import { groupFields, type GroupRow } from "./group.ts";
import { instanceFields, type InstanceRow } from "./instance.ts";
import { jobFields, missingJob } from "./job.ts";
import { NO_LIVE, type LiveState } from "./live.ts";
import { lockFields, type LockRow } from "./lock.ts";
import { lookupObject, niceCompare } from "./names.ts";
import { networkFields, type NetworkRow } from "./network.ts";
import { nodeFields, type NodeRow } from "./node.ts";
import { compileFilter, parseFilter, QueryFilterError, requestedNames, type FilterValue } from "./qlang.ts";

/** What a query reads besides the config. Missing parts count as "nothing known". */
export interface QueryContext {
  snap: ConfigSnapshot;
  live?: LiveState;
  /** The job queue, archived jobs included (they are listed only when "archived" is asked for). */
  jobs?: Iterable<Job>;
  /** The lock manager's state. */
  locks?: readonly LockRow[];
  /**
   * Exports per node, as the nodes last reported them. When absent, every node that is
   * not offline counts as not answering.
   */
  exports?: readonly ExportInfo[];
}

export interface QueryResult {
  fields: FieldDefJson[];
  data: [ResultStatus, unknown][][];
}

/** The resources `/2/query/…` serves (Ganeti's QR_VIA_RAPI). */
export const QUERY_RESOURCES = ["instance", "node", "group", "network", "job", "export", "lock", "filter"] as const;
export type QueryResource = (typeof QUERY_RESOURCES)[number];

/**
 * A resource name Ganeti's luxid does not serve. `parseFailure` is true for names it cannot
 * even decode (RAPI then answers 502 with `luxiParseFailure([resource, fields, filter], message)`
 * from qlang.ts); false for known kinds it does not query ("os", "cluster": 500).
 */
export class QueryResourceError extends Error {
  readonly parseFailure: boolean;
  constructor(message: string, parseFailure: boolean) {
    super(message);
    this.name = "QueryResourceError";
    this.parseFailure = parseFailure;
  }
}

const HASKELL_KIND: Record<string, string> = { os: "ItemTypeOpCode QROs", cluster: "ItemTypeOpCode QRCluster" };

interface Resource<R> {
  readonly table: FieldTable<R>;
  /** The field whose `==` terms select objects by name (Ganeti's nameField). */
  readonly nameField: string;
  /** The rows, before filtering. `names` are the filter's `nameField == …` values, if that is all it is. */
  rows(ctx: QueryContext, names: FilterValue[] | undefined, fields: readonly string[]): R[];
}

/** Objects named by the filter (Ganeti's getItem, failing on unknown names), or all nice-sorted. */
function pick<T extends { name: string; uuid: string }>(
  objects: ReadonlyMap<string, T>,
  names: FilterValue[] | undefined,
  kindName: string,
  all: () => readonly T[],
): readonly T[] {
  // Ganeti looks up the string values only; numbers are left to the filter.
  const wanted = names?.filter((n): n is string => typeof n === "string");
  if (!wanted || wanted.length === 0) return all();
  return wanted.map((w) => {
    const r = lookupObject(objects, w);
    if (r.match === "none") throw new OpPrereqError(`${kindName} name ${w} not found`, ECODE.noEnt);
    if (r.match === "multiple") throw new OpPrereqError(`${kindName} name ${w} has multiple matches`, ECODE.noEnt);
    return r.obj;
  });
}

const byName = <T extends { name: string }>(o: T) => o.name;
const sortedInstances = (idx: SnapIndex) => idx.sorted("instance", idx.snap.instances, byName);
const sortedNodes = (idx: SnapIndex) => idx.sorted("node", idx.snap.nodes, byName);

const instanceResource: Resource<InstanceRow> = {
  table: instanceFields,
  nameField: "name",
  rows(ctx, wanted) {
    const idx = indexOf(ctx.snap);
    const live = ctx.live ?? NO_LIVE;
    return pick<Instance>(ctx.snap.instances, wanted, "Instance", () => sortedInstances(idx)).map((inst) => ({ inst, idx, live }));
  },
};

const nodeResource: Resource<NodeRow> = {
  table: nodeFields,
  nameField: "name",
  rows(ctx, wanted) {
    const idx = indexOf(ctx.snap);
    const live = ctx.live ?? NO_LIVE;
    return pick<Node>(ctx.snap.nodes, wanted, "Node", () => sortedNodes(idx)).map((node) => ({ node, idx, live }));
  },
};

const groupResource: Resource<GroupRow> = {
  table: groupFields,
  nameField: "name",
  rows(ctx, wanted) {
    const idx = indexOf(ctx.snap);
    return pick<NodeGroup>(ctx.snap.groups, wanted, "NodeGroup", () => idx.sorted("group", ctx.snap.groups, byName))
      .map((group) => ({ group, idx }));
  },
};

const networkResource: Resource<NetworkRow> = {
  table: networkFields,
  nameField: "name",
  rows(ctx, wanted) {
    const idx = indexOf(ctx.snap);
    return pick<Network>(ctx.snap.networks, wanted, "Network", () => idx.sorted("network", ctx.snap.networks, byName))
      .map((net) => ({ net, idx }));
  },
};

const filterResource: Resource<FilterRule> = {
  table: filterRuleFields,
  // Ganeti's name field for filters is "name", which filter rules lack: a filter on it fails
  // to compile before any lookup.
  nameField: "name",
  rows(ctx) {
    return [...indexOf(ctx.snap).sorted("filter", ctx.snap.filters, (f) => f.uuid)];
  },
};

const exportResource: Resource<ExportRow> = {
  table: exportFields,
  nameField: "node",
  rows(ctx, wanted) {
    const idx = indexOf(ctx.snap);
    const byNode = new Map<string, ExportInfo[]>();
    for (const e of ctx.exports ?? []) {
      const list = byNode.get(e.node);
      if (list) list.push(e);
      else byNode.set(e.node, [e]);
    }
    const rows: ExportRow[] = [];
    for (const node of pick<Node>(ctx.snap.nodes, wanted, "Node", () => sortedNodes(idx))) {
      if (node.offline) {
        rows.push({ node: node.name, export: OFFLINE });
      } else if (!ctx.exports) {
        rows.push({ node: node.name, export: NODATA });
      } else {
        for (const e of byNode.get(node.name) ?? []) rows.push({ node: node.name, export: e.export ?? NODATA });
      }
    }
    return rows;
  },
};

const lockResource: Resource<LockRow> = {
  table: lockFields,
  nameField: "name",
  rows(ctx) {
    return [...(ctx.locks ?? [])].sort((a, b) => niceCompare(a.name, b.name));
  },
};

function jobIds(wanted: FilterValue[]): number[] {
  const ids: number[] = [];
  for (const w of wanted) {
    let id: number;
    if (typeof w === "number") id = w;
    else if (/^\s*-?\d+\s*$/.test(w)) id = Number(w);
    else throw new QueryFilterError("compile", `parsing job id: cannot parse string '${w}'`);
    if (id < 0) throw new QueryFilterError("compile", `Invalid value for job ID ' ${id}'`);
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** Jobs by id from the filter (numbers too, unlike other resources), or all sorted by id. */
const jobResource: Resource<Job> = {
  table: jobFields,
  nameField: "id",
  rows(ctx, names, fields) {
    const all = [...(ctx.jobs ?? [])];
    if (names && names.length > 0) {
      const byId = new Map(all.map((j) => [j.id, j]));
      return jobIds(names).map((id) => byId.get(id) ?? missingJob(id));
    }
    const withArchived = fields.includes("archived");
    return all.filter((j) => withArchived || !j.archived).sort((a, b) => a.id - b.id);
  },
};

/** A resource with its row type forgotten: its table only ever sees its own rows. */
interface AnyResource {
  readonly table: FieldTable<unknown>;
  readonly nameField: string;
  rows(ctx: QueryContext, names: FilterValue[] | undefined, fields: readonly string[]): unknown[];
}
const erase = <R>(r: Resource<R>): AnyResource => r as unknown as AnyResource;

const RESOURCES: Record<QueryResource, AnyResource> = {
  instance: erase(instanceResource),
  node: erase(nodeResource),
  group: erase(groupResource),
  network: erase(networkResource),
  job: erase(jobResource),
  export: erase(exportResource),
  lock: erase(lockResource),
  filter: erase(filterResource),
};

export function isQueryResource(name: string): name is QueryResource {
  return Object.hasOwn(RESOURCES, name);
}

function resource(kind: string, what: "Query" | "QueryFields"): AnyResource {
  if (isQueryResource(kind)) return RESOURCES[kind];
  const haskell = HASKELL_KIND[kind];
  if (haskell) throw new QueryResourceError(`${what} '${haskell}' not supported`, false);
  throw new QueryResourceError(`Can't parse value '${kind}' as neitherQueryTypeLuxi nor QueryTypeOp`, true);
}

/** The field table of a Query2 resource (for the CLI and views). */
export function fieldTable(kind: QueryResource): FieldTable<unknown> {
  return RESOURCES[kind].table;
}

/**
 * Runs a Query2 query. Throws QueryResourceError for a resource it does not serve,
 * QueryFilterError for a bad filter, and OpPrereqError (unknown_entity) when the filter names
 * an object that does not exist, as Ganeti does.
 */
export function runQuery(kind: string, fields: readonly string[], filter: unknown, ctx: QueryContext): QueryResult {
  const res = resource(kind, "Query");
  const ast = parseFilter(filter);
  const names = requestedNames(ast, res.nameField);
  const pred = compileFilter(ast, res.table);
  const rows = res.rows(ctx, names, fields);
  const getters = res.table.getters(fields);
  const data: [ResultStatus, unknown][][] = [];
  for (const row of rows) if (pred(row)) data.push(statusRow(getters, row));
  return { fields: res.table.definitions(fields), data };
}

const allSorted = new WeakMap<FieldTable<unknown>, FieldDefJson[]>();

/** `/2/query/X/fields`: every field nice-sorted by name, or the named ones in order. */
export function queryFields(kind: string, names?: readonly string[]): { fields: FieldDefJson[] } {
  const table = resource(kind, "QueryFields").table;
  if (names && names.length > 0) return { fields: table.definitions(names) };
  let all = allSorted.get(table);
  if (!all) {
    all = table.definitions([...table.byName.keys()].sort(niceCompare));
    allSorted.set(table, all);
  }
  return { fields: all };
}

// The dicts RAPI's bulk lists and single-object GETs return (Ganeti's rlib2 field lists,
// zipped with a classic query row: unavailable values are null), with RAPI's extras.

import type { Cluster, FilterRule, Instance, Network, Node, NodeGroup } from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { indexOf, type SnapIndex } from "./context.ts";
import { FieldTable, NoValue, type FieldGetter } from "./fields.ts";
import { filterRuleFields } from "./filterrule.ts";
import { groupFields, type GroupRow } from "./group.ts";
import { instanceFields, type InstanceRow } from "./instance.ts";
import { NO_LIVE, type LiveState } from "./live.ts";
import { nameMatches, niceCompare } from "./names.ts";
import { networkFields, type NetworkRow } from "./network.ts";
import { nodeFields, type NodeRow } from "./node.ts";
import { CachedRowEncoder } from "./rowcache.ts";

const COMMON = ["ctime", "mtime", "uuid", "serial_no", "tags"] as const;

/** Instance fields of bulk lists and GET /2/instances/X. `custom_osparams` is 3.1's addition. */
export const I_FIELDS = [
  "name", "admin_state", "os", "pnode", "snodes", "disk_template",
  "nic.ips", "nic.macs", "nic.modes", "nic.uuids", "nic.names", "nic.links", "nic.networks", "nic.networks.names",
  "nic.bridges", "network_port",
  "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids", "disk.names",
  "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
  "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams",
  ...COMMON,
] as const;

export const N_FIELDS = [
  "name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal", "spfree",
  "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos", "cnodes", "csockets",
  "pip", "sip", "role", "pinst_list", "sinst_list", "master_capable", "vm_capable", "ndparams", "group.uuid",
  ...COMMON,
] as const;

export const G_FIELDS = [
  "alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy",
  "diskparams", "custom_diskparams", "ndparams", "custom_ndparams",
  ...COMMON,
] as const;

export const NET_FIELDS = [
  "name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count", "reserved_count",
  "map", "group_list", "inst_list", "external_reservations",
  ...COMMON,
] as const;

export const FILTER_RULE_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"] as const;

export type BulkKind = "instance" | "node" | "group" | "network" | "filter";

interface BulkObject {
  instance: Instance;
  node: Node;
  group: NodeGroup;
  network: Network;
  filter: FilterRule;
}

/** Names with their getters, compiled once. */
interface Compiled<R> {
  readonly names: readonly string[];
  readonly getters: readonly FieldGetter<R>[];
}

function compile<R>(table: FieldTable<R>, names: readonly string[], replace: Record<string, FieldGetter<R>> = {}): Compiled<R> {
  return { names, getters: names.map((n) => replace[n] ?? table.getters([n])[0]) };
}

function dict<R>(c: Compiled<R>, row: R): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const { names, getters } = c;
  for (let i = 0; i < names.length; i++) {
    const v = getters[i](row);
    out[names[i]] = v instanceof NoValue ? null : v;
  }
  return out;
}

/** RAPI's compatibility copy: `beparams.memory` = `beparams.maxmem` (rlib2's _UpdateBeparams). */
function beparamsWithMemory(r: InstanceRow): unknown {
  const be = r.idx.instanceBeparams(r.inst);
  if (!be) return null;
  be["memory"] = be["maxmem"];
  return be;
}

const compiled = {
  instance: compile(instanceFields, I_FIELDS, { beparams: beparamsWithMemory }),
  node: compile(nodeFields, N_FIELDS),
  group: compile(groupFields, G_FIELDS),
  network: compile(networkFields, NET_FIELDS),
  filter: compile(filterRuleFields, FILTER_RULE_FIELDS),
};

const byName = <T extends { name: string }>(o: T) => o.name;

/** One object's dict (the row object is built per call). */
function rowDict<K extends BulkKind>(kind: K, idx: SnapIndex, live: LiveState, obj: BulkObject[K]): Record<string, unknown> {
  switch (kind) {
    case "instance":
      return dict<InstanceRow>(compiled.instance, { inst: obj as Instance, idx, live });
    case "node":
      return dict<NodeRow>(compiled.node, { node: obj as Node, idx, live });
    case "group":
      return dict<GroupRow>(compiled.group, { group: obj as NodeGroup, idx });
    case "network":
      return dict<NetworkRow>(compiled.network, { net: obj as Network, idx });
    default:
      return dict<FilterRule>(compiled.filter, obj as FilterRule);
  }
}

function sortedObjects<K extends BulkKind>(kind: K, idx: SnapIndex): readonly BulkObject[K][] {
  const snap = idx.snap;
  switch (kind) {
    case "instance":
      return idx.sorted("instance", snap.instances, byName) as readonly BulkObject[K][];
    case "node":
      return idx.sorted("node", snap.nodes, byName) as readonly BulkObject[K][];
    case "group":
      return idx.sorted("group", snap.groups, byName) as readonly BulkObject[K][];
    case "network":
      return idx.sorted("network", snap.networks, byName) as readonly BulkObject[K][];
    default:
      return idx.sorted("filter", snap.filters, (f) => f.uuid) as readonly BulkObject[K][];
  }
}

/** `GET /2/<kind>s?bulk=1`: every object's dict, nice-sorted by name (filters: by uuid). */
export function bulkDicts(kind: BulkKind, snap: ConfigSnapshot, live: LiveState = NO_LIVE): Record<string, unknown>[] {
  const idx = indexOf(snap);
  const objects = sortedObjects(kind, idx);
  const out = new Array<Record<string, unknown>>(objects.length);
  for (let i = 0; i < objects.length; i++) out[i] = rowDict(kind, idx, live, objects[i]);
  return out;
}

// ---- JSON fast path for instance lists ----

const defaultsTokens = new WeakMap<Cluster, object>();
let lastDefaults: { key: string; token: object } | undefined;

/** The same object for every cluster whose instance defaults (hv, os_hvp, be, nic) are equal. */
function defaultsToken(c: Cluster): object {
  let token = defaultsTokens.get(c);
  if (!token) {
    const key = JSON.stringify([c.hvparams, c.os_hvp, c.beparams, c.nicparams]);
    if (lastDefaults?.key !== key) lastDefaults = { key, token: {} };
    token = lastDefaults.token;
    defaultsTokens.set(c, token);
  }
  return token;
}

/**
 * An instance's config fields are valid while the instance, the nodes and networks it names
 * are the same objects and the cluster defaults it is filled from are equal.
 */
const instanceEncoder = new CachedRowEncoder<InstanceRow, Instance>(instanceFields, I_FIELDS, {
  owner: (r) => r.inst,
  deps: (r) => {
    const snap = r.idx.snap;
    const deps: unknown[] = [defaultsToken(r.idx.cluster), snap.nodes.get(r.inst.primary_node)];
    for (const u of r.inst.secondary_nodes) deps.push(snap.nodes.get(u));
    for (const n of r.inst.nics) if (n.network) deps.push(snap.networks.get(n.network));
    return deps;
  },
}, { beparams: beparamsWithMemory });

/**
 * `GET /2/<kind>s?bulk=1` as JSON text: the same as `JSON.stringify(bulkDicts(…))`, but
 * instances' config-only fields are encoded once per instance object and reused while the
 * config they depend on is unchanged, so a large list costs little more than its live state.
 */
export function bulkJson(kind: BulkKind, snap: ConfigSnapshot, live: LiveState = NO_LIVE): string {
  if (kind !== "instance") return JSON.stringify(bulkDicts(kind, snap, live));
  return [...bulkJsonChunks(kind, snap, live)].join("");
}

/** Instances per chunk of bulkJsonChunks: about 1 MiB of JSON. */
const INSTANCES_PER_CHUNK = 1000;

/**
 * The same text as bulkJson, in pieces of `perChunk` instances (by default about a megabyte),
 * computed as they are taken: a server writes them out as they come, so a list of 100,000
 * instances never exists whole. The snapshot and live state are read as they were when the
 * generator started.
 */
export function* bulkJsonChunks(kind: BulkKind, snap: ConfigSnapshot, live: LiveState = NO_LIVE, perChunk = INSTANCES_PER_CHUNK): Generator<string> {
  if (kind !== "instance") {
    yield JSON.stringify(bulkDicts(kind, snap, live));
    return;
  }
  const idx = indexOf(snap);
  const objects = sortedObjects("instance", idx);
  const nodes = live.nodes;
  const instances = live.instances;
  const frozen: LiveState = { nodes, instances };
  // One join per chunk over flat pieces: concatenating per instance would build ropes.
  let pieces: string[] = ["["];
  for (let i = 0; i < objects.length; i++) {
    if (i > 0) pieces.push(",");
    instanceEncoder.encodeInto({ inst: objects[i], idx, live: frozen }, pieces);
    if ((i + 1) % perChunk === 0) {
      yield pieces.join("");
      pieces = [];
    }
  }
  pieces.push("]");
  yield pieces.join("");
}

/** `GET /2/<kind>s/X`: the object's dict; a node's also has `secondary_ip` (a copy of `sip`). */
export function oneDict<K extends BulkKind>(kind: K, snap: ConfigSnapshot, live: LiveState, obj: BulkObject[K]): Record<string, unknown> {
  const d = rowDict(kind, indexOf(snap), live, obj);
  if (kind === "node") d["secondary_ip"] = d["sip"];
  return d;
}

const mapOf = <K extends BulkKind>(kind: K, snap: ConfigSnapshot): ReadonlyMap<string, BulkObject[K]> =>
  ({ instance: snap.instances, node: snap.nodes, group: snap.groups, network: snap.networks, filter: snap.filters })[kind] as
    ReadonlyMap<string, BulkObject[K]>;

/**
 * The object a single-object GET names. Ganeti queries `name == X or uuid == X` and answers
 * the first match in nice-sort order. Instance and node names are host names: X matches
 * exactly or as the short form of "X.domain". Group and network names match exactly.
 * Filter rules are found by uuid only.
 */
export function findOne<K extends BulkKind>(kind: K, snap: ConfigSnapshot, query: string): BulkObject[K] | undefined {
  const last = lastFound.get(snap);
  if (last && last.kind === kind && last.query === query) return last.found as BulkObject[K] | undefined;
  const found = search(kind, snap, query);
  lastFound.set(snap, { kind, query, found });
  return found;
}

/**
 * The last lookup in each snapshot (snapshots never change): a GET with a version stamp looks
 * its object up for the stamp and again in the handler, and each lookup scans every object.
 */
const lastFound = new WeakMap<ConfigSnapshot, { kind: BulkKind; query: string; found: unknown }>();

function search<K extends BulkKind>(kind: K, snap: ConfigSnapshot, query: string): BulkObject[K] | undefined {
  const map = mapOf(kind, snap);
  if (kind === "filter") return map.get(query);
  const hostname = kind === "instance" || kind === "node";
  let best: { name: string } | undefined;
  for (const o of map.values()) {
    const named = o as BulkObject[K] & { name: string };
    const hit = named.uuid === query || (hostname ? nameMatches(named.name, query) : named.name === query);
    if (hit && (best === undefined || niceCompare(named.name, best.name) < 0)) best = named;
  }
  return best as BulkObject[K] | undefined;
}

/**
 * Builds the bulk-list cache of every instance in the background, a chunk per event-loop
 * turn, so the first bulk list after start-up is as fast as the next ones.
 */
export function warmBulkCache(snap: ConfigSnapshot, live: LiveState = NO_LIVE): Promise<void> {
  const chunks = bulkJsonChunks("instance", snap, live);
  return new Promise((resolve) => {
    const step = () => (chunks.next().done ? resolve() : setImmediate(step));
    setImmediate(step);
  });
}

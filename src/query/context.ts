// Per-snapshot lookups that many rows share: which instances a node or network has, which
// nodes a group has, parameters filled from cluster defaults. Built lazily, once per
// snapshot (snapshots are immutable), so a query over 100,000 rows does map lookups only.

import type {
  Cluster, Instance, IPolicy, ISpec, NestedParams, Network, Node, NodeGroup, ParamDict,
} from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { niceCompare } from "./names.ts";

/** Hypervisor parameters that are cluster-wide only (Ganeti's HVC_GLOBALS, 3.0). */
export const HV_GLOBALS: ReadonlySet<string> = new Set(["migration_bandwidth", "migration_mode", "migration_port", "xen_cmd"]);

/** Ganeti's fillDict: the defaults, overridden and extended by `custom`, minus `skip`. */
export function fillDict(defaults: ParamDict | undefined, custom: ParamDict | undefined, skip?: ReadonlySet<string>): ParamDict {
  const out: ParamDict = {};
  if (defaults) for (const k in defaults) if (!skip?.has(k)) out[k] = defaults[k];
  if (custom) for (const k in custom) if (!skip?.has(k)) out[k] = custom[k];
  return out;
}

const ISPEC_KEYS = ["memory-size", "disk-size", "disk-count", "cpu-count", "nic-count", "spindle-use"] as const;

function ispec(base: Partial<ISpec> | undefined, over?: Partial<ISpec>): ISpec {
  const out: Record<string, unknown> = {};
  for (const k of ISPEC_KEYS) {
    const v = over?.[k] ?? base?.[k];
    if (v !== undefined) out[k] = v;
  }
  return out as unknown as ISpec;
}

/**
 * A filled instance policy (Ganeti's fillParams for IPolicy): `minmax`, the ratios and the
 * templates are replaced whole when the group sets them; `std` is filled key by key. Keys
 * come out in the order Ganeti serializes them.
 */
export function fillIPolicy(cluster: IPolicy, custom?: Partial<IPolicy>): IPolicy {
  return {
    minmax: (custom?.minmax ?? cluster.minmax).map((mm) => ({ min: ispec(mm.min), max: ispec(mm.max) })),
    std: ispec(cluster.std, custom?.std),
    "spindle-ratio": custom?.["spindle-ratio"] ?? cluster["spindle-ratio"],
    "vcpu-ratio": custom?.["vcpu-ratio"] ?? cluster["vcpu-ratio"],
    "disk-templates": [...(custom?.["disk-templates"] ?? cluster["disk-templates"])],
  } as unknown as IPolicy;
}

/**
 * Filled disk parameters, template by template. (Ganeti 3.0's Haskell query fills only the
 * outer level, so a group override of one DRBD parameter hides the others; the Python code
 * it replaced, and the LUs, fill per template. We follow the LUs.)
 */
export function fillDiskParams(cluster: NestedParams, custom: NestedParams | undefined): NestedParams {
  const out: NestedParams = {};
  for (const t in cluster) out[t] = fillDict(cluster[t], custom?.[t]);
  if (custom) for (const t in custom) if (!(t in out)) out[t] = { ...custom[t] };
  return out;
}

function isEmpty(d: ParamDict): boolean {
  for (const _ in d) return false;
  return true;
}

const byUuid = <T extends { uuid: string }>(a: T, b: T): number => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0);
const EMPTY: readonly never[] = [];

function groupBy<T, K>(items: Iterable<T>, keys: (item: T) => Iterable<K>): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const it of items) {
    for (const k of keys(it)) {
      const list = out.get(k);
      if (list) list.push(it);
      else out.set(k, [it]);
    }
  }
  return out;
}

/**
 * Per `sorted` cache key, the last order sorted: its keys in order and each one's place. A
 * snapshot with the same keys (most changes rename, add and remove nothing) takes that order
 * over instead of sorting again: nice-sorting 100,000 instance names took 150–270 ms of the
 * event loop after every config change, the checks and lookups here a tenth of that.
 */
const lastOrders = new Map<string, { readonly size: number; readonly place: ReadonlyMap<string, number> }>();

/** `arr` (whose keys are `keys`) in the order `cacheKey` was last sorted in, if the keys are the same ones. */
function inLastOrder<T>(cacheKey: string, arr: readonly T[], keys: readonly string[]): T[] | undefined {
  const last = lastOrders.get(cacheKey);
  if (!last || last.size !== arr.length) return undefined;
  const out = new Array<T>(arr.length);
  const filled = new Uint8Array(arr.length);
  for (let i = 0; i < arr.length; i++) {
    const at = last.place.get(keys[i]);
    // A key not there before, or twice now: sort afresh.
    if (at === undefined || filled[at] === 1) return undefined;
    filled[at] = 1;
    out[at] = arr[i];
  }
  return out;
}

/** Shared lookups over one snapshot. Get it with `indexOf(snap)`. */
export class SnapIndex {
  readonly snap: ConfigSnapshot;
  readonly cluster: Cluster;
  private primary?: Map<string, Instance[]>;
  private secondary?: Map<string, Instance[]>;
  private nodesByGroup?: Map<string, Node[]>;
  private instByNetwork?: Map<string, Instance[]>;
  private readonly sortedCache = new Map<string, readonly unknown[]>();
  private readonly groupNd = new Map<string, ParamDict>();
  private readonly hvDefaults = new Map<string, ParamDict>();
  private nicDefaults?: ParamDict;
  private beDefaults?: ParamDict;

  constructor(snap: ConfigSnapshot) {
    this.snap = snap;
    this.cluster = snap.cluster;
  }

  /** Instances with this node as primary, in uuid order. */
  primaryInstances(nodeUuid: string): readonly Instance[] {
    this.primary ??= groupBy([...this.snap.instances.values()].sort(byUuid), (i) => [i.primary_node]);
    return this.primary.get(nodeUuid) ?? EMPTY;
  }

  /** Instances with this node as secondary, in uuid order. */
  secondaryInstances(nodeUuid: string): readonly Instance[] {
    this.secondary ??= groupBy([...this.snap.instances.values()].sort(byUuid), (i) => new Set(i.secondary_nodes));
    return this.secondary.get(nodeUuid) ?? EMPTY;
  }

  /** Nodes of a group, in uuid order (as Ganeti lists them). */
  groupNodes(groupUuid: string): readonly Node[] {
    this.nodesByGroup ??= groupBy([...this.snap.nodes.values()].sort(byUuid), (n) => [n.group]);
    return this.nodesByGroup.get(groupUuid) ?? EMPTY;
  }

  /** Instances with a NIC on the network, in uuid order. */
  networkInstances(networkUuid: string): readonly Instance[] {
    this.instByNetwork ??= groupBy([...this.snap.instances.values()].sort(byUuid), (i) => {
      const nets = new Set<string>();
      for (const nic of i.nics) if (nic.network) nets.add(nic.network);
      return nets;
    });
    return this.instByNetwork.get(networkUuid) ?? EMPTY;
  }

  /** Objects of a map, nice-sorted by a key; cached per snapshot. */
  sorted<T>(cacheKey: string, objects: ReadonlyMap<string, T>, key: (o: T) => string): readonly T[] {
    let hit = this.sortedCache.get(cacheKey) as readonly T[] | undefined;
    if (!hit) {
      const arr = [...objects.values()];
      const keys = arr.map(key);
      hit = inLastOrder(cacheKey, arr, keys);
      if (!hit) {
        const order = arr.map((_, i) => i).sort((x, y) => niceCompare(keys[x], keys[y]) || x - y);
        hit = order.map((i) => arr[i]);
        lastOrders.set(cacheKey, { size: arr.length, place: new Map(order.map((i, at) => [keys[i], at])) });
      }
      this.sortedCache.set(cacheKey, hit);
    }
    return hit;
  }

  nodeName(uuid: string): string | undefined {
    return this.snap.nodes.get(uuid)?.name;
  }

  groupOfNode(node: Node): NodeGroup | undefined {
    return this.snap.groups.get(node.group);
  }

  networkName(uuid: string): string | undefined {
    return this.snap.networks.get(uuid)?.name;
  }

  /** Cluster ndparams filled with the group's (shared; do not change). */
  groupNdparams(group: NodeGroup): ParamDict {
    let nd = this.groupNd.get(group.uuid);
    if (!nd) {
      nd = fillDict(this.cluster.ndparams, group.ndparams);
      this.groupNd.set(group.uuid, nd);
    }
    return nd;
  }

  /** A node's filled ndparams (cluster → group → node), or undefined if its group is missing. */
  nodeNdparams(node: Node): ParamDict | undefined {
    const group = this.groupOfNode(node);
    if (!group) return undefined;
    const base = this.groupNdparams(group);
    return isEmpty(node.ndparams) ? base : fillDict(base, node.ndparams);
  }

  /** The cluster's default NIC parameters (nicparams["default"]). */
  defaultNicParams(): ParamDict {
    return (this.nicDefaults ??= this.cluster.nicparams["default"] ?? {});
  }

  /** The cluster's default backend parameters (beparams["default"]). */
  defaultBeParams(): ParamDict | undefined {
    return (this.beDefaults ??= this.cluster.beparams["default"]);
  }

  /** Hypervisor defaults for an OS: cluster hvparams → os_hvp, globals left out (shared). */
  hvDefaultsFor(hv: string, os: string): ParamDict {
    const key = hv + "\u0000" + os;
    let d = this.hvDefaults.get(key);
    if (!d) {
      d = fillDict(this.cluster.hvparams[hv], this.cluster.os_hvp[os]?.[hv], HV_GLOBALS);
      this.hvDefaults.set(key, d);
    }
    return d;
  }

  /** The instance's filled hvparams, globals left out (may be shared; do not change). */
  instanceHvparams(inst: Instance): ParamDict {
    const base = this.hvDefaultsFor(inst.hypervisor, inst.os);
    return isEmpty(inst.hvparams) ? base : fillDict(base, inst.hvparams, HV_GLOBALS);
  }

  /** The instance's filled beparams (a fresh object), or undefined without cluster defaults. */
  instanceBeparams(inst: Instance): ParamDict | undefined {
    const base = this.defaultBeParams();
    return base ? fillDict(base, inst.beparams) : undefined;
  }

  /** The instance's filled osparams: cluster osparams of the OS (without variant) → instance. */
  instanceOsparams(inst: Instance): ParamDict {
    const plus = inst.os.indexOf("+");
    const osName = plus < 0 ? inst.os : inst.os.slice(0, plus);
    const base = this.cluster.osparams[osName];
    return base ? fillDict(base, inst.osparams) : inst.osparams;
  }

  networkOf(uuid: string): Network | undefined {
    return this.snap.networks.get(uuid);
  }
}

const indexes = new WeakMap<ConfigSnapshot, SnapIndex>();

/** The shared index of a snapshot (built on first use). */
export function indexOf(snap: ConfigSnapshot): SnapIndex {
  let idx = indexes.get(snap);
  if (!idx) {
    idx = new SnapIndex(snap);
    indexes.set(snap, idx);
  }
  return idx;
}

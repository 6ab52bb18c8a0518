// The cluster as htools see it: nodes, instances and groups with the numbers hbal's loaders
// read, built from the same RAPI dicts hbal fetches (GET /2/{groups,nodes,instances}?bulk=1
// and /2/info) or from an htools text file (`hbal -t`). Reading the very dicts hbal reads is
// what makes Corral's score equal hbal's for the same cluster. Pure data, no I/O.

import { DTS_MIGRATABLE_STORAGE, STORAGE_MIGRATING_HYPERVISORS } from "../model/constants.ts";
import { isDict } from "../model/dict.ts";

/** Ganeti's instance run states (InstanceStatus) as RAPI's `status` shows them. */
export type RunStatus =
  | "ADMIN_down" | "ADMIN_offline" | "ERROR_down" | "ERROR_up" | "ERROR_nodedown"
  | "ERROR_nodeoffline" | "running" | "USER_down" | "ERROR_wrongnode";
const RUN_STATUSES: ReadonlySet<string> = new Set<RunStatus>([
  "ADMIN_down", "ADMIN_offline", "ERROR_down", "ERROR_up", "ERROR_nodedown",
  "ERROR_nodeoffline", "running", "USER_down", "ERROR_wrongnode",
]);

export interface ModelGroup {
  readonly name: string;
  readonly uuid: string;
  readonly vcpuRatio: number;
  readonly spindleRatio: number;
}

export interface ModelNode {
  readonly name: string;
  /** Index into ClusterModel.groups. */
  readonly group: number;
  readonly tMem: number;
  nMem: number;
  readonly fMem: number;
  readonly tDsk: number;
  readonly fDsk: number;
  readonly tCpu: number;
  readonly nCpu: number;
  /** Relative CPU speed (the text format's; 1 over RAPI). */
  readonly cpuSpeed: number;
  readonly tSpindles: number;
  readonly fSpindles: number;
  readonly exclusiveStorage: boolean;
  /** Offline, drained or not vm_capable: htools' "offline" (no moves to it, counted apart). */
  readonly offline: boolean;
  readonly tags: readonly string[];
}

export interface ModelInstance {
  readonly name: string;
  readonly mem: number;
  /** Disk space counted on nodes (RAPI's disk_usage). */
  readonly dsk: number;
  readonly vcpus: number;
  readonly status: RunStatus;
  readonly autoBalance: boolean;
  /** Index into ClusterModel.nodes; secondary -1 when there is none. */
  readonly pnode: number;
  readonly snode: number;
  readonly template: string;
  /**
   * Its hypervisor (RAPI's `hypervisor` field), null when unknown: the htools text format and
   * the bulk dicts hbal reads have none. Only storage moves read it (kvm mirrors file disks).
   */
  readonly hypervisor: string | null;
  /** beparams' always_failover: a migration of it turns into a failover. */
  readonly alwaysFailover: boolean;
  readonly spindleUse: number;
  /** Spindles of all disks, null when a disk does not say (exclusive storage then refuses). */
  readonly spindles: number | null;
  readonly tags: readonly string[];
}

/**
 * Whether OP_INSTANCE_MIGRATE with migrate_storage can move it (ops/instance/migrate.ts): it
 * runs (only a live migration takes disks along), its hypervisor mirrors disks (an unknown one
 * does not), and its migrations do not turn into failovers (always_failover).
 */
export function migratesWithStorage(i: ModelInstance): boolean {
  return DTS_MIGRATABLE_STORAGE.includes(i.template) && i.status === "running" && !i.alwaysFailover
    && i.hypervisor !== null && STORAGE_MIGRATING_HYPERVISORS.includes(i.hypervisor);
}

export interface ClusterModel {
  readonly groups: readonly ModelGroup[];
  readonly nodes: readonly ModelNode[];
  readonly instances: readonly ModelInstance[];
  readonly clusterTags: readonly string[];
}

/** Thrown for data a loader cannot read; the message names the object and the field. */
export class ModelError extends Error {}

// Ganeti's ipolicy defaults (htools' defIPolicy).
const DEFAULT_VCPU_RATIO = 4.0;
const DEFAULT_SPINDLE_RATIO = 32.0;
/** hbal's --static-kvm-node-memory default: a KVM node's own memory is taken as this. */
export const STATIC_KVM_NODE_MEMORY = 4096;

type Dict = Record<string, unknown>;

function field(owner: string, d: Dict, key: string): unknown {
  if (!(key in d)) throw new ModelError(`${owner}: missing field '${key}'`);
  return d[key];
}
function num(owner: string, d: Dict, key: string): number {
  const v = field(owner, d, key);
  if (typeof v !== "number") throw new ModelError(`${owner}: field '${key}' is ${JSON.stringify(v)}, expected a number`);
  return v;
}
function bool(owner: string, d: Dict, key: string): boolean {
  const v = field(owner, d, key);
  if (typeof v !== "boolean") throw new ModelError(`${owner}: field '${key}' is ${JSON.stringify(v)}, expected a boolean`);
  return v;
}
function str(owner: string, d: Dict, key: string): string {
  const v = field(owner, d, key);
  if (typeof v !== "string") throw new ModelError(`${owner}: field '${key}' is ${JSON.stringify(v)}, expected a string`);
  return v;
}
function dict(owner: string, d: Dict, key: string): Dict {
  const v = field(owner, d, key);
  if (!isDict(v)) throw new ModelError(`${owner}: field '${key}' is not an object`);
  return v;
}
function strings(owner: string, d: Dict, key: string): string[] {
  const v = field(owner, d, key);
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new ModelError(`${owner}: field '${key}' is not a list of strings`);
  return v as string[];
}
function runStatus(owner: string, s: string): RunStatus {
  if (!RUN_STATUSES.has(s)) throw new ModelError(`${owner}: unknown instance status '${s}'`);
  return s as RunStatus;
}
function indexer(names: readonly string[], what: string): (owner: string, name: string) => number {
  const at = new Map(names.map((n, i) => [n, i]));
  return (owner, name) => {
    const i = at.get(name);
    if (i === undefined) throw new ModelError(`${owner}: unknown ${what} '${name}'`);
    return i;
  };
}

/** What hbal's RAPI backend reads, as Corral's RAPI answers it. */
export interface RapiData {
  readonly groups: readonly Dict[];
  readonly nodes: readonly Dict[];
  readonly instances: readonly Dict[];
  readonly info: Dict;
  /**
   * The instances' hypervisors by name, for instance dicts without the `hypervisor` field (the
   * bulk list's, as Ganeti's, lack it; /2/query/instance has it).
   */
  readonly hypervisors?: Readonly<Record<string, string>>;
}

function ipolicyRatios(owner: string, ipolicy: unknown): { vcpuRatio: number; spindleRatio: number } {
  if (!isDict(ipolicy)) return { vcpuRatio: DEFAULT_VCPU_RATIO, spindleRatio: DEFAULT_SPINDLE_RATIO };
  return { vcpuRatio: num(owner, ipolicy, "vcpu-ratio"), spindleRatio: num(owner, ipolicy, "spindle-ratio") };
}

/** The model of the RAPI dicts, field by field as htools' Rapi backend reads them. */
export function modelFromRapi(data: RapiData): ClusterModel {
  const groups = data.groups.map((g): ModelGroup => {
    const owner = `Group '${String(g["name"])}'`;
    return { name: str(owner, g, "name"), uuid: str(owner, g, "uuid"), ...ipolicyRatios(owner, field(owner, g, "ipolicy")) };
  });
  const groupIndex = indexer(groups.map((g) => g.uuid), "group");
  const kvm = data.info["default_hypervisor"] === "kvm";
  const nodes = data.nodes.map((n): ModelNode => {
    const owner = `Node '${String(n["name"])}'`;
    const offline = bool(owner, n, "offline");
    const drained = bool(owner, n, "drained");
    const vmCapable = typeof n["vm_capable"] === "boolean" ? n["vm_capable"] : true;
    const ndparams = dict(owner, n, "ndparams");
    const exclusiveStorage = bool(owner, ndparams, "exclusive_storage");
    const live = !offline && vmCapable;
    // Without live data a node counts as empty (htools' eitherLive defaults).
    const lv = (key: string, dflt: number) => (live ? num(owner, n, key) : dflt);
    const lvOpt = (key: string) => (live && typeof n[key] === "number" ? (n[key] as number) : 0);
    const nMem = lv("mnode", 0);
    return {
      name: str(owner, n, "name"),
      group: groupIndex(owner, str(owner, n, "group.uuid")),
      tMem: lv("mtotal", 0),
      // hbal replaces a KVM node's own memory by a static figure (its default 4096 MiB).
      nMem: kvm ? STATIC_KVM_NODE_MEMORY : nMem,
      fMem: lv("mfree", 0),
      tDsk: lvOpt("dtotal"),
      fDsk: lvOpt("dfree"),
      tCpu: lv("ctotal", 0),
      nCpu: lv("cnos", 0),
      cpuSpeed: 1,
      tSpindles: exclusiveStorage ? lv("sptotal", 0) : num(owner, ndparams, "spindle_count"),
      fSpindles: lvOpt("spfree"),
      exclusiveStorage,
      offline: !live || drained,
      tags: strings(owner, n, "tags"),
    };
  });
  const nodeIndex = indexer(nodes.map((n) => n.name), "node");
  const instances = data.instances.map((i): ModelInstance => {
    const owner = `Instance '${String(i["name"])}'`;
    const be = dict(owner, i, "beparams");
    const operRam = i["oper_ram"];
    const mem = typeof operRam === "number" ? operRam : typeof be["memory"] === "number" ? be["memory"] : num(owner, be, "maxmem");
    const snodes = strings(owner, i, "snodes");
    const spindles = field(owner, i, "disk.spindles");
    const perDisk = Array.isArray(spindles) ? spindles : [];
    const name = str(owner, i, "name");
    const hypervisor = typeof i["hypervisor"] === "string" ? i["hypervisor"] : data.hypervisors && Object.hasOwn(data.hypervisors, name) ? data.hypervisors[name] : null;
    return {
      name,
      mem,
      dsk: num(owner, i, "disk_usage"),
      vcpus: num(owner, be, "vcpus"),
      status: runStatus(owner, str(owner, i, "status")),
      autoBalance: bool(owner, be, "auto_balance"),
      pnode: nodeIndex(owner, str(owner, i, "pnode")),
      snode: snodes.length > 0 ? nodeIndex(owner, snodes[0]) : -1,
      template: str(owner, i, "disk_template"),
      hypervisor,
      alwaysFailover: be["always_failover"] === true,
      spindleUse: num(owner, be, "spindle_use"),
      spindles: perDisk.every((s) => typeof s === "number") ? perDisk.reduce((a: number, s) => a + (s as number), 0) : null,
      tags: strings(owner, i, "tags"),
    };
  });
  return { groups, nodes, instances, clusterTags: strings("Cluster", data.info, "tags") };
}

/**
 * The model of an htools text file (hbal -t): sections separated by blank lines — groups,
 * nodes, instances, cluster tags, then instance policies — fields separated by "|".
 */
export function modelFromHtoolsText(text: string): ClusterModel {
  // Every empty line ends a section (so empty sections are consecutive empty lines).
  const sections: string[][] = [[]];
  for (const line of text.split(/\r?\n/)) {
    if (line.length === 0) sections.push([]);
    else sections[sections.length - 1].push(line);
  }
  const [groupLines = [], nodeLines = [], instanceLines = [], tagLines = [], policyLines = []] = sections;
  const ratios = new Map<string, { vcpuRatio: number; spindleRatio: number }>();
  for (const line of policyLines) {
    const f = line.split("|");
    if (f.length < 6) throw new ModelError(`Invalid ipolicy data: '${line}'`);
    ratios.set(f[0], { vcpuRatio: Number(f[4]), spindleRatio: Number(f[5]) });
  }
  const clusterRatios = ratios.get("") ?? { vcpuRatio: DEFAULT_VCPU_RATIO, spindleRatio: DEFAULT_SPINDLE_RATIO };
  const groups = groupLines.map((line): ModelGroup => {
    const [name, uuid] = line.split("|");
    return { name, uuid, ...(ratios.get(name) ?? clusterRatios) };
  });
  const groupIndex = indexer(groups.map((g) => g.uuid), "group");
  const number = (owner: string, s: string | undefined, dflt: number): number => {
    if (s === undefined) return dflt;
    const v = Number(s);
    if (s === "" || Number.isNaN(v)) throw new ModelError(`${owner}: '${s}' is not a number`);
    return v;
  };
  const nodes = nodeLines.map((line): ModelNode => {
    const [name, tm, nm, fm, td, fd, tc, fo, gu, sp, tags, excl, fsp, nos, speed] = line.split("|");
    const owner = `Node '${name}'`;
    const unknown = [tm, nm, fm, td, fd, tc].includes("?");
    const v = (s: string, dflt = 0) => (unknown ? 0 : number(owner, s, dflt));
    return {
      name,
      group: groupIndex(owner, gu),
      tMem: v(tm), nMem: v(nm), fMem: v(fm), tDsk: v(td), fDsk: v(fd), tCpu: v(tc),
      nCpu: unknown ? 0 : number(owner, nos, 1),
      cpuSpeed: unknown ? 1 : number(owner, speed, 1),
      tSpindles: unknown ? 0 : number(owner, sp, 1),
      fSpindles: unknown ? 0 : number(owner, fsp, 0),
      exclusiveStorage: !unknown && excl === "Y",
      offline: unknown || fo === "Y",
      tags: tags ? tags.split(",") : [],
    };
  });
  const nodeIndex = indexer(nodes.map((n) => n.name), "node");
  const instances = instanceLines.map((line): ModelInstance => {
    const [name, mem, dsk, vcpus, status, autoBal, pnode, snode, template, tags, su, spindles, forthcoming] = line.split("|");
    const owner = `Instance '${name}'`;
    if (forthcoming === "Y") throw new ModelError(`${owner}: forthcoming instances are not supported`);
    return {
      name,
      mem: number(owner, mem, 0),
      dsk: number(owner, dsk, 0),
      vcpus: number(owner, vcpus, 0),
      status: runStatus(owner, status),
      autoBalance: autoBal === "Y",
      pnode: nodeIndex(owner, pnode),
      snode: snode ? nodeIndex(owner, snode) : -1,
      template,
      hypervisor: null,
      alwaysFailover: false,
      spindleUse: number(owner, su, 1),
      spindles: spindles === undefined || spindles === "-" ? null : number(owner, spindles, 0),
      tags: tags ? tags.split(",") : [],
    };
  });
  return { groups, nodes, instances, clusterTags: tagLines };
}

// Instance policies as htools read them (the cluster's from /2/info, each group's from
// /2/groups?bulk=1, or the policy section of an htools text file), and htools' check of an
// instance against one (Instance.instMatchesPolicy): within one of the min/max spec pairs,
// and a disk template the policy allows. Capacity and verification read these; the cluster
// model itself keeps only the two ratios the score needs.

import { isDict } from "../model/dict.ts";
import { ModelError, type ClusterModel } from "./model.ts";

/** One instance spec (htools' ISpec), in MiB, vCPUs and spindles. */
export interface ISpec {
  readonly memory: number;
  readonly cpus: number;
  readonly disk: number;
  readonly diskCount: number;
  readonly nicCount: number;
  readonly spindleUse: number;
}

export interface IPolicy {
  readonly minmax: readonly { readonly min: ISpec; readonly max: ISpec }[];
  readonly std: ISpec;
  readonly diskTemplates: readonly string[];
}

/** The policies capacity and verification read, next to a ClusterModel. */
export interface Policies {
  readonly cluster: IPolicy;
  /** Per group, by index into ClusterModel.groups. */
  readonly groups: readonly IPolicy[];
  /** Groups whose allocation policy is "unallocable" (hspace skips their nodes), by index. */
  readonly unallocable: ReadonlySet<number>;
  /** Each instance's disk sizes by name (policy checks read them); absent: one disk of its size. */
  readonly diskSizes: ReadonlyMap<string, readonly number[]>;
}

/** Why an instance does not fit a policy, in htools' failure names. */
export type PolicyFailure = "FailMem" | "FailDisk" | "FailCPU" | "FailSpindles" | "FailDiskCount";

/** What of an instance a policy looks at. */
export interface PolicyInstance {
  readonly mem: number;
  readonly vcpus: number;
  readonly diskSizes: readonly number[];
  readonly spindleUse: number;
  /** Total spindles of its disks, null when a disk does not say. */
  readonly spindles: number | null;
  readonly template: string;
}

type Dict = Record<string, unknown>;

/** htools' defIPolicy, for data that has none (an htools text file without a policy section). */
export const DEFAULT_POLICY: IPolicy = {
  minmax: [{
    min: { memory: 128, cpus: 1, disk: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 },
    max: { memory: 32768, cpus: 8, disk: 1048576, diskCount: 16, nicCount: 8, spindleUse: 12 },
  }],
  std: { memory: 128, cpus: 1, disk: 1024, diskCount: 1, nicCount: 1, spindleUse: 1 },
  diskTemplates: ["diskless", "file", "sharedfile", "plain", "blockdev", "drbd", "rbd", "ext", "gluster"],
};

function specFromDict(owner: string, d: unknown): ISpec {
  if (!isDict(d)) throw new ModelError(`${owner}: not an instance spec`);
  const n = (key: string): number => {
    const v = d[key];
    if (typeof v !== "number") throw new ModelError(`${owner}: field '${key}' is ${JSON.stringify(v)}, expected a number`);
    return v;
  };
  return { memory: n("memory-size"), cpus: n("cpu-count"), disk: n("disk-size"), diskCount: n("disk-count"), nicCount: n("nic-count"), spindleUse: n("spindle-use") };
}

/** A policy as RAPI shows it (`ipolicy` of /2/info or of a group). */
export function policyFromDict(owner: string, ipolicy: unknown): IPolicy {
  if (!isDict(ipolicy)) throw new ModelError(`${owner}: no instance policy`);
  const minmax = ipolicy["minmax"];
  const templates = ipolicy["disk-templates"];
  if (!Array.isArray(minmax)) throw new ModelError(`${owner}: ipolicy field 'minmax' is not a list`);
  if (!Array.isArray(templates) || !templates.every((t) => typeof t === "string")) throw new ModelError(`${owner}: ipolicy field 'disk-templates' is not a list of strings`);
  return {
    minmax: minmax.map((mm: unknown, k) => {
      if (!isDict(mm)) throw new ModelError(`${owner}: ipolicy minmax[${k}] is not an object`);
      return { min: specFromDict(`${owner} minmax[${k}].min`, mm["min"]), max: specFromDict(`${owner} minmax[${k}].max`, mm["max"]) };
    }),
    std: specFromDict(`${owner} std`, ipolicy["std"]),
    diskTemplates: templates as string[],
  };
}

/** The policies of a model built from these RAPI dicts (model.groups in the same order as `groups`). */
export function policiesFromRapi(model: ClusterModel, data: { readonly groups: readonly Dict[]; readonly instances: readonly Dict[]; readonly info: Dict }): Policies {
  const byUuid = new Map(data.groups.map((g) => [String(g["uuid"]), g]));
  const groupDicts = model.groups.map((g) => {
    const d = byUuid.get(g.uuid);
    if (!d) throw new ModelError(`Group '${g.name}': not in the group list`);
    return d;
  });
  return {
    cluster: policyFromDict("Cluster", data.info["ipolicy"]),
    groups: groupDicts.map((d, k) => policyFromDict(`Group '${model.groups[k].name}'`, d["ipolicy"])),
    unallocable: new Set(groupDicts.flatMap((d, k) => (d["alloc_policy"] === "unallocable" ? [k] : []))),
    diskSizes: new Map(data.instances.flatMap((i) => {
      const sizes = i["disk.sizes"];
      return Array.isArray(sizes) && sizes.every((v) => typeof v === "number") ? [[String(i["name"]), sizes as number[]] as const] : [];
    })),
  };
}

function specFromText(owner: string, text: string): ISpec {
  const f = text.split(",").map(Number);
  if (f.length < 6 || f.some((v) => Number.isNaN(v))) throw new ModelError(`Invalid ispec data for ${owner}: '${text}'`);
  const [memory, cpus, disk, diskCount, nicCount, spindleUse] = f;
  return { memory, cpus, disk, diskCount, nicCount, spindleUse };
}

/**
 * The policies of an htools text file: the policy section (`owner|std|min,…;max,…|templates|
 * vcpu ratio|spindle ratio`, the cluster's with an empty owner) and the groups' allocation
 * policies (third field of a group line). Without a policy section, htools' default policy.
 */
export function policiesFromHtoolsText(model: ClusterModel, text: string): Policies {
  const sections = text.split(/\r?\n/).reduce<string[][]>((acc, line) => {
    if (line === "") acc.push([]);
    else acc[acc.length - 1].push(line);
    return acc;
  }, [[]]);
  const byOwner = new Map<string, IPolicy>();
  for (const line of sections[4] ?? []) {
    const [owner, std, minmax, templates] = line.split("|");
    const specs = minmax.split(";");
    const pairs: { min: ISpec; max: ISpec }[] = [];
    for (let k = 0; k + 1 < specs.length; k += 2) pairs.push({ min: specFromText(`${owner}/minspec`, specs[k]), max: specFromText(`${owner}/maxspec`, specs[k + 1]) });
    byOwner.set(owner, { minmax: pairs, std: specFromText(`${owner}/stdspec`, std), diskTemplates: templates ? templates.split(",") : [] });
  }
  const cluster = byOwner.get("") ?? DEFAULT_POLICY;
  const allocPolicies = new Map((sections[0] ?? []).map((line) => {
    const f = line.split("|");
    return [f[1], f[2]] as const;
  }));
  return {
    cluster,
    groups: model.groups.map((g) => byOwner.get(g.name) ?? cluster),
    unallocable: new Set(model.groups.flatMap((g, k) => (allocPolicies.get(g.uuid) === "unallocable" ? [k] : []))),
    diskSizes: new Map(),
  };
}

/** htools' instCompareISpec: the first resource on the wrong side of `spec`, if any. */
function outside(i: PolicyInstance, spec: ISpec, exclusiveStorage: boolean, below: boolean): PolicyFailure | undefined {
  const wrong = (value: number, limit: number) => (below ? value < limit : value > limit);
  if (wrong(i.mem, spec.memory)) return "FailMem";
  if (i.diskSizes.some((s) => wrong(s, spec.disk))) return "FailDisk";
  if (wrong(i.vcpus, spec.cpus)) return "FailCPU";
  if (exclusiveStorage ? i.spindles === null || wrong(i.spindles, spec.spindleUse) : wrong(i.spindleUse, spec.spindleUse)) return "FailSpindles";
  if (i.template !== "diskless" && wrong(i.diskSizes.length, spec.diskCount)) return "FailDiskCount";
  return undefined;
}

/**
 * Why an instance violates a policy, or undefined when it fits: it must fit one of the
 * min/max pairs (when none does, htools reports the first pair's failure), and the policy
 * must allow its disk template.
 */
export function policyViolation(i: PolicyInstance, policy: IPolicy, exclusiveStorage: boolean): PolicyFailure | undefined {
  const failures = policy.minmax.map((mm) => outside(i, mm.min, exclusiveStorage, true) ?? outside(i, mm.max, exclusiveStorage, false));
  if (failures.length > 0 && failures.every((f) => f !== undefined)) return failures[0];
  return policy.diskTemplates.includes(i.template) ? undefined : "FailDisk";
}

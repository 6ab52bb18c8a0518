// Instance policies as placement sees them (Ganeti's CalculateGroupIPolicy and
// ComputeIPolicySpecViolation): a group's policy filled from the cluster's, and what an
// instance of a given shape violates in it, in Ganeti's words.

import type { Cluster, IPolicy, ISpec, NodeGroup } from "../model/objects.ts";

/** The shape of an instance, as a policy judges it. Null values are not checked. */
export interface InstanceShape {
  memory: number | null;
  vcpus: number | null;
  spindleUse: number | null;
  nics: number | null;
  diskSizes: number[];
  /** The template of each disk (same length as diskSizes). */
  diskTemplates: string[];
}

/** A group's policy: minmax, templates and ratios replace the cluster's whole; std is merged. */
export function groupIPolicy(cluster: Cluster, group: NodeGroup | undefined): IPolicy {
  const own = group?.ipolicy ?? {};
  return {
    minmax: own.minmax ?? cluster.ipolicy.minmax,
    std: { ...cluster.ipolicy.std, ...own.std } as ISpec,
    "disk-templates": own["disk-templates"] ?? cluster.ipolicy["disk-templates"],
    "vcpu-ratio": own["vcpu-ratio"] ?? cluster.ipolicy["vcpu-ratio"],
    "spindle-ratio": own["spindle-ratio"] ?? cluster.ipolicy["spindle-ratio"],
  };
}

const commaJoin = (items: Iterable<string>) => [...items].join(", ");

function outOfRange(name: keyof ISpec, qualifier: string, range: IPolicy["minmax"][number], value: number | null): string | null {
  if (value === null) return null;
  const max = range.max[name] ?? value;
  const min = range.min[name] ?? value;
  if (value <= max && value >= min) return null;
  return `${qualifier ? `${name}/${qualifier}` : name} value ${value} is not in range [${min}, ${max}]`;
}

/**
 * Everything `shape` violates in `policy` (Ganeti's ComputeIPolicySpecViolation): disallowed
 * templates, then the out-of-range values of the min/max pair that fits best.
 */
export function specViolations(policy: IPolicy, shape: InstanceShape): string[] {
  const tests: [keyof ISpec, string, number | null][] = [
    ["memory-size", "", shape.memory],
    ["cpu-count", "", shape.vcpus],
    ["nic-count", "", shape.nics],
    ["spindle-use", "", shape.spindleUse],
    ...shape.diskSizes.map((s, i): [keyof ISpec, string, number] => ["disk-size", String(i), s]),
  ];
  const allowed = policy["disk-templates"];
  const out: string[] = [];
  if (shape.diskSizes.length > 0) tests.push(["disk-count", "", shape.diskSizes.length]);
  else if (!allowed.includes("diskless")) {
    out.push(`Disk template diskless is not allowed (allowed templates ${commaJoin(allowed)})`);
  }
  const forbidden = new Set(shape.diskTemplates.filter((t) => !allowed.includes(t)));
  if (forbidden.size > 0) {
    out.push(`Disk template ${commaJoin(forbidden)} is not allowed (allowed templates: ${commaJoin(allowed)})`);
  }
  let fewest: string[] | null = null;
  for (const range of policy.minmax) {
    const errs = tests.map(([n, q, v]) => outOfRange(n, q, range, v)).filter((e): e is string => e !== null);
    if (fewest === null || errs.length < fewest.length) fewest = errs;
  }
  return [...out, ...(fewest ?? [])];
}

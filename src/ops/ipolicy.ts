// Instance policy changes as the LUs make them (Ganeti's GetUpdatedIPolicy and the
// ipolicy checks of cmdlib/common): merging a change, checking it against the enabled disk
// templates, and finding the instances a new policy would newly be violated by.

import { ConfigurationError, ECODE, OpPrereqError } from "../model/errors.ts";
import { checkIPolicySyntax, IPOLICY_ALL_KEYS, IPOLICY_PARAMETERS, isFloatLike, type PartialPolicy } from "../model/ipolicy.ts";
import type { Cluster, Instance, IPolicy, ParamDict } from "../model/objects.ts";
import { specViolations } from "../alloc/policy.ts";
import { instanceShape } from "./instance/placement.ts";
import { forceDictType, ISPECS_PARAMETER_TYPES } from "../model/paramdicts.ts";
import { commaJoin, errorText, getUpdatedParams, VALUE_DEFAULT } from "./params.ts";

/** Ganeti's GetUpdatedIPolicy: a changed policy, checked; a group may unset keys. */
export function getUpdatedIPolicy(old: PartialPolicy, update: PartialPolicy, groupPolicy: boolean): PartialPolicy {
  const policy = structuredClone(old);
  for (const [key, value] of Object.entries(update)) {
    if (!IPOLICY_ALL_KEYS.includes(key)) throw new OpPrereqError(`Invalid key in new ipolicy: ${key}`, ECODE.inval);
    const unset = !value || value === VALUE_DEFAULT || (Array.isArray(value) && (value.length === 0 || (value.length === 1 && value[0] === VALUE_DEFAULT)));
    if (unset) {
      if (!groupPolicy) throw new OpPrereqError(`Can't unset ipolicy attribute '${key}' on the cluster'`, ECODE.inval);
      delete policy[key];
    } else if (IPOLICY_PARAMETERS.includes(key)) {
      if (!isFloatLike(value)) {
        throw new OpPrereqError(`Invalid value for attribute '${key}': '${String(value)}', error: could not convert to float`, ECODE.inval);
      }
      policy[key] = Number(value);
    } else if (key === "minmax") {
      if (!Array.isArray(value)) throw new OpPrereqError(`Invalid value for attribute 'minmax': must be a list`, ECODE.inval);
      for (const minmax of value) {
        for (const spec of Object.values((minmax ?? {}) as Record<string, unknown>)) forceDictType(spec, ISPECS_PARAMETER_TYPES);
      }
      policy[key] = structuredClone(value);
    } else if (key === "std") {
      if (groupPolicy) throw new OpPrereqError("std cannot appear in group instance specs", ECODE.inval);
      const std = getUpdatedParams((old.std ?? {}) as ParamDict, value as ParamDict, { useDefault: false });
      policy[key] = forceDictType(std, ISPECS_PARAMETER_TYPES);
    } else {
      policy[key] = Array.isArray(value) ? [...value] : typeof value === "string" ? [...value] : value;
    }
  }
  try {
    checkIPolicySyntax(policy, !groupPolicy);
  } catch (err) {
    if (err instanceof ConfigurationError) throw new OpPrereqError(`Invalid instance policy: ${errorText(err)}`, ECODE.inval);
    throw err;
  }
  return policy;
}

/** Ganeti's CheckIpolicyVsDiskTemplates: the policy may only allow enabled templates. */
export function checkIpolicyVsDiskTemplates(policy: PartialPolicy, enabled: readonly string[]): void {
  const allowed = (policy["disk-templates"] ?? []) as string[];
  const notEnabled = [...new Set(allowed.filter((t) => !enabled.includes(t)))];
  if (notEnabled.length > 0) {
    throw new OpPrereqError(
      `The following disk templates are allowed by the ipolicy, but not enabled on the cluster: ${commaJoin(notEnabled)}`,
      ECODE.inval,
    );
  }
}

/** Ganeti's ComputeIPolicyInstanceViolation: what is wrong with `inst` under `policy`. */
export function instanceViolations(policy: PartialPolicy, inst: Instance, cluster: Cluster): string[] {
  const full = {
    ...policy,
    minmax: (policy.minmax ?? []) as IPolicy["minmax"],
    "disk-templates": (policy["disk-templates"] ?? []) as string[],
  } as IPolicy;
  return specViolations(full, instanceShape(cluster, inst));
}

/** Names of the instances that violate `next` but not `current` (Ganeti's ComputeNewInstanceViolations). */
export function newViolations(current: PartialPolicy, next: PartialPolicy, instances: Iterable<Instance>, cluster: Cluster): string[] {
  const out: string[] = [];
  for (const inst of instances) {
    if (instanceViolations(next, inst, cluster).length > 0 && instanceViolations(current, inst, cluster).length === 0) {
      out.push(inst.name);
    }
  }
  return out;
}

// Instance policies (Ganeti's objects.InstancePolicy): which keys a policy has, how a
// group's partial policy is filled from the cluster's, and when a policy is well-formed.

import { DISK_TEMPLATES } from "./constants.ts";
import { ConfigurationError } from "./errors.ts";
import type { IPolicy, ParamDict } from "./objects.ts";
import { fillDict } from "./paramdicts.ts";
import { isDict } from "./dict.ts";

export const ISPECS_PARAMETERS = ["memory-size", "cpu-count", "disk-count", "disk-size", "nic-count", "spindle-use"] as const;
/** The ratios, checked as floats (Ganeti's IPOLICY_PARAMETERS). */
export const IPOLICY_PARAMETERS: readonly string[] = ["vcpu-ratio", "spindle-ratio"];
export const IPOLICY_ALL_KEYS: readonly string[] = [...IPOLICY_PARAMETERS, "disk-templates", "minmax", "std"];

/** A policy as stored or sent: any subset of the keys, values not yet trusted. */
export type PartialPolicy = Record<string, unknown>;

/** Ganeti's FillIPolicy: keys the custom policy lacks come from the defaults; std is merged. */
export function fillIPolicy(defaults: IPolicy, custom: PartialPolicy): PartialPolicy {
  const out = structuredClone(custom);
  for (const [key, value] of Object.entries(defaults)) {
    if (!(key in out)) out[key] = structuredClone(value);
    else if (key === "std") out[key] = fillDict(value as unknown as ParamDict, out[key] as ParamDict);
  }
  return out;
}

const commaJoin = (items: Iterable<string>) => [...items].sort().join(", ");


function checkCompleteSpec(spec: unknown, name: string): Record<string, unknown> {
  const have = isDict(spec) ? spec : {};
  const missing = ISPECS_PARAMETERS.filter((p) => !(p in have));
  if (missing.length > 0) {
    throw new ConfigurationError(`Missing instance specs parameters for ${name}: ${commaJoin(missing)}`);
  }
  return have;
}

/** Ganeti's CheckISpecSyntax: complete min/max specs, min ≤ max, and std inside some range. */
function checkISpecs(policy: PartialPolicy, checkStd: boolean): void {
  if (!("minmax" in policy)) return;
  if (checkStd && !("std" in policy)) throw new ConfigurationError("Missing key in ipolicy: std");
  const std = isDict(policy.std) ? policy.std : {};
  if (checkStd) checkCompleteSpec(std, "std");
  const minmax = policy.minmax;
  if (!Array.isArray(minmax) || minmax.length === 0) throw new ConfigurationError("Empty minmax specifications");
  let stdIsGood = false;
  for (const entry of minmax) {
    const pair = isDict(entry) ? entry : {};
    const missing = ["max", "min"].filter((k) => !(k in pair));
    if (missing.length > 0) throw new ConfigurationError(`Missing instance specification: ${commaJoin(missing)}`);
    for (const [key, spec] of Object.entries(pair)) checkCompleteSpec(spec, key);
    const min = pair.min as Record<string, number>;
    const max = pair.max as Record<string, number>;
    let stdOk = true;
    for (const p of ISPECS_PARAMETERS) {
      if (min[p] > max[p]) {
        throw new ConfigurationError(`Invalid specification of min/max values for ${p}: ${min[p]}/${max[p]}`);
      }
      if (checkStd) {
        const v = (std[p] as number | undefined) ?? min[p];
        stdOk &&= v >= min[p] && v <= max[p];
      }
    }
    stdIsGood ||= stdOk;
  }
  if (!stdIsGood) throw new ConfigurationError("Invalid std specifications");
}

/** Ganeti's InstancePolicy.CheckParameterSyntax; `checkStd` for cluster (complete) policies. */
export function checkIPolicySyntax(policy: PartialPolicy, checkStd: boolean): void {
  checkISpecs(policy, checkStd);
  if ("disk-templates" in policy) {
    const dts = policy["disk-templates"];
    if (!Array.isArray(dts) || dts.length === 0) {
      throw new ConfigurationError("Instance policy must contain at least one disk template");
    }
    const wrong = new Set(dts.filter((d) => !(DISK_TEMPLATES as readonly unknown[]).includes(d)).map(String));
    if (wrong.size > 0) throw new ConfigurationError(`Invalid disk template(s) ${commaJoin(wrong)}`);
  }
  for (const key of IPOLICY_PARAMETERS) {
    if (key in policy && !isFloatLike(policy[key])) {
      throw new ConfigurationError(`Invalid value for key '${key}': '${String(policy[key])}', error: could not convert to float`);
    }
  }
  const wrongKeys = Object.keys(policy).filter((k) => !IPOLICY_ALL_KEYS.includes(k));
  if (wrongKeys.length > 0) throw new ConfigurationError(`Invalid keys in ipolicy: ${commaJoin(wrongKeys)}`);
}

/** Python's float() would accept it: a number or a numeric string. */
export function isFloatLike(v: unknown): boolean {
  if (typeof v === "number" || typeof v === "boolean") return true;
  return typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v.trim()));
}

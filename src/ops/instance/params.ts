// Instance-level backend and hypervisor parameters as the instance LUs check them
// (Ganeti's ComputeFullBeParams, CheckParamsNotGlobal, ForceDictType over BES/HVS types).

import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Cluster, ParamDict } from "../../model/objects.ts";
import { BES_PARAMETER_TYPES, forceDictType, HVS_PARAMETER_TYPES } from "../../model/paramdicts.ts";
import { hypervisorParamProblems } from "../../model/hvparams.ts";
import { filledBeparams } from "./common.ts";
import { upgradeBeparams } from "./devices.ts";

/** Hypervisor parameters only the cluster may set (Ganeti 3.0's HVC_GLOBALS). */
export const HV_GLOBAL_PARAMS: ReadonlySet<string> = new Set(["migration_bandwidth", "migration_mode", "migration_port", "xen_cmd"]);

/** Ganeti's CheckParamsNotGlobal for instance hvparams. */
export function checkHvNotGlobal(hvparams: ParamDict): void {
  const used = Object.keys(hvparams).filter((k) => HV_GLOBAL_PARAMS.has(k));
  if (used.length > 0) {
    throw new OpPrereqError(
      `The following hypervisor parameters are global and cannot be customized at instance level, please modify them at cluster level: ${used.join(", ")}`,
      ECODE.inval,
    );
  }
}

/**
 * Type-checks (and converts) instance hvparams in place, then checks them against the
 * instance's hypervisor: its keys, its values, and what Corral's driver implements.
 */
export function checkHvparams(hvparams: ParamDict, hypervisor: string): ParamDict {
  forceDictType(hvparams, HVS_PARAMETER_TYPES);
  checkHvNotGlobal(hvparams);
  const problems = hypervisorParamProblems(hypervisor, hvparams);
  if (problems.length > 0) throw new OpPrereqError(`Invalid hypervisor parameters: ${problems.join("; ")}`, ECODE.inval);
  return hvparams;
}

/** Ganeti's ComputeFullBeParams: "auto" takes the cluster value; returns the filled dict. */
export function computeFullBeparams(beparams: ParamDict, cluster: Cluster): ParamDict {
  const defaults = cluster.beparams.default ?? {};
  for (const [k, v] of Object.entries(beparams)) if (v === "auto") beparams[k] = defaults[k];
  upgradeBeparams(beparams);
  forceDictType(beparams, BES_PARAMETER_TYPES);
  return filledBeparams(cluster, beparams);
}

/** Type-checks changed beparams (Ganeti's _ProcessBeParams), `null`/"default" removing keys. */
export function checkBeparamsUpdate(beparams: ParamDict): ParamDict {
  upgradeBeparams(beparams);
  forceDictType(beparams, BES_PARAMETER_TYPES, ["default", null]);
  return beparams;
}

// An object's parameters filled from the cluster's defaults, as every reader sees them
// (Ganeti's FillBE/FillHV/FillOS/FillND): the object's own values win over the defaults.

import type { Cluster, ParamDict } from "./objects.ts";

/** The dicts merged left to right (a later key wins); absent ones count as empty. */
export const fillParams = (...dicts: (ParamDict | undefined)[]): ParamDict => Object.assign({}, ...dicts.map((d) => d ?? {}));

/** "debian+buster" → "debian". */
export function osBaseName(os: string): string {
  const i = os.indexOf("+");
  return i < 0 ? os : os.slice(0, i);
}

export function filledBeparams(cluster: Cluster, beparams: ParamDict): ParamDict {
  return fillParams(cluster.beparams.default, beparams);
}

export function filledHvparams(cluster: Cluster, hypervisor: string, os: string, hvparams: ParamDict): ParamDict {
  return fillParams(cluster.hvparams[hypervisor], cluster.os_hvp[os]?.[hypervisor], hvparams);
}

export function filledOsparams(cluster: Cluster, os: string, osparams: ParamDict): ParamDict {
  return fillParams(cluster.osparams[osBaseName(os)], osparams);
}

export function filledNicparams(cluster: Cluster, nicparams: ParamDict): ParamDict {
  return fillParams(cluster.nicparams.default, nicparams);
}

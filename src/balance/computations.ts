// The balancer's computations over the API, each named and given as plain data: the RAPI
// dicts of the cluster (as hbal reads them) and the options. Plain data in and out so they
// can run on the worker thread (offloop.ts) as well as here; the answer is the routes' JSON.

import { capacity, type Capacity, type InstanceSpec } from "./capacity.ts";
import { policiesFromRapi } from "./ipolicy.ts";
import { ModelError, modelFromRapi, type ClusterModel, type RapiData } from "./model.ts";
import { planBalance, type Plan, type PlanOptions } from "./plan.ts";
import { verifyCluster, type Health } from "./verify.ts";

interface Computations {
  /** hspace's fixed-size allocation; per-group results only for `group` when given. */
  capacity: {
    args: { group?: string; spec: Partial<InstanceSpec>; limit?: number; noCapacityChecks: boolean };
    result: { cluster: Capacity; groups: Capacity[] };
  };
  /** hcheck's checks; per-group results only for `group` when given. */
  verify: { args: { group?: string }; result: Health };
  /** hbal's plan for a node group. */
  plan: { args: { options: PlanOptions }; result: Plan };
}

/**
 * The RAPI dicts as the JSON text the RAPI serves them in, the instances' in UTF-8 pieces:
 * pieces are handed to the worker thread without a copy, where 100,000 instances' dicts took
 * seconds of the sender's thread to clone (and their text as one string most of a second).
 */
export interface RapiJson {
  readonly groups: string;
  readonly nodes: string;
  readonly instances: readonly Uint8Array[];
  readonly info: string;
  /** RapiData's `hypervisors`, when the computation reads them (storage moves). */
  readonly hypervisors?: string;
}

export type ComputationName = keyof Computations;
/** Which computation, with its options. */
export type ComputationArgs<K extends ComputationName = ComputationName> = K extends ComputationName ? { name: K } & Computations[K]["args"] : never;
/** A computation over the cluster's dicts (`data`), or over their JSON to send to the worker. */
export type Computation<K extends ComputationName = ComputationName, Data = RapiData> = ComputationArgs<K> & { data: Data };
export type ComputationResult<K extends ComputationName> = Computations[K]["result"];

/** The dicts of RAPI JSON; what is not a list or an object is left for the model to refuse. */
export function parseRapiJson(json: RapiJson): RapiData {
  const decoder = new TextDecoder();
  const last = json.instances.length - 1;
  const instances = json.instances.map((piece, k) => decoder.decode(piece, { stream: k < last })).join("");
  const hypervisors = json.hypervisors === undefined ? {} : { hypervisors: JSON.parse(json.hypervisors) };
  return { groups: JSON.parse(json.groups), nodes: JSON.parse(json.nodes), instances: JSON.parse(instances), info: JSON.parse(json.info), ...hypervisors } as RapiData;
}

/** A group the query names must exist (the cluster-wide part is answered regardless). */
function checkGroup(model: ClusterModel, group: string | undefined): void {
  if (group !== undefined && !model.groups.some((g) => g.name === group)) {
    throw new ModelError(`Node group '${group}' not found; groups: ${model.groups.map((g) => g.name).join(", ")}`);
  }
}

/** Runs a computation; a ModelError for data the model cannot read or a group that does not exist. */
export function compute<K extends ComputationName>(c: Computation<K>): ComputationResult<K>;
export function compute(c: Computation): ComputationResult<ComputationName> {
  const model = modelFromRapi(c.data);
  switch (c.name) {
    case "capacity": {
      checkGroup(model, c.group);
      const result = capacity(model, policiesFromRapi(model, c.data), { spec: c.spec, limit: c.limit, noCapacityChecks: c.noCapacityChecks });
      return { cluster: result.cluster, groups: result.groups.filter((g) => c.group === undefined || g.group === c.group) };
    }
    case "verify": {
      checkGroup(model, c.group);
      const health = verifyCluster(model, policiesFromRapi(model, c.data));
      return { ...health, groups: health.groups.filter((g) => c.group === undefined || g.group === c.group) };
    }
    case "plan":
      return planBalance(model, c.options);
  }
}

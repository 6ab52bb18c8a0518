// The balancer's computations for the routes (capacity.ts, balance.ts): the cluster's RAPI
// dicts are read here, the computation runs on the worker thread (balance/offloop.ts) and its
// errors become Ganeti's error bodies: unreadable data or an unknown group a 400, a full
// queue a 503 with Retry-After, anything else a 500 with its message.

import { setImmediate } from "node:timers/promises";
import type { Computation, ComputationArgs, ComputationName, ComputationResult, RapiJson } from "../../balance/computations.ts";
import { ModelError } from "../../balance/model.ts";
import { ComputationsBusy, type ComputationRunner } from "../../balance/offloop.ts";
import { indexOf } from "../../query/context.ts";
import { toDict } from "../../query/fields.ts";
import type { LiveState } from "../../query/live.ts";
import { nodeFields } from "../../query/node.ts";
import { bulkJson, bulkJsonChunks } from "../../query/rapi.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import type { RapiServices } from "../rapi/services.ts";

/**
 * The fields of the nodes' bulk dicts the model reads (balance/model.ts modelFromRapi): the
 * whole dicts took 0.2–0.4 s of the event loop for 2,000 nodes (their instance lists above
 * all), these 10–20 ms. A field the model comes to read must be added here (the routes'
 * tests then answer 400: "missing field").
 */
const MODEL_NODE_FIELDS = [
  "name", "offline", "drained", "vm_capable", "ndparams", "group.uuid", "tags",
  "mtotal", "mnode", "mfree", "dtotal", "dfree", "ctotal", "cnos", "sptotal", "spfree",
];
const modelNodeGetters = nodeFields.getters(MODEL_NODE_FIELDS);

/** The nodes' dicts with the model's fields, in the bulk list's order (nice-sorted by name). */
function modelNodesJson(snap: ConfigSnapshot, live: LiveState): string {
  const idx = indexOf(snap);
  return JSON.stringify(idx.sorted("node", snap.nodes, (n) => n.name).map((node) => toDict(MODEL_NODE_FIELDS, modelNodeGetters, { node, idx, live })));
}

/** Instances encoded at a time, and how long the event loop is held before other work runs. */
const INSTANCES_PER_PIECE = 100;
const TURN_MS = 10;
const PIECE_BYTES = 1 << 20;

/**
 * The RAPI dicts hbal reads, as the JSON the bulk lists answer (the nodes' with the model's
 * fields only), for the cluster as it is now (the config and the nodes' last reported facts).
 * The instances' text comes from the bulk lists' cache, all of the same snapshot and live
 * state, in pieces of a megabyte; other work gets the event loop every TURN_MS (at 1,000
 * instances a turn, a turn took 15–80 ms of CPU and, on a loaded machine, up to 0.5 s). The instances' hypervisors
 * (which the bulk dicts lack, as Ganeti's) only for a plan with storage moves.
 */
async function currentClusterJson(s: RapiServices, signal: AbortSignal, withHypervisors: boolean): Promise<RapiJson> {
  const snap = s.store.snapshot();
  const groups = bulkJson("group", snap, s.live);
  const nodes = modelNodesJson(snap, s.live);
  const encoder = new TextEncoder();
  const instances: Uint8Array[] = [];
  let text: string[] = [];
  let length = 0;
  const encode = () => {
    instances.push(encoder.encode(text.join("")));
    text = [];
    length = 0;
  };
  let turn = performance.now();
  for (const piece of bulkJsonChunks("instance", snap, s.live, INSTANCES_PER_PIECE)) {
    text.push(piece);
    length += piece.length;
    if (length >= PIECE_BYTES) encode();
    if (performance.now() - turn >= TURN_MS) {
      await setImmediate();
      if (signal.aborted) throw signal.reason;
      turn = performance.now();
    }
  }
  if (length > 0) encode();
  const hypervisors = withHypervisors ? { hypervisors: JSON.stringify(Object.fromEntries([...snap.instances.values()].map((i) => [i.name, i.hypervisor]))) } : {};
  return { groups, nodes, instances, info: JSON.stringify(s.clusterInfo(snap)), ...hypervisors };
}

/**
 * The computation's answer over the cluster as it is now, from the worker thread; dropped
 * if the client goes away before it runs.
 */
export async function computed<K extends ComputationName>(s: RapiServices, runner: ComputationRunner, args: ComputationArgs<K>, signal: AbortSignal): Promise<ComputationResult<K>> {
  try {
    const busy = runner.refusal();
    if (busy) throw busy;
    const data = await currentClusterJson(s, signal, args.name === "plan" && args.options.storageMoves === true);
    return await runner.run({ ...args, data } as Computation<K, RapiJson>, signal);
  } catch (err) {
    if (err instanceof ModelError) throw badRequest(err.message);
    if (err instanceof ComputationsBusy) throw new HttpError(503, err.message, { "Retry-After": String(err.retryAfterSeconds) });
    throw err;
  }
}

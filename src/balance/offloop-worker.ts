// The thread of ComputationRunner (offloop.ts): parses each computation's RAPI JSON, runs it,
// in order, and answers its result or its error (a ModelError marked as such, to come back as one).

import { parentPort } from "node:worker_threads";
import { compute, parseRapiJson, type Computation, type ComputationName, type RapiJson } from "./computations.ts";
import { ModelError } from "./model.ts";
import type { WorkerAnswer } from "./offloop.ts";

parentPort!.on("message", ({ id, computation }: { id: number; computation: Computation<ComputationName, RapiJson> }) => {
  let answer: WorkerAnswer;
  try {
    answer = { id, result: compute({ ...computation, data: parseRapiJson(computation.data) }) };
  } catch (err) {
    answer = { id, error: { model: err instanceof ModelError, message: err instanceof Error ? err.message : String(err) } };
  }
  parentPort!.postMessage(answer);
});

// The database writer thread of WorkerSink: applies each batch in one transaction.

import { parentPort, workerData } from "node:worker_threads";
import { applyOps, type WriteOp } from "./durable.ts";
import { openDatabase } from "./sqlite.ts";

const db = openDatabase((workerData as { dbPath: string }).dbPath);
parentPort!.on("message", (m: { id: number; ops: WriteOp[] }) => {
  try {
    applyOps(db, m.ops);
    parentPort!.postMessage({ id: m.id });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});

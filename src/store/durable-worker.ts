// The database writer thread of WorkerSink: everything that arrived while it was committing
// becomes the next transaction (group commit); each sender hears back once it is on disk.

import { parentPort, workerData } from "node:worker_threads";
import { applyOps, type WriteOp } from "./durable.ts";
import { openDatabase } from "./sqlite.ts";

const db = openDatabase((workerData as { dbPath: string }).dbPath);
let queue: { id: number; ops: WriteOp[] }[] = [];
let scheduled = false;

function commit(): void {
  const batch = queue;
  queue = [];
  scheduled = false;
  const ids = batch.map((b) => b.id);
  try {
    applyOps(db, batch.flatMap((b) => b.ops));
    parentPort!.postMessage({ ids });
  } catch (err) {
    parentPort!.postMessage({ ids, error: err instanceof Error ? err.message : String(err) });
  }
}

parentPort!.on("message", (m: { id: number; ops: WriteOp[] }) => {
  queue.push(m);
  if (!scheduled) {
    scheduled = true;
    // Messages that arrive while a commit runs are delivered before this fires.
    setImmediate(commit);
  }
});

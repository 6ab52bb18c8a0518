// The database writer thread of WorkerSink: everything that arrived while it was committing
// becomes the next transaction (group commit); each sender hears back once it is on disk.

import { parentPort, workerData } from "node:worker_threads";
import { type WriteOp } from "./durable.ts";
import { applyOps } from "./sqlite-sink.ts";
import { NotLeaderError } from "./leadership.ts";
import { openDatabase } from "./sqlite.ts";

const db = openDatabase((workerData as { dbPath: string }).dbPath);
let queue: { id: number; ops: WriteOp[]; epoch?: number }[] = [];
let scheduled = false;

function commit(): void {
  const batch = queue;
  queue = [];
  scheduled = false;
  // One transaction per run of messages with the same fence (DurableLog sends one batch at a time, so one run).
  for (let start = 0; start < batch.length; ) {
    let end = start + 1;
    while (end < batch.length && batch[end].epoch === batch[start].epoch) end++;
    const run = batch.slice(start, end);
    const ids = run.map((b) => b.id);
    try {
      applyOps(db, run.flatMap((b) => b.ops), run[0].epoch);
      parentPort!.postMessage({ ids });
    } catch (err) {
      parentPort!.postMessage({ ids, error: err instanceof Error ? err.message : String(err), fenced: err instanceof NotLeaderError });
    }
    start = end;
  }
}

parentPort!.on("message", (m: { id: number; ops: WriteOp[]; epoch?: number }) => {
  queue.push(m);
  if (!scheduled) {
    scheduled = true;
    // Messages that arrive while a commit runs are delivered before this fires.
    setImmediate(commit);
  }
});

// The instance list below HTTP: loads a seeded store in a process of its own and times the
// query engine's bulk encoder (src/query/rapi.ts bulkJson), cold (first call) and warm. It
// gives the large-cluster list a number before GET /2/instances is routed, and later shows
// how much of the HTTP time is the engine. Missing engine functions are reported, not fatal.
//
//   node bench/lib/engine.ts --data-dir DIR [--repeat 5]

import { parseArgs } from "node:util";
import { dataPaths } from "../../src/master/datadir.ts";
import type { ConfigSnapshot } from "../../src/store/store.ts";
import { openDatabase, SqliteConfigStore } from "../../src/store/sqlite.ts";
import { percentiles, type Percentiles } from "./stats.ts";

export interface EngineResult {
  available: true;
  /** Opening the database and building the snapshot, ms. */
  load_ms: number;
  /** First bulkJson("instance", ...) on the snapshot (builds indexes and caches), ms. */
  cold_ms: number;
  /** Later calls on the same snapshot, ms. */
  warm_ms: Percentiles;
  bytes: number;
  rows: number;
  rss_mib: number;
}

type BulkJson = (kind: string, snap: ConfigSnapshot) => string;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { "data-dir": { type: "string" }, repeat: { type: "string", default: "5" } }, strict: true });
  if (!values["data-dir"]) throw new Error("--data-dir is required");
  // A computed specifier: the bench must still type-check and run if the module changes.
  const spec = "../../src/query/rapi.ts";
  let bulkJson: BulkJson | undefined;
  try {
    const mod = (await import(spec)) as Record<string, unknown>;
    if (typeof mod.bulkJson === "function") bulkJson = mod.bulkJson as BulkJson;
  } catch {
    bulkJson = undefined;
  }
  if (!bulkJson) {
    process.stdout.write(JSON.stringify({ available: false, note: "not available (no bulkJson in src/query/rapi.ts)" }) + "\n");
    return;
  }
  const t0 = performance.now();
  const store = new SqliteConfigStore(openDatabase(dataPaths(values["data-dir"]).database));
  const snap = store.snapshot();
  const load = performance.now() - t0;
  const t1 = performance.now();
  const text = bulkJson("instance", snap);
  const cold = performance.now() - t1;
  const warm: number[] = [];
  for (let i = 0; i < Number(values.repeat); i++) {
    const t = performance.now();
    bulkJson("instance", snap);
    warm.push(performance.now() - t);
  }
  await store.close();
  const result: EngineResult = {
    available: true,
    load_ms: Math.round(load),
    cold_ms: Math.round(cold),
    warm_ms: percentiles(warm),
    bytes: Buffer.byteLength(text),
    rows: snap.instances.size,
    rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`engine: ${(err as Error).message}\n`);
  process.exit(1);
});

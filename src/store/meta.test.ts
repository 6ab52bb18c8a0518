import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { DurableLog } from "./durable.ts";
import { InlineSink } from "./sqlite-sink.ts";
import { MetaRecord } from "./meta.ts";
import { openDatabase } from "./sqlite.ts";

it("keeps a record of the master's own in the meta table, on disk before put resolves, apart from the config's rows", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-meta-"));
  const open = () => {
    const db = openDatabase(join(dir, "config.db"));
    return new MetaRecord<{ round: number }>(db, new DurableLog(new InlineSink(db)), "test_record");
  };
  try {
    const first = open();
    assert.equal(first.get(), undefined);
    await first.put({ round: 3 });
    assert.deepEqual(first.get(), { round: 3 });
    assert.deepEqual(open().get(), { round: 3 }, "read back by another connection: durable");
    const db = openDatabase(join(dir, "config.db"));
    assert.throws(() => new MetaRecord(db, new DurableLog(new InlineSink(db)), "serial"), /belongs to the config/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

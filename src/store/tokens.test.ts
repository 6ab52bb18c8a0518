import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import type { TokenRecord } from "../model/tokens.ts";
import { DurableLog } from "./durable.ts";
import { InlineSink } from "./sqlite-sink.ts";
import { openDatabase } from "./sqlite.ts";
import { SqliteTokenStore } from "./tokens.ts";

const record: TokenRecord = {
  id: "abcdefghijkl", owner: "alice", description: "ci", grants: [{ access: "read", kind: "*" }],
  created: 1, created_by: "alice", expires: 2, secret_sha256: "00".repeat(32),
};

it("keeps a token once put, on disk before put resolves, and forgets it once removed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-tokens-"));
  const open = () => {
    const db = openDatabase(join(dir, "config.db"));
    return { db, store: new SqliteTokenStore(db, new DurableLog(new InlineSink(db))) };
  };
  try {
    const first = open();
    await first.store.put(record);
    assert.deepEqual(open().store.get(record.id), record, "read back by another connection: durable");
    assert.equal(await first.store.remove(record.id), true);
    assert.equal(first.store.get(record.id), undefined);
    assert.equal(await first.store.remove(record.id), false);
    assert.deepEqual([...open().store.all()], []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Leadership as the master uses it (issue 17, step 1): when another master takes the
// database's fence, this master's next write is refused by the database, it stops leading
// (its lost-leadership hook runs instead of a process exit deep in the store), and every
// write after that is answered 503 with the reason, in Ganeti's error body.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalLease } from "../../src/store/leadership.ts";
import { openDatabase } from "../../src/store/sqlite.ts";
import { call, startTestMaster, waitJob, type TestMaster } from "../support/cluster.ts";

describe("leadership", () => {
  let t: TestMaster;
  const lost: string[] = [];
  before(async () => {
    t = await startTestMaster({ leadershipLost: (reason) => lost.push(reason) });
  });
  after(() => t.close());

  it("stops leading when another master fences it out, and refuses writes from then on", async () => {
    const port = t.master.port;
    const first = await call(port, "PUT", "/2/tags?tag=before", { user: "writer" });
    assert.equal(first.status, 200);
    assert.equal((await waitJob(port, first.json as number)).status, "success");

    // Another master on the same database takes the lease: the fence moves on.
    const other = openDatabase(join(t.dataDir, "config.db"));
    await new LocalLease(other).establish();
    other.close();

    const refused = await call(port, "PUT", "/2/tags?tag=after", { user: "writer" });
    assert.equal(refused.status, 503, refused.text);
    assert.match((refused.json as { message: string }).message, /fenced out: the database.* leader epoch is \d+, this master.* \d+/);
    assert.equal(lost.length, 1, "the master was told once");
    assert.match(lost[0], /fenced out/);

    const again = await call(port, "PUT", "/2/tags?tag=again", { user: "writer" });
    assert.equal(again.status, 503);
    assert.match((again.json as { message: string }).message, /not the leader \(leadership lost: .*fenced out/);
    // Readers still answer, from the committed config.
    const tags = await call(port, "GET", "/2/tags");
    assert.deepEqual(tags.json, ["before"]);
    assert.equal(lost.length, 1);
  });
});

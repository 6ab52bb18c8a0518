// Tag jobs on one object run side by side (cluster tags take only the shared big lock, as in
// Ganeti), and none loses another's change: each job's read-modify-write of the tags is one
// config transaction.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, suiteMaster, waitJob } from "../support/cluster.ts";

describe("concurrent tag jobs on one object", () => {
  const s = suiteMaster();

  /** Submits all requests at once, then waits for every job; all must succeed. */
  async function runTogether(requests: [method: string, path: string][]): Promise<void> {
    const ids = await Promise.all(requests.map(async ([method, path]) => {
      const r = await call(s.port, method, path, { user: "writer" });
      assert.equal(r.status, 200, r.text);
      return r.json as number;
    }));
    const jobs = await Promise.all(ids.map((id) => waitJob(s.port, id)));
    for (const job of jobs) assert.equal(job.status, "success", JSON.stringify(job.opresult));
  }

  it("keeps every tag added and removed concurrently on the cluster", async () => {
    await runTogether(Array.from({ length: 20 }, (_, i) => ["PUT", `/2/tags?tag=keep${i}&tag=drop${i}`] as [string, string]));
    await runTogether([
      ...Array.from({ length: 20 }, (_, i) => ["DELETE", `/2/tags?tag=drop${i}`] as [string, string]),
      ...Array.from({ length: 20 }, (_, i) => ["PUT", `/2/tags?tag=late${i}`] as [string, string]),
    ]);
    const tags = (await call(s.port, "GET", "/2/tags")).json as string[];
    const want = [...Array.from({ length: 20 }, (_, i) => `keep${i}`), ...Array.from({ length: 20 }, (_, i) => `late${i}`)];
    assert.deepEqual([...tags].sort(), want.sort());
  });

  it("keeps every tag added concurrently on a node", async () => {
    await runTogether(Array.from({ length: 20 }, (_, i) => ["PUT", `/2/nodes/node1.corral.test/tags?tag=n${i}`] as [string, string]));
    const tags = (await call(s.port, "GET", "/2/nodes/node1.corral.test/tags")).json as string[];
    assert.deepEqual([...tags].sort(), Array.from({ length: 20 }, (_, i) => `n${i}`).sort());
  });
});

// corral store migrate's refusal of a source with unfinished jobs (the copying itself is tested
// end to end with real etcd and masters: test/e2e/store-migrate.test.ts).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { JobStatus } from "../model/job.ts";
import { checkNoUnfinishedJobs, type StoreDump } from "./migrate.ts";

const job = (id: number, statuses: JobStatus[], archived = false) => ({
  id,
  archived,
  data: JSON.stringify({ id, ops: statuses.map((status) => ({ status })), archived }),
});
const dump = (jobs: StoreDump["jobs"]): StoreDump => ({ cluster: "{}", serial: 1, objects: [], jobs, jobMark: 0, tokens: [], records: [], shared: {} });

test("a source whose active jobs all ended is taken; one with a queued, waiting or running job is refused, saying which and what to do", () => {
  checkNoUnfinishedJobs(dump([job(1, ["success"]), job(2, ["success", "error"]), job(3, ["canceled"]), job(4, ["running"], true)]), "DIR");
  for (const status of ["queued", "waiting", "running", "canceling"] as const) {
    assert.throws(
      () => checkNoUnfinishedJobs(dump([job(1, ["success"]), job(7, ["success", status])]), "DIR"),
      /DIR has 1 unfinished job\(s\) \(7\): start its master again, let them finish .* or cancel them/,
      status,
    );
  }
});

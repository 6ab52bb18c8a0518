// Bad input on every route never crashes the master, never shows a stack trace and never
// breaks a job with a programming error: each answer is a clear 4xx (or the 5xx real Ganeti
// gives for that case), or a job that fails with a Ganeti error class.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rapiRoutes } from "../../src/api/rapi/resources.ts";
import type { RapiServices } from "../../src/api/rapi/services.ts";
import { call, suiteMaster } from "../support/cluster.ts";

const BODIES: unknown[] = [
  null, -1, 1e308, "x", [1, [2]], { a: { b: { c: [] } } },
  { name: "ü\u0000", disks: "x", nics: [null], __version__: 1 },
  { __version__: 1, mode: "create", name: "f1", disk_template: "file", disks: [{ size: -5 }], nics: [{}], os_type: "corral-marker" },
  { amount: "big", new_name: "../../etc", nodes: ["x", 5], fields: [1, 2] },
  { qfilter: ["&", ["=~", "name", "("]], priority: 99, depends: [[1e9, ["bogus"]]] },
  { network: "garbage", beparams: { maxmem: "lots" }, ipolicy: { minmax: "x" } },
  { disks: [["add", -1, { size: 10 }]], nics: [["modify", 99, {}]], action: ["RATE_LIMIT", -1] },
];
const QUERY = "?dry-run=1&force=1&tag=%00&fields=name,%FF&bulk=1&mode=x&type=x&storage_type=file&output_fields=name&name=x";

/** 5xx answers that real Ganeti gives for these inputs (RESOURCES.md, golden captures). */
const GANETI_5XX = [
  /^GET \/2\/(groups|instances|networks|nodes)\/\[\w+\]\/tags 500 .*not found/,
  /^(PUT|DELETE) \/2\/filters\/\[filter_uuid\] 500 /,
  /^(POST|PUT) \/2\/filters(\/\[filter_uuid\])? 502 .*Failed to parse request/,
];

describe("bad input on every route", () => {
  const m = suiteMaster();

  it("gets clear answers and leaves the master serving", async () => {
    const routes = rapiRoutes({} as RapiServices);
    const unexpected: string[] = [];
    for (const r of routes) {
      const path = r.pattern.replace(/\[(job_id|disk_index)\]/g, "1").replace(/\[[a-z_]+\]/g, "nosuch");
      for (const method of Object.keys(r.methods)) {
        for (const body of BODIES) {
          for (const q of ["", QUERY]) {
            const res = await call(m.port, method, path + q, { user: "admin", rawBody: JSON.stringify(body) });
            assert.doesNotMatch(res.text, /\.ts:\d+|node:internal|at [\w.]+ \(/, `${method} ${path}: a stack trace`);
            assert.ok(res.json !== undefined || res.text === "", `${method} ${path}: not JSON`);
            if (res.status >= 500) {
              const line = `${method} ${r.pattern} ${res.status} ${(res.json as { message?: string })?.message ?? ""}`;
              if (!GANETI_5XX.some((re) => re.test(line))) unexpected.push(line);
            }
          }
        }
      }
    }
    assert.deepEqual(unexpected, []);
    await m.t.master.queue.idle();
    for (const job of m.t.master.queue.all()) {
      for (const op of job.ops) {
        if (op.status !== "error") continue;
        const [cls, args] = op.result as [string, unknown[]];
        assert.doesNotMatch(String(args?.[0]), /TypeError|ReferenceError|Cannot read prop|is not a function|undefined/, `${op.input.OP_ID}: ${cls} ${String(args?.[0])}`);
      }
    }
    assert.equal((await call(m.port, "GET", "/version")).text, "2\n");
  });
});

// The whole RAPI surface of Ganeti (RESOURCES.md §1: 84 path/method pairs) against Corral's
// resource table: every pair is routed, with the access the spec gives it, and Ganeti's
// namespace has no route or method beyond them.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { accessFor, matchRoute, METHODS, type Method } from "../../src/api/http/routes.ts";
import { rapiRoutes } from "../../src/api/rapi/resources.ts";
import type { RapiServices } from "../../src/api/rapi/services.ts";

const SPEC = fileURLToPath(new URL("../../../shared/spec/ganeti-rapi/RESOURCES.md", import.meta.url));

interface Pair {
  path: string;
  method: Method;
  access: string;
}

function specPairs(): Pair[] {
  const rows = readFileSync(SPEC, "utf8").matchAll(/^\| \d+ \| `([^`]+)` \| ([A-Z]+) \| ((?:[^|\\]|\\\|)+) \|/gm);
  return [...rows].map((m) => ({ path: m[1], method: m[2] as Method, access: m[3].replace(/[*\\]/g, "").trim() }));
}

/** A concrete path for a pattern: names become "x", numeric ids "1". */
const concrete = (pattern: string) =>
  pattern.replace(/\[(job_id|disk_index)\]/g, "1").replace(/\[[a-z_]+\]/g, "x");

const EXPECTED_ACCESS: Record<string, string[]> = { public: [], write: ["write"], "read|write": ["read", "write"] };

// With CI=true shared/ is always beside the clone: a missing spec fails instead of skipping.
describe("the RAPI surface", { skip: !existsSync(SPEC) && process.env.CI !== "true" && "shared/spec is not beside the repo" }, () => {
  // The table only stores handlers; nothing is called while checking it.
  const routes = rapiRoutes({} as RapiServices);
  const pairs = existsSync(SPEC) ? specPairs() : [];

  it("has the 84 pairs of the spec", () => {
    assert.equal(pairs.length, 84);
  });

  it("routes every pair, with the spec's access", () => {
    for (const p of pairs) {
      const match = matchRoute(routes, concrete(p.path));
      assert.ok(match, `${p.method} ${p.path} has no route`);
      assert.equal(match.route.pattern, p.path, `${p.path} is answered by ${match.route.pattern}`);
      const spec = match.route.methods[p.method];
      assert.ok(spec, `${p.method} ${p.path} is not handled`);
      assert.deepEqual([...accessFor(p.method, spec)].sort(), EXPECTED_ACCESS[p.access], `${p.method} ${p.path} access`);
    }
  });

  it("adds nothing to Ganeti's namespace", () => {
    const known = new Set(pairs.map((p) => `${p.method} ${p.path}`));
    for (const r of routes) {
      for (const m of METHODS) {
        if (r.methods[m]) assert.ok(known.has(`${m} ${r.pattern}`), `${m} ${r.pattern} is not a Ganeti resource`);
      }
    }
  });
});

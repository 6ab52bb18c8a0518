// Bad input on every route of both APIs, naming objects that exist (so the checks after the
// lookup run) and objects that do not, never crashes the master, never shows a stack trace
// and never breaks a job with a programming error: each answer is a clear error in the API's
// own format (RAPI: {code,message,explain}, or the 5xx real Ganeti gives for that case; PVC:
// {"message"}), or a job that fails with a Ganeti error class. A request that was refused, or
// whose jobs all failed before any opcode succeeded, leaves the config, the running instances
// and the nodes' files exactly as they were.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { CallOptions, Reply } from "../support/cluster.ts";
import { call } from "../support/cluster.ts";
import {
  allRoutes, answerProblems, isGaneti5xx, anyOpcodeSucceeded, fillPattern, firstDifference, jobProblems, jobsAfter, MISSING_PARAMS, startHostileCluster,
  type HostileCluster, type RouteShape,
} from "../support/hostile.ts";

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


/** Every name a PVC handler reads from a request's values. */
const PVC_KEYS = [
  "action", "delete_disks", "description", "device", "dhcp4", "dhcp4_start", "dhcp4_end", "direction", "domain", "flush", "force",
  "hostname", "in", "ip4_gateway", "ip4_network", "ip6_gateway", "ip6_network", "ipaddress", "limit", "macaddress", "migrate", "move",
  "name", "name_servers", "nettype", "new_name", "new_size", "node", "option", "order", "out", "permanent", "pgs", "pool", "primary",
  "ready", "restart", "rule", "secondary", "selector", "set", "shutdown", "size", "snapshot", "start", "state", "static", "stop",
  "token", "unmigrate", "unset", "vni", "volume", "wait", "weight", "xml", "yes_i_really_mean_it",
];
const everyKey = (value: string) => Object.fromEntries(PVC_KEYS.map((k) => [k, value]));
/** Malformed values: empty, negative, huge, control characters, paths, very long, invalid patterns, bad XML. */
const PVC_VALUES: Record<string, string>[] = [
  {}, everyKey(""), everyKey("-1"), everyKey("1e308"), everyKey("99999999999999999999999"), everyKey("ü\u0000../../etc"),
  { xml: "x".repeat(3000), description: "x".repeat(3000), name: "x".repeat(3000), limit: "x".repeat(3000) }, everyKey("(a+)+$"), everyKey("["),
  { xml: "<domain><name>x</name>" }, { xml: "<domain/>" }, { xml: "not xml at all" },
  { xml: "<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]><domain><name>&b;</name></domain>" },
  { state: "bogus", node: "nosuch", selector: "nosuch", vni: "abc", size: "1Q", limit: "(", order: "x", direction: "sideways" },
];
/** Bodies with the wrong types or content types (values as JSON of other types, non-objects, invalid JSON). */
const PVC_RAW: CallOptions[] = [
  { rawBody: JSON.stringify({ vni: [1], size: { a: 1 }, state: true, node: null, xml: 5, limit: ["("], pgs: -1 }) },
  { rawBody: "[1,2]" }, { rawBody: "\"x\"" }, { rawBody: "{\"vni\":" }, { rawBody: "{}", contentType: "text/xml" },
  { rawBody: "<domain/>", contentType: "application/xml" }, { rawBody: "%%%&&&==", contentType: "application/x-www-form-urlencoded" },
];
/** Odd names for every path parameter: unknown, empty-ish, encoded separators, huge numbers. */
const ODD_PARAMS = ["nosuch", "%00", "..%2F..", "-1", "99999999999999999999999", "%E2%80%AE", "a%20b"];

describe("bad input on every route", () => {
  let h: HostileCluster;
  before(async () => {
    h = await startHostileCluster();
  });
  after(() => h?.close());
  /** "METHOD pattern" of the requests that named existing objects and were answered 200. */
  const reachedExisting = new Set<string>();
  let acceptedCount = 0;

  /** Sends one hostile request and checks everything about it; returns the problems found. */
  async function probe(
    route: RouteShape, method: string, path: string, namesExisting: boolean, o: CallOptions, send: (p: string, o: CallOptions) => Promise<Reply>, before: string,
  ): Promise<{ problems: string[]; state: string }> {
    const queue = h.c.master.queue;
    const lastId = queue.highestJobId();
    const sent = `${method} ${path.slice(0, 200)} ${JSON.stringify(o.rawBody ?? o.body ?? null).slice(0, 120)}`;
    let res: Reply;
    try {
      res = await send(path, o);
    } catch (err) {
      return { problems: [`${sent}: no answer (${err instanceof Error ? err.message : String(err)})`], state: await h.fingerprint() };
    }
    const line = `${sent} -> ${res.status}`;
    if (namesExisting && res.status === 200) reachedExisting.add(`${method} ${route.pattern}`);
    const problems = answerProblems(route.api, res).map((p) => `${line}: ${p}`);
    if (res.status >= 500) {
      if (!isGaneti5xx(route, method, res)) problems.push(`${line}: a 5xx Ganeti does not give here: ${res.text.slice(0, 200)}`);
    }
    await queue.idle();
    const jobs = jobsAfter(h.c, lastId);
    problems.push(...jobProblems(jobs).map((p) => `${line}: ${p}`));
    // Filters change without a job (as in Ganeti); anything else that changes state runs a job.
    const accepted = res.status < 400 && method !== "GET" && (jobs.length === 0 || anyOpcodeSucceeded(jobs));
    if (accepted) {
      acceptedCount++;
      // It was accepted and did something: put back any fixture it removed, and start afresh.
      await h.repair();
      return { problems, state: await h.fingerprint() };
    }
    const state = await h.fingerprint();
    if (state !== before) problems.push(`${line}: refused (or did nothing), yet changed state: ${firstDifference(before, state)}`);
    return { problems, state };
  }

  it("RAPI: clear answers, nothing changed by a refused request, the master keeps serving", { timeout: 600_000 }, async (t) => {
    const problems: string[] = [];
    let state = await h.fingerprint();
    for (const route of allRoutes().filter((r) => r.api === "rapi")) {
      // Existing objects first, then missing ones (a route without parameters once).
      const variants = route.pattern.includes("[") ? [() => h.existing, () => MISSING_PARAMS] : [() => MISSING_PARAMS];
      for (const method of route.methods) {
        for (const params of variants) {
          for (const body of BODIES) {
            for (const q of ["", QUERY]) {
              // Filled for each request: a fixture that was removed and repaired may have a new uuid.
              const path = fillPattern(route.pattern, params(), "nosuch") + q;
              const r = await probe(route, method, path, params() === h.existing, { user: "admin", rawBody: JSON.stringify(body) }, (p, o) => call(h.rapiPort, method, p, o), state);
              problems.push(...r.problems);
              state = r.state;
            }
          }
        }
      }
    }
    assert.deepEqual(problems, []);
    // The sweep did reach past the lookups: the existing objects were found.
    for (const p of ["/2/instances/[instance_name]", "/2/nodes/[node_name]", "/2/groups/[group_name]", "/2/networks/[network_name]", "/2/filters/[filter_uuid]", "/2/jobs/[job_id]"]) {
      assert.ok(reachedExisting.has(`GET ${p}`), `GET ${p} never found the existing object`);
    }
    t.diagnostic(`accepted requests (state then repaired): ${acceptedCount}`);
    assert.equal((await call(h.rapiPort, "GET", "/version")).text, "2\n");
  });

  it("PVC: clear {\"message\"} answers, nothing changed by a refused request, the master keeps serving", { timeout: 600_000 }, async (t) => {
    const problems: string[] = [];
    let state = await h.fingerprint();
    for (const route of allRoutes().filter((r) => r.api === "pvc")) {
      // The first is the existing objects' path, filled again for each request (see the RAPI test).
      const paths = [...new Set([fillPattern(route.pattern, h.existing, "x"), ...ODD_PARAMS.map((odd) => fillPattern(route.pattern, {}, odd))])];
      for (const method of route.methods) {
        // Values in the query string (any method), or in a form or JSON body (POST, PUT).
        const requests: { query: string; o: CallOptions }[] = [];
        const hasBody = method === "POST" || method === "PUT";
        for (const values of PVC_VALUES) {
          const qs = new URLSearchParams(values).toString();
          requests.push({ query: qs, o: {} });
          if (hasBody) requests.push({ query: "", o: { rawBody: qs, contentType: "application/x-www-form-urlencoded" } }, { query: "", o: { rawBody: JSON.stringify(values) } });
        }
        if (hasBody) requests.push(...PVC_RAW.map((o) => ({ query: "", o })));
        for (const template of paths) {
          for (const { query, o } of requests) {
            const namesExisting = template === paths[0];
            const path = namesExisting ? fillPattern(route.pattern, h.existing, "x") : template;
            const r = await probe(route, method, query === "" ? path : `${path}?${query}`, namesExisting, o, (p, opts) => h.pvcCall(method, p, opts), state);
            problems.push(...r.problems);
            state = r.state;
          }
        }
      }
    }
    assert.deepEqual(problems, []);
    for (const p of ["/api/v1/vm/[vm]", "/api/v1/node/[node]", "/api/v1/network/[network]", "/api/v1/network/[network]/acl/[acl]", "/api/v1/network/[network]/lease/[lease]", "/api/v1/storage/ceph/volume/[pool]/[volume]"]) {
      assert.ok(reachedExisting.has(`GET ${p}`), `GET ${p} never found the existing object`);
    }
    t.diagnostic(`accepted requests (state then repaired): ${acceptedCount}`);
    assert.equal((await h.pvcCall("GET", "/api/v1")).status, 209);
    assert.equal((await call(h.rapiPort, "GET", "/version")).text, "2\n");
  });
});

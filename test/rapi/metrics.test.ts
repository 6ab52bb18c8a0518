// GET /metrics: who may scrape it (read or write users, or the metrics token; never anonymous,
// even without --require-authentication), and what it holds: Prometheus' text format, with
// every family the master exports, labelled by route pattern, opcode and status.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { call, startTestMaster, type TestMaster } from "../support/cluster.ts";
import { METRICS_TOKENS } from "../support/secrets.ts";
import { createBody, ok, run, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";

const TOKEN = METRICS_TOKENS.rapi;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the text exposition format (version 0.0.4) strictly: every line is empty, a HELP, a
 * TYPE or a sample of a family declared before it; label values are quoted with \\, \" and \n escapes.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  for (const line of text.split("\n").slice(0, -1)) {
    // The format ignores empty lines (prom-client puts one between families).
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        assert.match(meta[3], /^(counter|gauge|histogram|summary|untyped)$/, line);
        types.set(meta[2], meta[3]);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const labelText = m[2] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/gy;
    let pos = 0;
    for (let l = re.exec(labelText); l; l = re.exec(labelText)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      pos = re.lastIndex;
    }
    assert.equal(pos, labelText.length, `labels of ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, "");
    assert.ok(types.has(m[1]) || types.get(family) === "histogram", `sample of an undeclared family: ${line}`);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { types, samples };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}

describe("GET /metrics: access", () => {
  let t: TestMaster;
  const tokenDir = mkdtempSync(join(tmpdir(), "corral-metrics-token-"));
  before(async () => {
    writeFileSync(join(tokenDir, "token"), `${TOKEN}\n`, { mode: 0o600 });
    t = await startTestMaster({ metricsTokenFile: join(tokenDir, "token") });
  });
  after(async () => {
    await t.close();
    rmSync(tokenDir, { recursive: true, force: true });
  });
  const port = () => t.master.port;

  test("without credentials: 401, although GETs are public on this master", async () => {
    assert.equal((await call(port(), "GET", "/2/info")).status, 200);
    const r = await call(port(), "GET", "/metrics");
    assert.equal(r.status, 401);
    assert.match(String(r.headers["www-authenticate"]), /^Basic /);
  });

  test("users with read or write access may scrape; a user with neither may not", async () => {
    for (const user of ["reader", "writer", "admin"] as const) {
      const r = await call(port(), "GET", "/metrics", { user });
      assert.equal(r.status, 200, user);
      assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    }
    assert.equal((await call(port(), "GET", "/metrics", { user: "nobody" })).status, 403);
    assert.equal((await call(port(), "GET", "/metrics", { user: { name: "reader", password: "wrong" } })).status, 401);
  });

  test("the metrics token as a bearer token: accepted; a wrong one, or it elsewhere, is 401", async () => {
    const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await call(port(), "GET", "/metrics", bearer(TOKEN))).status, 200);
    assert.equal((await call(port(), "GET", "/metrics", bearer(`${TOKEN}x`))).status, 401);
    assert.equal((await call(port(), "GET", "/metrics", bearer(TOKEN.slice(0, -1)))).status, 401);
    assert.equal((await call(port(), "GET", "/metrics", bearer(""))).status, 401);
    // Only /metrics takes it: a write with it is refused as any unknown credential is.
    assert.equal((await call(port(), "PUT", "/2/tags?tag=x", bearer(TOKEN))).status, 401);
    assert.equal((await call(port(), "GET", "/2/info", bearer(TOKEN))).status, 401);
  });

  test("a master started with metrics off serves no /metrics", async () => {
    const off = await startTestMaster({ metrics: false });
    try {
      assert.equal((await call(off.master.port, "GET", "/metrics", { user: "reader" })).status, 404);
    } finally {
      await off.close();
    }
  });
});

describe("GET /metrics: the exposition", () => {
  let c: InstanceCluster;
  before(async () => {
    c = await startInstanceCluster({ extraNodes: 1, memoryMiB: [4096, 2048] });
  });
  after(() => c.close());

  test("parses, and holds every family with the values of what happened", async () => {
    const port = c.port;
    await ok(port, "PUT", "/2/tags?tag=metrics-a");
    await ok(port, "PUT", "/2/tags?tag=metrics-b");
    const failed = await run(port, "PUT", "/2/tags?tag=bad%20tag");
    assert.equal(failed.status, "error");
    await ok(port, "POST", "/2/instances", createBody("web1", { pnode: "node1.corral.test" }));
    assert.equal((await call(port, "GET", "/2/instances/web1.corral.test")).status, 200);
    assert.equal((await call(port, "GET", "/2/instances/nosuch.corral.test")).status, 404);
    assert.equal((await call(port, "GET", "/no/such/path/at/all")).status, 404);
    await call(port, "GET", "/ui/app.js");

    const r = await call(port, "GET", "/metrics", { user: "reader" });
    assert.equal(r.status, 200);
    const { types, samples } = parseExposition(r.text);
    const expected: Record<string, string> = {
      corral_http_requests_total: "counter",
      corral_http_request_duration_seconds: "histogram",
      corral_jobs_submitted_total: "counter",
      corral_jobs_finished_total: "counter",
      corral_job_duration_seconds: "histogram",
      corral_job_queue_depth: "gauge",
      corral_jobs_running: "gauge",
      corral_durable_log_batch_writes: "histogram",
      corral_durable_log_commit_seconds: "histogram",
      corral_node_up: "gauge",
      corral_node_memory_total_bytes: "gauge",
      corral_node_memory_free_bytes: "gauge",
      corral_node_instances: "gauge",
      corral_instance_status: "gauge",
      corral_instances: "gauge",
      corral_process_cpu_seconds_total: "counter",
      corral_process_resident_memory_bytes: "gauge",
      corral_nodejs_eventloop_lag_seconds: "gauge",
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(types.get(name), type, name);

    // Requests by route pattern, never by path; unmatched paths share one label.
    assert.equal(value(samples, "corral_http_requests_total", { route: "/2/instances/[instance_name]", method: "GET", code: "200" }), 1);
    assert.equal(value(samples, "corral_http_requests_total", { route: "/2/instances/[instance_name]", method: "GET", code: "404" }), 1);
    assert.equal(value(samples, "corral_http_requests_total", { route: "unmatched", code: "404" }), 1);
    assert.ok(!samples.some((s) => s.labels.route?.includes("web1")), "no raw path as a label");
    // The web console's files count under one label, whatever the file.
    assert.equal(value(samples, "corral_http_requests_total", { route: "/ui/", method: "GET" }), 1);
    assert.equal(value(samples, "corral_http_requests_total", { route: "/2/tags", method: "PUT", code: "200" }), 3);
    assert.equal(value(samples, "corral_http_request_duration_seconds_count", { route: "/2/tags", method: "PUT", code: "200" }), 3);

    // Jobs by first opcode and final status.
    assert.equal(value(samples, "corral_jobs_submitted_total", { opcode: "OP_TAGS_SET" }), 3);
    assert.equal(value(samples, "corral_jobs_finished_total", { opcode: "OP_TAGS_SET", status: "success" }), 2);
    assert.equal(value(samples, "corral_jobs_finished_total", { opcode: "OP_TAGS_SET", status: "error" }), 1);
    assert.equal(value(samples, "corral_jobs_finished_total", { opcode: "OP_INSTANCE_CREATE", status: "success" }), 1);
    assert.equal(value(samples, "corral_job_duration_seconds_count", { opcode: "OP_TAGS_SET" }), 3);
    assert.equal(value(samples, "corral_job_queue_depth", { status: "queued" }), 0);
    assert.equal(value(samples, "corral_jobs_running"), 0);
    assert.ok((value(samples, "corral_durable_log_batch_writes_count") ?? 0) > 0);
    assert.ok((value(samples, "corral_durable_log_batch_writes_sum") ?? 0) >= (value(samples, "corral_durable_log_batch_writes_count") ?? 0));
    assert.ok((value(samples, "corral_durable_log_commit_seconds_count") ?? 0) > 0);

    // Nodes and instances, from the config and the agents' reports.
    assert.equal(value(samples, "corral_node_up", { node: "node1.corral.test" }), 1);
    assert.equal(value(samples, "corral_node_up", { node: "node2.corral.test" }), 1);
    assert.equal(value(samples, "corral_node_memory_total_bytes", { node: "node1.corral.test" }), 4096 * 2 ** 20);
    assert.equal(value(samples, "corral_node_memory_total_bytes", { node: "node2.corral.test" }), 2048 * 2 ** 20);
    assert.ok((value(samples, "corral_node_memory_free_bytes", { node: "node1.corral.test" }) ?? -1) >= 0);
    assert.equal(value(samples, "corral_node_instances", { node: "node1.corral.test", role: "primary" }), 1);
    assert.equal(value(samples, "corral_node_instances", { node: "node2.corral.test", role: "primary" }), 0);
    const web1 = samples.filter((s) => s.name === "corral_instance_status" && s.labels.name === "web1.corral.test");
    assert.deepEqual(web1.map((s) => [s.labels.status, s.value]), [["running", 1]]);
    assert.equal(value(samples, "corral_instances", { status: "running" }), 1);

    // A stopped instance: its one series moves to the new status.
    await ok(port, "PUT", "/2/instances/web1.corral.test/shutdown");
    const again = parseExposition((await call(port, "GET", "/metrics", { user: "writer" })).text).samples;
    const after = again.filter((s) => s.name === "corral_instance_status" && s.labels.name === "web1.corral.test");
    assert.deepEqual(after.map((s) => [s.labels.status, s.value]), [["ADMIN_down", 1]]);
    assert.equal(value(again, "corral_http_requests_total", { route: "/metrics", method: "GET", code: "200" }), 1);
  });
});

// A real Prometheus (Debian's `prometheus`) scrapes the master's /metrics over HTTPS with the
// metrics token, every second, and its query API then answers with what the master did: the
// job counters by opcode and status, the node and instance gauges, and up == 1.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, type UserName } from "../support/cluster.ts";
import { METRICS_TOKENS } from "../support/secrets.ts";
import { createBody, startInstanceCluster, type InstanceCluster } from "../support/instances.ts";
import { requireTools } from "../support/tools.ts";

const needs = requireTools({ tools: ["prometheus"] });
const TOKEN = METRICS_TOKENS.e2e;

/** A loopback port nothing listens on right now (Prometheus cannot be told port 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: 5_000 }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => {
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`${path}: ${res.statusCode} ${text}`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: ${path}`)));
    req.on("error", reject);
    req.end();
  });
}

interface PromVector {
  status: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

needs.describe("a real Prometheus scrapes /metrics", () => {
  let c: InstanceCluster;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let promPort = 0;
  let promLog = "";

  /** Submits as the writer over HTTPS and waits (bounded) for the job's end. */
  const job = async (method: string, path: string, body?: unknown, user: UserName = "writer"): Promise<string> => {
    const r = await call(c.port, method, path, { user, body }, true);
    assert.equal(r.status, 200, `${method} ${path}: ${r.text}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = String(((await call(c.port, "GET", `/2/jobs/${String(r.json)}`, {}, true)).json as { status: string }).status);
      if (["success", "error", "canceled"].includes(status)) return status;
      assert.ok(Date.now() < deadline, `job ${String(r.json)} still ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "corral-prometheus-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    c = await startInstanceCluster({ master: { ssl: true, metricsTokenFile: tokenFile } });

    promPort = await freePort();
    const config = join(dir, "prometheus.yml");
    writeFileSync(config, [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "scrape_configs:",
      "  - job_name: corral",
      "    scheme: https",
      "    metrics_path: /metrics",
      "    tls_config:",
      "      insecure_skip_verify: true",
      "    authorization:",
      `      credentials_file: ${tokenFile}`,
      "    static_configs:",
      `      - targets: ["127.0.0.1:${c.port}"]`,
      "",
    ].join("\n"));
    prometheus = spawn(needs.path("prometheus"), [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--log.level=warn",
    ], { stdio: ["ignore", "ignore", "pipe"] });
    prometheus.stderr!.on("data", (chunk: Buffer) => (promLog += chunk.toString()));
  });

  after(async () => {
    const p = prometheus;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
      p.kill("SIGTERM");
      const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Asks Prometheus until `check` passes on the query's result (bounded: 60 s). */
  async function eventually(query: string, check: (r: PromVector) => boolean): Promise<PromVector> {
    const deadline = Date.now() + 60_000;
    let last: unknown;
    for (;;) {
      assert.ok(prometheus?.exitCode === null, `prometheus exited: ${promLog}`);
      last = await getJson(promPort, `/api/v1/query?query=${encodeURIComponent(query)}`).catch((err: unknown) => String(err));
      if (typeof last === "object" && last !== null && check(last as PromVector)) return last as PromVector;
      assert.ok(Date.now() < deadline, `${query}: still ${JSON.stringify(last)}\nprometheus: ${promLog}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  const single = (r: PromVector) => (r.data?.result.length === 1 ? r.data.result[0].value[1] : undefined);

  test("its queries return the job counters, the node and instance gauges, and up == 1", async () => {
    assert.equal(await job("PUT", "/2/tags?tag=prom-a"), "success");
    assert.equal(await job("PUT", "/2/tags?tag=prom-b"), "success");
    assert.equal(await job("PUT", "/2/tags?tag=prom-c"), "success");
    assert.equal(await job("PUT", "/2/tags?tag=not%20a%20tag"), "error");
    assert.equal(await job("POST", "/2/instances", createBody("prom1")), "success");

    await eventually('up{job="corral"}', (r) => single(r) === "1");
    await eventually('corral_jobs_finished_total{opcode="OP_TAGS_SET",status="success"}', (r) => single(r) === "3");
    await eventually('corral_jobs_finished_total{opcode="OP_TAGS_SET",status="error"}', (r) => single(r) === "1");
    await eventually('corral_jobs_submitted_total{opcode="OP_INSTANCE_CREATE"}', (r) => single(r) === "1");
    await eventually('corral_jobs_finished_total{opcode="OP_INSTANCE_CREATE",status="success"}', (r) => single(r) === "1");
    await eventually('corral_instance_status{name="prom1.corral.test"}', (r) => r.data?.result[0]?.metric.status === "running" && single(r) === "1");
    await eventually('corral_node_up{node="node1.corral.test"}', (r) => single(r) === "1");
    await eventually('corral_node_instances{node="node1.corral.test",role="primary"}', (r) => single(r) === "1");
    await eventually('sum(corral_http_requests_total{route="/2/instances",method="POST"})', (r) => single(r) === "1");
    const up = await eventually('up{job="corral"}', (r) => single(r) === "1");
    assert.equal(up.status, "success");
  });
});

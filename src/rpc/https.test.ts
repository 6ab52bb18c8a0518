import assert from "node:assert/strict";
import { request } from "node:https";
import { after, before, describe, test } from "node:test";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentVersion, NodeRpc } from "./calls.ts";
import { certFingerprint, generateClusterCert, loadClusterCert, saveClusterCert, type ClusterCert } from "./certs.ts";
import { AGENT_ERRORS, AgentError, RpcCallError } from "./errors.ts";
import { httpsClient, serveNodeRpc, type RpcServer } from "./https.ts";

const version: AgentVersion = { protocol: 1, agent: "corral-node", node: "n1", hypervisors: ["fake"], disk_templates: ["file"] };

const agent = {
  async version() {
    return version;
  },
  async instanceInfo(args: { name: string }) {
    if (args.name === "missing") return null;
    if (args.name === "slow") await new Promise((r) => setTimeout(r, 2000));
    throw new AgentError(AGENT_ERRORS.hypervisor, `no info for ${args.name}`);
  },
} as unknown as NodeRpc;

/** Raw POST, to see what the server answers without the typed client. */
function rawPost(port: number, path: string, body: string, tls: { cert?: string; key?: string; ca: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method: "POST", ...tls, checkServerIdentity: () => undefined, agent: false },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("HTTPS transport with the cluster certificate", () => {
  let cluster: ClusterCert;
  let other: ClusterCert;
  let server: RpcServer;
  let endpoint: string;

  before(async () => {
    [cluster, other] = await Promise.all([generateClusterCert(), generateClusterCert({ commonName: "intruder" })]);
    server = await serveNodeRpc(agent, { host: "127.0.0.1", port: 0, tls: cluster });
    endpoint = `https://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  test("a client holding the cluster cert calls the agent", async () => {
    const client = httpsClient({ endpoint, tls: cluster, node: "n1" });
    try {
      assert.deepEqual(await client.version({}), version);
      assert.equal(await client.instanceInfo({ name: "missing", hypervisor: "fake" }), null);
    } finally {
      client.close();
    }
  });

  test("agent errors come back structured", async () => {
    const client = httpsClient({ endpoint, tls: cluster, node: "n1" });
    try {
      await assert.rejects(client.instanceInfo({ name: "x", hypervisor: "fake" }), (e: unknown) => {
        assert.ok(e instanceof RpcCallError);
        assert.equal(e.errClass, "HypervisorError");
        assert.equal(e.message, "no info for x");
        assert.equal(e.node, "n1");
        assert.equal(e.unreachable, false);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test("the server refuses a client presenting another certificate", async () => {
    // The client trusts the right server; only its own certificate is wrong.
    await assert.rejects(
      rawPost(server.port, "/rpc/version", "{}", { ca: cluster.cert, cert: other.cert, key: other.key }),
      (e: NodeJS.ErrnoException) => e.code === "ECONNRESET" || /certificate|alert/i.test(e.message),
    );
  });

  test("a client holding another cluster's certificate cannot call the agent", async () => {
    const client = httpsClient({ endpoint, tls: { cert: other.cert, key: other.key } });
    try {
      await assert.rejects(client.version({}), (e: unknown) => {
        assert.ok(e instanceof RpcCallError);
        assert.equal(e.errClass, "NodeUnreachable");
        assert.match(e.message, /does not present the cluster certificate/);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test("the server refuses a client without a certificate", async () => {
    await assert.rejects(rawPost(server.port, "/rpc/version", "{}", { ca: cluster.cert }));
  });

  test("the client refuses a server with another certificate", async () => {
    const rogue = await serveNodeRpc(agent, { host: "127.0.0.1", port: 0, tls: other });
    const client = httpsClient({ endpoint: `https://127.0.0.1:${rogue.port}`, tls: cluster });
    try {
      await assert.rejects(client.version({}), (e: unknown) => e instanceof RpcCallError && e.errClass === "NodeUnreachable");
    } finally {
      client.close();
      await rogue.close();
    }
  });

  test("unknown calls, wrong methods and bad bodies get clear HTTP errors", async () => {
    const tls = { cert: cluster.cert, key: cluster.key, ca: cluster.cert };
    const unknown = await rawPost(server.port, "/rpc/hypervisor", "{}", tls);
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).error.class, "UnknownCall");
    const notRpc = await rawPost(server.port, "/other", "{}", tls);
    assert.equal(notRpc.status, 404);
    const bad = await rawPost(server.port, "/rpc/version", "{oops", tls);
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).ok, false);
  });

  test("a call that outlives its timeout fails as RpcTimeout", async () => {
    const client = httpsClient({ endpoint, tls: cluster, timeoutMs: () => 200 });
    try {
      await assert.rejects(client.instanceInfo({ name: "slow", hypervisor: "fake" }), (e: unknown) =>
        e instanceof RpcCallError && e.errClass === "RpcTimeout" && e.unreachable,
      );
    } finally {
      client.close();
    }
  });

  test("a node that is down is unreachable, not an agent error", async () => {
    const down = await serveNodeRpc(agent, { host: "127.0.0.1", port: 0, tls: cluster });
    const port = down.port;
    await down.close();
    const client = httpsClient({ endpoint: `https://127.0.0.1:${port}`, tls: cluster });
    try {
      await assert.rejects(client.version({}), (e: unknown) => e instanceof RpcCallError && e.errClass === "NodeUnreachable");
    } finally {
      client.close();
    }
  });
});

test("cluster certificates are saved with a private key only the owner can read", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "corral-cert-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = await generateClusterCert({ altNames: ["node1.example.com", "192.0.2.10"] });
  await saveClusterCert(cert, join(dir, "cluster.pem"), join(dir, "cluster.key"));
  assert.equal((await stat(join(dir, "cluster.key"))).mode & 0o777, 0o600);
  const loaded = await loadClusterCert(join(dir, "cluster.pem"), join(dir, "cluster.key"));
  assert.equal(loaded.fingerprint256, cert.fingerprint256);
  assert.equal(certFingerprint(loaded.cert), cert.fingerprint256);
  assert.match(loaded.key, /BEGIN PRIVATE KEY/);
});

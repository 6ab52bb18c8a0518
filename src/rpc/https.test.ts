import assert from "node:assert/strict";
import { createServer as createHttpsServer, request } from "node:https";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { createSecureContext, TLSSocket } from "node:tls";
import { after, before, describe, test } from "node:test";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentVersion, NodeRpc } from "./calls.ts";
import { certFingerprint, generateClusterCert, loadClusterCert, saveClusterCert, type ClusterCert } from "./certs.ts";
import { AGENT_ERRORS, AgentError, RpcCallError } from "./errors.ts";
import type { AddressInfo } from "node:net";
import { httpsClient, serveNodeRpc, type RpcServer } from "./https.ts";
import { failureOf } from "./testkit.ts";

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

/** Listens on a free loopback port; resolves with the port. */
async function listen(server: TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** The failure of `call`, which must fail as an RpcCallError. */
describe("a node agent that is down, frozen or goes away", () => {
  let cluster: ClusterCert;
  let other: ClusterCert;
  const servers: TcpServer[] = [];
  const sockets = new Set<Socket>();

  before(async () => {
    [cluster, other] = await Promise.all([generateClusterCert(), generateClusterCert({ commonName: "another cluster" })]);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  /** Keeps track of a server and its connections so the suite can end them. */
  const track = <S extends TcpServer>(server: S): S => {
    servers.push(server);
    server.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    return server;
  };

  test("refused: nothing listens; classified as the node's environment, named in the message", async () => {
    const probe = createTcpServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    const client = httpsClient({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, node: "node2.example.com" });
    try {
      const err = await failureOf(client.nodeInfo({}));
      assert.equal(err.errClass, "NodeUnreachable");
      assert.equal(err.message, `node2.example.com: connection refused at 127.0.0.1:${port} (no agent listens there)`);
      assert.equal(err.failureEcode, "environment_error");
      assert.deepEqual(err.toOpExecError("Can't get node info").encode(), [
        "OpExecError",
        [`Can't get node info on node node2.example.com: ${err.message}`, "environment_error"],
      ]);
    } finally {
      client.close();
    }
  });

  test("frozen: TCP is accepted but TLS never starts; the handshake deadline ends the call", async () => {
    const silent = track(createTcpServer(() => undefined)); // accepts, never reads or writes
    const port = await listen(silent);
    const client = httpsClient({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, node: "node2.example.com", handshakeMs: 300 });
    try {
      const started = Date.now();
      // The call's own deadline (an OS install's, hours) does not matter: the handshake's does.
      const err = await failureOf(client.instanceOsAdd({ instance: {} as never, reinstall: false, debug: 0 }));
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 5_000, `failed after ${took} ms`);
      assert.equal(err.errClass, "RpcTimeout");
      assert.match(err.message, /^node2\.example\.com: no TLS connection to the agent at 127\.0\.0\.1:\d+ within 300 ms/);
      assert.equal(err.failureEcode, "environment_error");
    } finally {
      client.close();
    }
  });

  test("hanging: the agent takes the call and never answers; the call's deadline ends it", async () => {
    const hanging = track(createHttpsServer({ cert: cluster.cert, key: cluster.key, ca: [cluster.cert], requestCert: true }, () => undefined));
    const port = await listen(hanging);
    const client = httpsClient({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, node: "node2.example.com", timeoutMs: () => 400 });
    try {
      const started = Date.now();
      const err = await failureOf(client.instanceInfo({ name: "i1", hypervisor: "fake" }));
      assert.ok(Date.now() - started >= 350, `failed after ${Date.now() - started} ms`);
      assert.equal(err.errClass, "RpcTimeout");
      assert.equal(err.message, "node2.example.com did not answer instanceInfo within 400 ms");
      assert.equal(err.failureEcode, "environment_error");
    } finally {
      client.close();
    }
  });

  test("reset: the agent drops the connection after the handshake; not called a certificate problem", async () => {
    // Completes TLS with the cluster certificate, then resets as soon as a request arrives.
    const resetting = track(createTcpServer((raw) => {
      const tls = new TLSSocket(raw, { isServer: true, secureContext: createSecureContext({ cert: cluster.cert, key: cluster.key, ca: [cluster.cert] }), requestCert: true });
      tls.once("data", () => raw.resetAndDestroy());
      tls.on("error", () => undefined);
    }));
    const port = await listen(resetting);
    const client = httpsClient({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, node: "node2.example.com" });
    try {
      const err = await failureOf(client.version({}));
      assert.equal(err.errClass, "NodeUnreachable");
      assert.match(err.message, /^node2\.example\.com: (connection to 127\.0\.0\.1:\d+ reset while waiting for version|the agent at 127\.0\.0\.1:\d+ closed the connection without answering version)$/);
      assert.doesNotMatch(err.message, /certificate|TLS/);
      assert.equal(err.failureEcode, "environment_error");
    } finally {
      client.close();
    }
  });

  test("killed between calls: the kept-alive connection is gone; honest, classified", async () => {
    const agent = { async version() { return { protocol: 1 }; } } as unknown as NodeRpc;
    const server = await serveNodeRpc(agent, { host: "127.0.0.1", port: 0, tls: cluster });
    const client = httpsClient({ endpoint: `https://127.0.0.1:${server.port}`, tls: cluster, node: "node2.example.com" });
    try {
      await client.version({});
      await server.close(); // drops the kept-alive connection and stops listening
      const err = await failureOf(client.version({}));
      assert.equal(err.errClass, "NodeUnreachable");
      assert.match(err.message, /^node2\.example\.com: (connection refused|the agent at \S+ closed the connection without answering version|connection to \S+ reset)/);
      assert.doesNotMatch(err.message, /certificate|TLS/);
      assert.equal(err.failureEcode, "environment_error");
    } finally {
      client.close();
    }
  });

  test("a TLS 1.2 agent refusing our certificate is reported as a TLS rejection", async () => {
    // Presents the cluster certificate (so the client's pin passes) but trusts another CA.
    const refusing = track(createHttpsServer(
      { cert: cluster.cert, key: cluster.key, ca: [other.cert], requestCert: true, rejectUnauthorized: true, maxVersion: "TLSv1.2" },
      (_req, res) => res.end("{}"),
    ));
    const port = await listen(refusing);
    const client = httpsClient({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, node: "node2.example.com" });
    try {
      const err = await failureOf(client.version({}));
      assert.equal(err.errClass, "NodeUnreachable");
      assert.match(err.message, /^node2\.example\.com: (the agent at \S+ closed the connection during the TLS handshake|the agent at \S+ rejected the TLS session)/);
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

// The console channel over HTTPS: a real agent server (serveNodeRpc) whose stand-in opener
// connects to a unix-socket echo server, and the master's openRemoteConsole.

import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { after, before, describe, test } from "node:test";
import type { ConsoleKind } from "../model/console.ts";
import { ECODE } from "../model/errors.ts";
import type { NodeRpc } from "./calls.ts";
import { generateClusterCert, type ClusterCert } from "./certs.ts";
import { CONSOLE_UPGRADE, openRemoteConsole, type ConsoleOpener } from "./console.ts";
import { AGENT_ERRORS, AgentError } from "./errors.ts";
import { serveNodeRpc, type RpcServer } from "./https.ts";
import { failureOf } from "./testkit.ts";

const ECHO = "echo.example.com";

/** The node calls are not what this suite is about. */
const noCalls = {} as NodeRpc;

/** Resolves with the first `size` bytes read from `stream`. */
function readBytes(stream: Duplex, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= size) resolve(Buffer.concat(chunks).subarray(0, size));
    });
    stream.once("error", reject);
    stream.once("end", () => reject(new Error(`the stream ended after ${have} of ${size} bytes`)));
  });
}

/** A raw upgrade request with the cluster cert: status and body of the refusal. */
function rawUpgrade(port: number, path: string, tls: ClusterCert, headers: Record<string, string> = { Connection: "Upgrade", Upgrade: CONSOLE_UPGRADE }, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers, cert: tls.cert, key: tls.key, ca: tls.cert, checkServerIdentity: () => undefined, agent: false });
    req.on("upgrade", (_res, socket: Socket) => (socket.destroy(), reject(new Error("upgraded"))));
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the console channel over HTTPS with the cluster certificate", () => {
  let dir: string;
  let cluster: ClusterCert;
  let other: ClusterCert;
  let echo: Server;
  let server: RpcServer;
  let endpoint: string;
  const opened: { instance: string; kind: ConsoleKind }[] = [];
  const streams = new Set<Duplex>();
  const echoSockets = new Set<Socket>();

  const opener: ConsoleOpener = {
    async openConsole(instance, kind) {
      opened.push({ instance, kind });
      if (instance !== ECHO) throw new AgentError(AGENT_ERRORS.hypervisor, `Instance ${instance} is not running on node n1`, ECODE.state);
      const socket = connect(join(dir, "echo.sock"));
      await once(socket, "connect");
      streams.add(socket);
      return socket;
    },
  };
  /** Keeps track of a stream the test opened so that `after` ends it whatever happened. */
  const tracked = <T extends Duplex>(stream: T): T => (streams.add(stream), stream);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "corral-console-"));
    [cluster, other] = await Promise.all([generateClusterCert(), generateClusterCert({ commonName: "intruder" })]);
    echo = createServer((socket) => {
      echoSockets.add(socket);
      socket.on("close", () => echoSockets.delete(socket));
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(join(dir, "echo.sock"), resolve));
    server = await serveNodeRpc(noCalls, { host: "127.0.0.1", port: 0, tls: cluster, console: opener });
    endpoint = `https://127.0.0.1:${server.port}`;
  });
  after(async () => {
    for (const s of streams) s.destroy();
    await server.close();
    for (const s of echoSockets) s.destroy();
    await new Promise((resolve) => echo.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  test("bytes go both ways between the master's stream and the console", async () => {
    for (const kind of ["vnc", "serial"] as const) {
      const stream = tracked(await openRemoteConsole({ endpoint, tls: cluster, instance: ECHO, kind, node: "n1" }));
      const payload = Buffer.from(`${kind}: RFB 003.008\n\x00\xff binary ${"x".repeat(100_000)}`, "latin1");
      stream.write(payload);
      assert.deepEqual(await readBytes(stream, payload.length), payload);
      stream.destroy();
      assert.deepEqual(opened.at(-1), { instance: ECHO, kind });
    }
  });

  test("the agent's refusal comes back as its error: class, message, classification", async () => {
    const err = await failureOf(openRemoteConsole({ endpoint, tls: cluster, instance: "missing.example.com", kind: "vnc", node: "n1" }));
    assert.equal(err.errClass, "HypervisorError");
    assert.equal(err.message, "Instance missing.example.com is not running on node n1");
    assert.equal(err.ecode, "wrong_state");
    assert.equal(err.node, "n1");
    assert.equal(err.unreachable, false);
    const raw = await rawUpgrade(server.port, "/console/missing.example.com/serial", cluster);
    assert.equal(raw.status, 409);
    assert.deepEqual(JSON.parse(raw.body), { class: "HypervisorError", message: "Instance missing.example.com is not running on node n1", ecode: "wrong_state" });
  });

  test("bad kinds, paths, methods and upgrades are refused before the opener is asked", async () => {
    const asked = opened.length;
    const badKind = await rawUpgrade(server.port, `/console/${ECHO}/spice`, cluster);
    assert.equal(badKind.status, 400);
    assert.deepEqual(JSON.parse(badKind.body), { class: "ArgumentError", message: 'Invalid console kind "spice": expected vnc or serial' });
    const badName = await rawUpgrade(server.port, "/console/%E0%A4%A/vnc", cluster);
    assert.equal(badName.status, 400);
    assert.match(JSON.parse(badName.body).message, /^Invalid instance name/);
    assert.equal((await rawUpgrade(server.port, `/console/a/b/${ECHO}/vnc`, cluster)).status, 404);
    assert.equal((await rawUpgrade(server.port, `/rpc/version`, cluster)).status, 404);
    assert.equal((await rawUpgrade(server.port, `/console/${ECHO}/vnc`, cluster, undefined, "POST")).status, 405);
    const websocket = await rawUpgrade(server.port, `/console/${ECHO}/vnc`, cluster, { Connection: "Upgrade", Upgrade: "websocket" });
    assert.equal(websocket.status, 400);
    assert.match(JSON.parse(websocket.body).message, /upgrades only to corral-console/);
    assert.equal(opened.length, asked);
  });

  test("an instance name travels encoded and arrives as sent", async () => {
    const err = await failureOf(openRemoteConsole({ endpoint, tls: cluster, instance: "../a b/c", kind: "serial" }));
    assert.equal(err.message, "Instance ../a b/c is not running on node n1");
    assert.deepEqual(opened.at(-1), { instance: "../a b/c", kind: "serial" });
  });

  test("a client holding another certificate is refused; the client refuses a server holding another", async () => {
    const asked = opened.length;
    const refused = await failureOf(openRemoteConsole({ endpoint, tls: other, instance: ECHO, kind: "vnc", node: "n1" }));
    assert.equal(refused.errClass, "NodeUnreachable");
    assert.match(refused.message, /^n1: the agent at 127\.0\.0\.1:\d+ does not present the cluster certificate/);
    await assert.rejects(rawUpgrade(server.port, `/console/${ECHO}/vnc`, other));
    const rogue = await serveNodeRpc(noCalls, { host: "127.0.0.1", port: 0, tls: other, console: opener });
    try {
      const err = await failureOf(openRemoteConsole({ endpoint: `https://127.0.0.1:${rogue.port}`, tls: cluster, instance: ECHO, kind: "vnc" }));
      assert.equal(err.errClass, "NodeUnreachable");
    } finally {
      await rogue.close();
    }
    assert.equal(opened.length, asked, "no console was opened for them");
  });

  test("an agent without a console opener refuses the channel", async () => {
    const bare = await serveNodeRpc(noCalls, { host: "127.0.0.1", port: 0, tls: cluster });
    try {
      const err = await failureOf(openRemoteConsole({ endpoint: `https://127.0.0.1:${bare.port}`, tls: cluster, instance: ECHO, kind: "vnc" }));
      assert.equal(err.errClass, "UnknownCall");
      assert.equal(err.message, "This node agent serves no console channel");
    } finally {
      await bare.close();
    }
  });

  test("closing the agent's server ends the channels it relays", async () => {
    const own = await serveNodeRpc(noCalls, { host: "127.0.0.1", port: 0, tls: cluster, console: opener });
    const stream = tracked(await openRemoteConsole({ endpoint: `https://127.0.0.1:${own.port}`, tls: cluster, instance: ECHO, kind: "serial" }));
    stream.resume();
    const closed = once(stream, "close");
    await own.close(); // would hang on a channel it kept
    await closed;
  });

  test("opening is bounded: an agent that never answers, and one that is not there", async () => {
    const silent = createServer(() => undefined); // accepts TCP, never speaks TLS
    const held = new Set<Socket>();
    silent.on("connection", (s) => (held.add(s), s.on("close", () => held.delete(s))));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const err = await failureOf(openRemoteConsole({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, instance: ECHO, kind: "vnc", node: "n2", timeoutMs: 300 }));
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 5000, `failed after ${took} ms`);
      assert.equal(err.errClass, "RpcTimeout");
      assert.equal(err.message, `n2 did not open the vnc console of ${ECHO} within 300 ms`);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    const down = await failureOf(openRemoteConsole({ endpoint: `https://127.0.0.1:${port}`, tls: cluster, instance: ECHO, kind: "vnc", node: "n2" }));
    assert.equal(down.errClass, "NodeUnreachable");
    assert.equal(down.message, `n2: connection refused at 127.0.0.1:${port} (no agent listens there)`);
  });
});

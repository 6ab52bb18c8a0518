// The forwarder's connections and deadline with real sockets: a standby (an HTTP server whose
// handler is LeaderForwarder.forward) and "leaders" that are plain servers of the test, so each
// fault is exact: one that accepts and never answers (504 within the deadline, sent once, not
// retried), keep-alive leaders that count their connections (one pool per leader, closed when
// idle or when another leads), and a TLS leader whose pooled connections are pinned.
// The whole path through real masters is test/rapi/forward.test.ts.

import assert from "node:assert/strict";
import { createServer as createHttpServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, Server as HttpsServer } from "node:https";
import { createServer as createNetServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { TestLocator } from "../../../test/support/leader.ts";
import { generateClusterCert } from "../../rpc/certs.ts";
import { HttpError } from "./errors.ts";
import { LeaderForwarder } from "./forward.ts";

interface Answer {
  status: number;
  text: string;
}

/** A PUT with a small body to `port` on a connection of its own; resolves with the answer. */
function put(port: number, path = "/2/tags?tag=t"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "PUT", path, agent: false, headers: { "Content-Type": "application/json", "Content-Length": "2" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end("{}");
  });
}

const listenOn = async (server: Server | ReturnType<typeof createNetServer>): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
};
const closeServer = (server: { close(cb: () => void): unknown; closeAllConnections?: () => void }) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });

/** A leader that answers every request 200 with a job id, keeps connections alive 10 s, and counts them. */
class CountingLeader {
  connections = 0;
  requests = 0;
  open = 0;
  readonly server: Server;
  constructor(server: Server) {
    this.server = server;
    server.keepAliveTimeout = 10_000;
    server.on(server instanceof HttpsServer ? "secureConnection" : "connection", (socket: Socket) => {
      this.connections++;
      this.open++;
      socket.on("close", () => this.open--);
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.requests++;
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(String(this.requests));
      });
    });
  }
}

describe("the forwarder's connections to the leader", () => {
  const locator = new TestLocator();
  const log: string[] = [];
  const forwarder = new LeaderForwarder(locator, (line) => void log.push(line));
  let deadlineMs = 2_000;
  let standbyPort: number;
  const standby = createHttpServer((req, res) => {
    forwarder.forward(req, res, { route: "/2/tags", deadlineMs }).then(
      () => undefined,
      (err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500);
        res.writeHead(e.code, { ...e.headers, "Content-Type": "application/json" });
        res.end(JSON.stringify({ code: e.code, message: e.message }));
      },
    );
  });

  before(async () => {
    standbyPort = await listenOn(standby);
  });
  after(async () => {
    forwarder.close();
    await closeServer(standby);
  });

  it("a leader that accepts and never answers: 504 within the deadline; the request was sent once and is not retried", async () => {
    let connections = 0;
    let received = "";
    let leaderSideClosed = false;
    const silent = createNetServer((socket) => {
      connections++;
      socket.on("data", (c: Buffer) => (received += c.toString("latin1")));
      socket.on("close", () => (leaderSideClosed = true));
    });
    const port = await listenOn(silent);
    locator.current = { name: "silent.corral.test", url: `http://127.0.0.1:${port}` };
    deadlineMs = 1_500;
    try {
      const started = performance.now();
      const r = await put(standbyPort);
      const took = performance.now() - started;
      assert.equal(r.status, 504, r.text);
      assert.match(r.text, /The leader silent\.corral\.test did not answer within 1 s; the request may have been carried out .* not retried/);
      assert.ok(took >= deadlineMs - 50 && took < deadlineMs + 1_000, `answered after ${Math.round(took)} ms`);
      // Nothing more reaches the silent leader afterwards; its connection is closed, not pooled.
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(connections, 1);
      assert.equal(received.match(/^PUT \/2\/tags\?tag=t HTTP\/1\.1/gm)?.length, 1, received);
      assert.ok(leaderSideClosed, "the standby closed the hung connection");
      assert.ok(log.some((l) => l.startsWith("forwarding PUT /2/tags: The leader silent.corral.test did not answer")), log.join("\n"));
    } finally {
      deadlineMs = 2_000;
      silent.close();
    }
  });

  it("forwards to one leader share a kept-alive connection, closed when idle; a new leader gets a new pool and the old one is closed", async () => {
    const [a, b] = [new CountingLeader(createHttpServer()), new CountingLeader(createHttpServer())];
    const [portA, portB] = [await listenOn(a.server), await listenOn(b.server)];
    try {
      locator.current = { name: "a.corral.test", url: `http://127.0.0.1:${portA}` };
      for (let i = 1; i <= 5; i++) assert.deepEqual(await put(standbyPort), { status: 200, text: String(i) });
      assert.equal(a.connections, 1, "five forwards, one connection");
      // Concurrent forwards take more connections, kept for the next ones.
      const answers = await Promise.all([1, 2, 3, 4].map(() => put(standbyPort)));
      assert.ok(answers.every((r) => r.status === 200));
      assert.ok(a.connections <= 5, `${a.connections} connections`);
      const afterBurst = a.connections;
      for (let i = 0; i < 3; i++) assert.equal((await put(standbyPort)).status, 200);
      assert.equal(a.connections, afterBurst, "the pool's connections are reused");

      locator.current = { name: "b.corral.test", url: `http://127.0.0.1:${portB}` };
      for (let i = 0; i < 3; i++) assert.equal((await put(standbyPort)).status, 200);
      assert.equal(b.connections, 1);
      assert.equal(b.requests, 3);
      // The old leader's pool was closed by the standby (the leader itself keeps them 10 s).
      for (let i = 0; i < 50 && a.open > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(a.open, 0, "the old leader's connections are closed");
      // Idle: closed by the standby after 2 s, before a leader's 5 s keep-alive could race it.
      const idleSince = performance.now();
      while (b.open > 0 && performance.now() - idleSince < 4_000) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(b.open, 0, "the idle connection is closed");
      const idleMs = performance.now() - idleSince;
      assert.ok(idleMs > 1_500 && idleMs < 3_000, `closed after ${Math.round(idleMs)} ms idle`);
      assert.equal((await put(standbyPort)).status, 200);
      assert.equal(b.connections, 2, "a new connection after the idle one was closed");
    } finally {
      await Promise.all([closeServer(a.server), closeServer(b.server)]);
    }
  });

  it("pooled TLS connections are pinned: a leader named with another certificate gets no request, even with an idle pooled connection to it", async () => {
    const [right, wrong] = [await generateClusterCert({ commonName: "leader" }), await generateClusterCert({ commonName: "impostor" })];
    const leader = new CountingLeader(createHttpsServer({ cert: right.cert, key: right.key }));
    const port = await listenOn(leader.server);
    try {
      locator.current = { name: "tls.corral.test", url: `https://127.0.0.1:${port}`, certPem: right.cert };
      for (let i = 0; i < 3; i++) assert.equal((await put(standbyPort)).status, 200);
      assert.equal(leader.connections, 1, "three forwards, one TLS connection");
      assert.equal(leader.open, 1);

      locator.current = { ...locator.current, certPem: wrong.cert };
      const refused = await put(standbyPort);
      assert.equal(refused.status, 502, refused.text);
      assert.match(refused.text, /presented a certificate .* not the one the store names .* the request was not sent/);
      assert.equal(leader.requests, 3, "nothing was sent on the pooled connection");

      locator.current = { ...locator.current, certPem: right.cert };
      assert.equal((await put(standbyPort)).status, 200);
      assert.equal(leader.requests, 4);
    } finally {
      await closeServer(leader.server);
    }
  });
});

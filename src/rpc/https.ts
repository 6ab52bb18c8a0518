// The HTTPS transport: the agent serves `POST /rpc/<call>` with a JSON body; both ends use
// the cluster certificate (mutual TLS). The server requires a client certificate chaining to
// the cluster cert and equal to it; the client trusts only the cluster cert and checks the
// server presents exactly that cert (hostnames do not matter: nodes are reached by IP; see
// cluster-tls.ts). The same server takes the console channel's upgrades (console.ts).

import { TLS_SERVER_POLICY } from "../net/tls.ts";
import { Agent, createServer, request, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { callTimeoutMs, TERM_HEADER, type RpcCall } from "./calls.ts";
import { buildClient, type NodeRpcClient, type TermSource } from "./client.ts";
import { certFingerprint } from "./certs.ts";
import { clientContext, describeFailure, isClusterPeer, pinServerCert, seconds, type TlsIdentity } from "./cluster-tls.ts";
import { serveConsoles, type ConsoleOpener } from "./console.ts";
import { dispatchJson, type ServedAgent } from "./dispatch.ts";
import { AGENT_ERRORS, TRANSPORT_ERRORS, type WireResponse } from "./errors.ts";

export type { TlsIdentity };

const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface RpcServer {
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

export interface ServeOptions {
  host: string;
  /** 0 picks a free port; the chosen one is in the result. */
  port: number;
  tls: TlsIdentity;
  /** Serves the console channel (`GET /console/<instance>/<kind>` upgrades) with this; absent, they are refused. */
  console?: ConsoleOpener;
}

export async function serveNodeRpc(agent: ServedAgent, opts: ServeOptions): Promise<RpcServer> {
  const fingerprint = opts.tls.fingerprint256 ?? certFingerprint(opts.tls.cert);
  const server = createServer(
    {
      cert: opts.tls.cert,
      key: opts.tls.key,
      ca: [opts.tls.cert],
      requestCert: true,
      rejectUnauthorized: true,
      ...TLS_SERVER_POLICY,
    },
    (req, res) => {
      handle(agent, fingerprint, req, res).catch(() => {
        if (!res.headersSent) reply(res, 500, { ok: false, error: { class: AGENT_ERRORS.internal, message: "Internal error" } });
        else res.destroy();
      });
    },
  );
  server.headersTimeout = 30_000;
  // Calls may run long (OS scripts), so no overall request timeout; idle sockets still close.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;
  const consoles = serveConsoles(server, opts.console, fingerprint);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: opts.host,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        consoles.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(agent: ServedAgent, fingerprint: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isClusterPeer(req.socket as TLSSocket, fingerprint)) {
    reply(res, 403, { ok: false, error: { class: AGENT_ERRORS.forbidden, message: "Client certificate is not the cluster certificate" } });
    return;
  }
  const match = /^\/rpc\/([A-Za-z][A-Za-z0-9]*)$/.exec((req.url ?? "").split("?")[0]);
  if (!match) {
    reply(res, 404, { ok: false, error: { class: AGENT_ERRORS.unknownCall, message: `No such resource: ${req.url}` } });
    return;
  }
  if (req.method !== "POST") {
    res.setHeader("Allow", "POST");
    reply(res, 405, { ok: false, error: { class: AGENT_ERRORS.argument, message: "Node calls use POST" } });
    return;
  }
  const body = await readBody(req, MAX_REQUEST_BYTES);
  if (body === null) {
    reply(res, 413, { ok: false, error: { class: AGENT_ERRORS.argument, message: `Request body over ${MAX_REQUEST_BYTES} bytes` } });
    return;
  }
  const term = req.headers[TERM_HEADER];
  const { status, json } = await dispatchJson(agent, match[1], body, Array.isArray(term) ? term[0] : term);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
}

function reply(res: ServerResponse, status: number, body: WireResponse): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(json), Connection: "close" });
  res.end(json);
}

/** The body as text, or null when it exceeds `limit` bytes. */
function readBody(stream: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    stream.on("end", () => resolve(over ? null : Buffer.concat(chunks).toString("utf8")));
    stream.on("error", reject);
  });
}

export interface HttpsClientOptions {
  /** "https://host:port". */
  endpoint: string;
  tls: TlsIdentity;
  /** Node name for error messages (default: the endpoint's host). */
  node?: string;
  /** Overrides the per-call deadlines of callTimeoutMs. */
  timeoutMs?: (call: RpcCall, args: unknown) => number;
  /** Deadline of the TCP connect and TLS handshake of a new connection (default HANDSHAKE_DEADLINE_MS). */
  handshakeMs?: number;
  /** The master's term, sent with every call (see buildClient). */
  term?: TermSource;
}

/**
 * A live agent completes TCP and TLS in milliseconds even when busy (its event loop does
 * nothing else for long); one that takes this long is frozen or its machine is overloaded.
 * A new connection fails after this long even for calls whose answer may take hours.
 */
export const HANDSHAKE_DEADLINE_MS = 10_000;

/** Sockets whose TLS handshake completed (the server's certificate was pinned). */
const secured = new WeakSet<object>();

export function httpsClient(opts: HttpsClientOptions): NodeRpcClient {
  const base = new URL(opts.endpoint);
  if (base.protocol !== "https:") throw new Error(`Node endpoint must be https://, got ${opts.endpoint}`);
  const node = opts.node ?? base.hostname;
  const fingerprint = opts.tls.fingerprint256 ?? certFingerprint(opts.tls.cert);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 16,
    // One TLS context per cluster certificate, shared by every node's client: building
    // one per node costs milliseconds of CPU and memory each on large clusters.
    secureContext: clientContext(opts.tls),
    minVersion: "TLSv1.2",
    checkServerIdentity: pinServerCert(fingerprint),
  });
  const timeoutOf = opts.timeoutMs ?? callTimeoutMs;
  const handshakeMs = opts.handshakeMs ?? HANDSHAKE_DEADLINE_MS;
  let closed = false;

  const send = (call: RpcCall, body: string, args: unknown, term: string | undefined): Promise<string> => {
    const failure = (cls: string, message: string) =>
      JSON.stringify({ ok: false, error: { class: cls, message } } satisfies WireResponse);
    if (closed) return Promise.resolve(failure(TRANSPORT_ERRORS.unreachable, `${node}: the client is closed`));
    const timeout = timeoutOf(call, args);
    return new Promise((resolve) => {
      let done = false;
      let handshakeTimer: NodeJS.Timeout | undefined;
      /** Whether this call's socket finished its TLS handshake (a reused one did earlier). */
      let handshakeDone = false;
      const finish = (text: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(handshakeTimer);
        resolve(text);
      };
      const req = request(
        new URL(`/rpc/${call}`, base),
        {
          method: "POST",
          agent,
          headers: {
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(body),
            ...(term === undefined ? {} : { [TERM_HEADER]: term }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy();
              finish(failure(TRANSPORT_ERRORS.protocol, `${node}: response to ${call} over ${MAX_RESPONSE_BYTES} bytes`));
            } else chunks.push(chunk);
          });
          res.on("end", () => finish(Buffer.concat(chunks).toString("utf8")));
          res.on("error", (err) => finish(failure(TRANSPORT_ERRORS.unreachable, describeFailure(node, base.host, call, err, true))));
        },
      );
      req.on("socket", (socket) => {
        if (secured.has(socket)) {
          handshakeDone = true;
          return;
        }
        socket.once("secureConnect", () => {
          secured.add(socket);
          handshakeDone = true;
          clearTimeout(handshakeTimer);
        });
        if (handshakeMs < timeout) {
          handshakeTimer = setTimeout(() => {
            req.destroy();
            finish(failure(TRANSPORT_ERRORS.timeout,
              `${node}: no TLS connection to the agent at ${base.host} within ${seconds(handshakeMs)} (it accepts no connections or does not answer: frozen or overloaded)`));
          }, handshakeMs);
        }
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish(failure(TRANSPORT_ERRORS.timeout, `${node} did not answer ${call} within ${seconds(timeout)}`));
      }, timeout);
      req.on("error", (err) => finish(failure(TRANSPORT_ERRORS.unreachable, describeFailure(node, base.host, call, err, handshakeDone))));
      req.end(body);
    });
  };

  return buildClient(node, send, () => {
    closed = true;
    agent.destroy();
  }, opts.term);
}

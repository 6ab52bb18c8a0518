// The HTTPS transport: the agent serves `POST /rpc/<call>` with a JSON body; both ends use
// the cluster certificate (mutual TLS). The server requires a client certificate chaining to
// the cluster cert and equal to it; the client trusts only the cluster cert and checks the
// server presents exactly that cert (hostnames do not matter: nodes are reached by IP).

import { TLS_SERVER_POLICY } from "../net/tls.ts";
import { Agent, createServer, request, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from "node:tls";
import { callTimeoutMs, type NodeRpc, type RpcCall } from "./calls.ts";
import { buildClient, type NodeRpcClient } from "./client.ts";
import { certFingerprint, type ClusterCert } from "./certs.ts";
import { dispatchJson } from "./dispatch.ts";
import { AGENT_ERRORS, TRANSPORT_ERRORS, type WireResponse } from "./errors.ts";

/** The PEM pair both ends hold; the fingerprint is derived when absent. */
export type TlsIdentity = Pick<ClusterCert, "cert" | "key"> & { fingerprint256?: string };

const contexts = new WeakMap<TlsIdentity, SecureContext>();

/** The client TLS context of a cluster certificate (key, certificate, and it as the only CA). */
function sharedContext(tls: TlsIdentity): SecureContext {
  let ctx = contexts.get(tls);
  if (!ctx) {
    ctx = createSecureContext({ cert: tls.cert, key: tls.key, ca: [tls.cert], minVersion: "TLSv1.2" });
    contexts.set(tls, ctx);
  }
  return ctx;
}

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
}

export async function serveNodeRpc(agent: NodeRpc, opts: ServeOptions): Promise<RpcServer> {
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
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(agent: NodeRpc, fingerprint: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const socket = req.socket as TLSSocket;
  const peer: PeerCertificate | undefined = socket.getPeerCertificate?.();
  if (!socket.authorized || !peer || peer.fingerprint256 !== fingerprint) {
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
  const { status, json } = await dispatchJson(agent, match[1], body);
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
    secureContext: sharedContext(opts.tls),
    minVersion: "TLSv1.2",
    // Pinning replaces hostname checks: the chain already ends at the cluster cert.
    checkServerIdentity: (_host, cert) =>
      cert.fingerprint256 === fingerprint ? undefined : new Error("Server certificate is not the cluster certificate"),
  });
  const timeoutOf = opts.timeoutMs ?? callTimeoutMs;
  const handshakeMs = opts.handshakeMs ?? HANDSHAKE_DEADLINE_MS;
  let closed = false;

  const send = (call: RpcCall, body: string, args: unknown): Promise<string> => {
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
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
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
  });
}

/** "30 s", "1.5 s", "250 ms". */
function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

const SERVER_CERT_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Connection failures that mean "nothing answers at that address". */
const UNREACHABLE_CODES = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]);

/**
 * A transport failure in words an operator can act on, naming the node. Only a failure of
 * the TLS handshake itself is called a certificate or TLS problem: once the handshake is
 * done both ends hold the cluster certificate (the server's was pinned), so a reset after
 * it is the agent going away, not a refusal of ours.
 */
function describeFailure(node: string, host: string, call: string, err: NodeJS.ErrnoException, handshakeDone: boolean): string {
  const code = err.code ?? "";
  if (SERVER_CERT_ERRORS.has(code) || err.message.includes("not the cluster certificate")) {
    return `${node}: the agent at ${host} does not present the cluster certificate (${code || err.message})`;
  }
  if (code === "ECONNREFUSED") return `${node}: connection refused at ${host} (no agent listens there)`;
  if (UNREACHABLE_CODES.has(code)) return `${node}: cannot reach ${host} (${code})`;
  if (code.startsWith("ERR_SSL_") && code.includes("ALERT")) {
    return `${node}: the agent at ${host} rejected the TLS session: ${err.message} (${code}); is its cluster certificate this cluster's?`;
  }
  if (code.startsWith("ERR_SSL_")) return `${node}: TLS handshake with ${host} failed (${code})`;
  if (code === "ECONNRESET" || code === "EPIPE") {
    if (!handshakeDone) {
      // A TLS 1.2 server refusing our certificate drops the connection this way.
      return `${node}: the agent at ${host} closed the connection during the TLS handshake (it does not accept our TLS session: another cluster certificate, or TLS settings)`;
    }
    return err.message === "socket hang up"
      ? `${node}: the agent at ${host} closed the connection without answering ${call}`
      : `${node}: connection to ${host} reset while waiting for ${call}`;
  }
  return `${node}: cannot reach ${host}: ${err.message}`;
}

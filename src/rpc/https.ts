// The HTTPS transport: the agent serves `POST /rpc/<call>` with a JSON body; both ends use
// the cluster certificate (mutual TLS). The server requires a client certificate chaining to
// the cluster cert and equal to it; the client trusts only the cluster cert and checks the
// server presents exactly that cert (hostnames do not matter: nodes are reached by IP).

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
      minVersion: "TLSv1.2",
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
  /** Overrides the per-call timeouts of callTimeoutMs. */
  timeoutMs?: (call: RpcCall, args: unknown) => number;
}

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
  let closed = false;

  const send = (call: RpcCall, body: string, args: unknown): Promise<string> => {
    const failure = (cls: string, message: string) =>
      JSON.stringify({ ok: false, error: { class: cls, message } } satisfies WireResponse);
    if (closed) return Promise.resolve(failure(TRANSPORT_ERRORS.unreachable, "Client is closed"));
    const timeout = timeoutOf(call, args);
    return new Promise((resolve) => {
      let done = false;
      const finish = (text: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
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
              finish(failure(TRANSPORT_ERRORS.protocol, `Response over ${MAX_RESPONSE_BYTES} bytes`));
            } else chunks.push(chunk);
          });
          res.on("end", () => finish(Buffer.concat(chunks).toString("utf8")));
          res.on("error", (err) => finish(failure(TRANSPORT_ERRORS.unreachable, err.message)));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        finish(failure(TRANSPORT_ERRORS.timeout, `No answer from ${node} to ${call} within ${Math.round(timeout / 1000)}s`));
      }, timeout);
      req.on("error", (err) => finish(failure(TRANSPORT_ERRORS.unreachable, describeFailure(base.host, err))));
      req.end(body);
    });
  };

  return buildClient(node, send, () => {
    closed = true;
    agent.destroy();
  });
}

const SERVER_CERT_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** A transport failure in words an operator can act on. */
function describeFailure(host: string, err: NodeJS.ErrnoException): string {
  const code = err.code ?? "";
  if (SERVER_CERT_ERRORS.has(code) || err.message.includes("not the cluster certificate")) {
    return `Node agent at ${host} does not present the cluster certificate (${code || err.message})`;
  }
  if (code.startsWith("ERR_SSL_")) return `TLS handshake with ${host} failed: the agent refused our certificate? (${code})`;
  if (code === "ECONNRESET") return `Connection to ${host} was reset (a wrong client certificate is refused this way): ${err.message}`;
  return `Cannot reach ${host}: ${err.message}`;
}

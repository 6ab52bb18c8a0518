// The console channel over the wire: the master asks a node agent for a raw byte stream to an
// instance's VNC display (RFB bytes) or serial console with an HTTP Upgrade on the agent's
// HTTPS port, `GET /console/<instance>/<vnc|serial>` with `Upgrade: corral-console`, under the
// same mutual TLS as the node calls. The agent answers 101 and relays bytes both ways until
// either end closes, or answers a plain HTTP error whose JSON body is the agent's error
// ({class, message[, ecode]}) and closes.

import { STATUS_CODES, type IncomingMessage } from "node:http";
import { Agent, request, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { consoleKindProblem, isConsoleKind, type ConsoleKind } from "../model/console.ts";
import { ECODE } from "../model/errors.ts";
import { certFingerprint } from "./certs.ts";
import { clientContext, describeFailure, isClusterPeer, pinServerCert, seconds, type TlsIdentity } from "./cluster-tls.ts";
import { AGENT_ERRORS, parseWireResponse, RpcCallError, toWireError, TRANSPORT_ERRORS, type WireError } from "./errors.ts";

export type { ConsoleKind };

/** The Upgrade token of the console channel. */
export const CONSOLE_UPGRADE = "corral-console";

/** How long connecting, the TLS handshake and the agent's answer may take together, ms. */
export const CONSOLE_OPEN_TIMEOUT_MS = 10_000;

/** Largest error body read from a refusing agent. */
const MAX_ERROR_BYTES = 64 * 1024;

/** The agent's side: what opens an instance's console on this node. */
export interface ConsoleOpener {
  /** A byte stream to `instance`'s console of `kind`; an AgentError says why there is none. */
  openConsole(instance: string, kind: ConsoleKind): Promise<Duplex>;
}

type Target = { instance: string; kind: ConsoleKind; opener: ConsoleOpener } | { status: number; error: WireError };

/**
 * Takes `server`'s upgrade requests: console channels through `opener` (none without it),
 * everything else refused. `close()` ends the open channels, which the server no longer tracks.
 */
export function serveConsoles(server: Server, opener: ConsoleOpener | undefined, fingerprint: string): { close(): void } {
  const open = new Set<Duplex>();
  let closed = false;

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const target = consoleTarget(req, opener, fingerprint);
    if ("status" in target) return refuse(socket, target.status, target.error);
    let stream: Duplex;
    try {
      stream = await target.opener.openConsole(target.instance, target.kind);
    } catch (err) {
      const error = toWireError(err);
      return refuse(socket, statusOf(error), error);
    }
    if (closed || socket.destroyed) {
      stream.destroy();
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CONSOLE_UPGRADE}\r\n\r\n`);
    if (head.length > 0) stream.write(head);
    relay(socket, stream);
  }

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (closed) return void socket.destroy();
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
    upgrade(req, socket, head).catch(() => socket.destroy());
  });
  return {
    close() {
      closed = true;
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

/** What an upgrade request asks for, or why it is refused. */
function consoleTarget(req: IncomingMessage, opener: ConsoleOpener | undefined, fingerprint: string): Target {
  const refusal = (status: number, errClass: string, message: string): Target => ({ status, error: { class: errClass, message } });
  // An https server's socket; checked first, so that a stranger learns nothing.
  if (!isClusterPeer(req.socket as TLSSocket, fingerprint)) return refusal(403, AGENT_ERRORS.forbidden, "Client certificate is not the cluster certificate");
  const upgradeTo = (req.headers.upgrade ?? "").toLowerCase();
  if (upgradeTo !== CONSOLE_UPGRADE) return refusal(400, AGENT_ERRORS.argument, `Cannot upgrade to ${JSON.stringify(upgradeTo)}: the node agent upgrades only to ${CONSOLE_UPGRADE}`);
  const match = /^\/console\/([^/]+)\/([^/]+)$/.exec((req.url ?? "").split("?")[0]);
  if (!match) return refusal(404, AGENT_ERRORS.unknownCall, `No such resource: ${req.url}`);
  if (req.method !== "GET") return refusal(405, AGENT_ERRORS.argument, "The console channel is opened with GET");
  if (!opener) return refusal(404, AGENT_ERRORS.unknownCall, "This node agent serves no console channel");
  let instance: string;
  try {
    instance = decodeURIComponent(match[1]);
  } catch {
    return refusal(400, AGENT_ERRORS.argument, `Invalid instance name in ${req.url}`);
  }
  const kind = match[2];
  if (!isConsoleKind(kind)) return refusal(400, AGENT_ERRORS.argument, consoleKindProblem(kind));
  return { instance, kind, opener };
}

function statusOf(error: WireError): number {
  if (error.class === AGENT_ERRORS.argument || error.ecode === ECODE.inval) return 400;
  if (error.ecode === ECODE.state) return 409;
  return 500;
}

function refuse(socket: Duplex, status: number, error: WireError): void {
  const json = JSON.stringify(error);
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
}

/** Bytes both ways; when either end closes or fails, both go. */
function relay(client: Duplex, console: Duplex): void {
  const end = () => {
    client.destroy();
    console.destroy();
  };
  for (const stream of [client, console]) {
    stream.once("close", end);
    stream.on("error", end);
  }
  client.pipe(console);
  console.pipe(client);
}

export interface RemoteConsoleOptions {
  /** The agent, "https://host:port". */
  endpoint: string;
  tls: TlsIdentity;
  instance: string;
  kind: ConsoleKind;
  /** Node name for error messages (default: the endpoint's host). */
  node?: string;
  /** Deadline of connecting, the TLS handshake and the upgrade (default CONSOLE_OPEN_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** The master's side: the upgraded connection to the agent, a raw byte stream to the console; an RpcCallError when there is none. */
export async function openRemoteConsole(opts: RemoteConsoleOptions): Promise<Duplex> {
  const base = new URL(opts.endpoint);
  if (base.protocol !== "https:") throw new Error(`Node endpoint must be https://, got ${opts.endpoint}`);
  const node = opts.node ?? base.hostname;
  const fingerprint = opts.tls.fingerprint256 ?? certFingerprint(opts.tls.cert);
  const timeoutMs = opts.timeoutMs ?? CONSOLE_OPEN_TIMEOUT_MS;
  const what = `the ${opts.kind} console of ${opts.instance}`;
  // Its own connection: once upgraded it belongs to the console, never to a pool.
  const agent = new Agent({ keepAlive: false, maxSockets: 1, secureContext: clientContext(opts.tls), minVersion: "TLSv1.2", checkServerIdentity: pinServerCert(fingerprint) });
  return new Promise((resolve, reject) => {
    let settled = false;
    let handshakeDone = false;
    const fail = (error: WireError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new RpcCallError(node, "openConsole", error));
    };
    const url = new URL(`/console/${encodeURIComponent(opts.instance)}/${encodeURIComponent(opts.kind)}`, base);
    const req = request(url, { method: "GET", agent, headers: { Connection: "Upgrade", Upgrade: CONSOLE_UPGRADE } });
    const timer = setTimeout(() => fail({ class: TRANSPORT_ERRORS.timeout, message: `${node} did not open ${what} within ${seconds(timeoutMs)}` }), timeoutMs);
    req.on("socket", (socket) => socket.once("secureConnect", () => (handshakeDone = true)));
    req.on("upgrade", (_res, socket: Duplex, head: Buffer) => {
      if (settled) return void socket.destroy();
      settled = true;
      clearTimeout(timer);
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ERROR_BYTES) chunks.push(chunk);
      });
      res.on("end", () => fail(refusalOf(node, res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"))));
      res.on("error", (err) => fail({ class: TRANSPORT_ERRORS.unreachable, message: describeFailure(node, base.host, what, err, true) }));
    });
    req.on("error", (err) => fail({ class: TRANSPORT_ERRORS.unreachable, message: describeFailure(node, base.host, what, err, handshakeDone) }));
    req.end();
  });
}

/** The agent's error from a refusal's body; a body that is none becomes a protocol error naming the status. */
function refusalOf(node: string, status: number, body: string): WireError {
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(body);
  } catch {
    // not JSON: told below
  }
  const response = parseWireResponse({ ok: false, error: parsed });
  if (!response.ok && response.error.class !== TRANSPORT_ERRORS.protocol) return response.error;
  return { class: TRANSPORT_ERRORS.protocol, message: `${node}: the agent refused the console channel with HTTP ${status} and no error it could read (is it older than the console channel?)` };
}

// The consoles of the web console: a WebSocket at /ui/console/<instance>/<vnc|serial> whose
// binary messages are the raw bytes of the instance's VNC server (noVNC speaks RFB over it) or
// serial console (xterm.js). The master opens the byte stream through the node agent of the
// instance's primary node; no browser ever reaches a VNC port or a node. Only users with
// write access open consoles (a console can do anything the guest's keyboard can), only from
// the master's own pages (Origin checked), and every session is in the audit trail.

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { AuditEvent } from "../http/audit.ts";
import type { RapiUser } from "../http/users.ts";
import { reasonPhrase } from "../http/errors.ts";
import type { ConsoleKind } from "../../model/console.ts";
import type { SessionStore } from "./sessions.ts";
import { UI_PREFIX } from "./mount.ts";

const CONSOLE_PATH = new RegExp(`^${UI_PREFIX}/console/([A-Za-z0-9_.-]+)/(vnc|serial)$`);
/** A console's bytes waiting for a slow browser beyond this pause the guest side. */
const MAX_BUFFERED = 4 * 1024 * 1024;
/** WebSocket close codes of our own (4000–4999 are the application's). */
const CLOSE_UNAVAILABLE = 4404;

export interface ConsoleProxyOptions {
  sessions: SessionStore;
  /** The byte stream of an instance's console, opened through its primary node's agent. */
  open(instance: string, kind: ConsoleKind): Promise<Duplex>;
  /** The audit trail: a log line, and the record it keeps. */
  audit(line: string, event: AuditEvent): void;
}

export class ConsoleProxy {
  private readonly o: ConsoleProxyOptions;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false });

  constructor(o: ConsoleProxyOptions) {
    this.o = o;
  }

  /** The listener's 'upgrade' event: whether this was a console request (answered either way). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? "").split("?")[0];
    const m = CONSOLE_PATH.exec(path);
    if (!m) return false;
    // The session may be looked up in the store: a reset meanwhile must not be an unhandled error.
    const dropped = () => socket.destroy();
    socket.on("error", dropped);
    void this.upgrade(req, socket, head, m[1], m[2] as ConsoleKind)
      .catch(() => socket.destroy())
      .finally(() => socket.off("error", dropped));
    return true;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, instance: string, kind: ConsoleKind): Promise<void> {
    const current = await this.o.sessions.fromCookie(req.headers.cookie);
    if (socket.destroyed) return;
    const refusal = this.refusal(req, current?.user);
    if (refusal) {
      const [code, message] = refusal;
      const who = current?.user.name ?? null;
      this.o.audit(`web console: ${who ?? "(no session)"} from ${req.socket.remoteAddress ?? "?"} was refused the ${kind} console of ${instance}: ${message}`, consoleEvent(who, req.socket.remoteAddress ?? "?", instance, `console ${kind} refused`, code));
      const body = JSON.stringify({ code, message });
      socket.end(`HTTP/1.1 ${code} ${reasonPhrase(code)}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    const user = current?.user.name ?? "?";
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.bridge(ws, instance, kind, user, req.socket.remoteAddress ?? "?"));
  }

  /** Ends every console (the master stops). */
  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private refusal(req: IncomingMessage, user: RapiUser | undefined): [number, string] | undefined {
    if (!user) return [401, "Log in to the web console first"];
    if (!user.options.includes("write")) return [403, "Consoles need a user with write access"];
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
    if (req.headers.origin !== `${proto}://${req.headers.host ?? ""}`) return [403, "Consoles open only from the master's own pages"];
    return undefined;
  }

  private async bridge(ws: WebSocket, instance: string, kind: ConsoleKind, user: string, from: string): Promise<void> {
    const started = Date.now();
    let stream: Duplex;
    try {
      stream = await this.o.open(instance, kind);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.o.audit(`web console: ${user} from ${from} could not open the ${kind} console of ${instance}: ${message}`, consoleEvent(user, from, instance, `console ${kind} failed`, 502));
      // A close reason is at most 123 bytes.
      ws.close(CLOSE_UNAVAILABLE, Buffer.from(message).subarray(0, 123).toString());
      return;
    }
    this.o.audit(`web console: ${user} from ${from} opened the ${kind} console of ${instance}`, consoleEvent(user, from, instance, `console ${kind} opened`, 101));
    let bytesIn = 0;
    let bytesOut = 0;
    stream.on("data", (chunk: Buffer) => {
      bytesOut += chunk.length;
      ws.send(chunk);
      // Backpressure: a browser that does not keep up pauses the guest's side.
      if (ws.bufferedAmount > MAX_BUFFERED) {
        stream.pause();
        const resume = setInterval(() => {
          if (ws.readyState !== ws.OPEN || ws.bufferedAmount < MAX_BUFFERED / 2) {
            clearInterval(resume);
            stream.resume();
          }
        }, 50);
      }
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      bytesIn += data.length;
      // xterm.js sends keystrokes as text frames; both go to the console as bytes.
      stream.write(isBinary ? data : Buffer.from(data.toString("utf8")));
    });
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      stream.destroy();
      if (ws.readyState === ws.OPEN) ws.close(1000, why.slice(0, 100));
      this.o.audit(
        `web console: ${user} closed the ${kind} console of ${instance} after ${((Date.now() - started) / 1000).toFixed(1)} s (${bytesIn} bytes in, ${bytesOut} out): ${why}`,
        consoleEvent(user, from, instance, `console ${kind} closed`, 101),
      );
    };
    stream.on("error", (err) => end(`console error: ${err.message}`));
    stream.on("close", () => end("the console closed"));
    ws.on("close", () => end("the browser left"));
    ws.on("error", (err) => end(`websocket error: ${err.message}`));
  }
}

/** A console session's audit record (the WebSocket route, the instance it reaches). */
function consoleEvent(user: string | null, source: string, instance: string, action: string, status: number): AuditEvent {
  return { user, source, method: "GET", route: "/ui/console/[instance_name]/[kind]", kind: "instance", object: instance, action, status };
}

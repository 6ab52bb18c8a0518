// The web console under /ui/ on the RAPI listener: the built page (ui/dist, produced by
// `node ui/build.ts` at install) and its session resource /ui/api/session (log in, who am I,
// log out). Everything else the page shows it reads from RAPI and /corral/1 with its session
// cookie, through the same route table, access rules and opcodes as any client.

import type { IncomingMessage, ServerResponse } from "node:http";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import type { AuditEvent } from "../http/audit.ts";
import { hasBody, parseJsonBody, readBody } from "../http/body.ts";
import type { MountedApi, Transport } from "../http/core.ts";
import { errorBody, HttpError } from "../http/errors.ts";
import { encodeJson } from "../http/json.ts";
import type { UsersFile } from "../http/users.ts";
import { LoginThrottle, type LoginFailures } from "../../store/login-failures.ts";
import { CSRF_HEADER, csrfMatches, sessionCookie, type SessionStore } from "./sessions.ts";

export const UI_PREFIX = "/ui";

/**
 * Scripts only from the master itself, never inline; styles may be inline (xterm.js writes
 * its own <style> element); the page talks only to its origin (fetch, EventSource, WebSocket).
 */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cache-Control": "no-store",
};

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".map": "application/json",
};

const LOGIN_BODY = { maxBytes: 4096 };

export interface UiOptions {
  /** The built console (ui/dist); when it is missing /ui/ says how to build it. */
  distDir: string;
  users: UsersFile;
  sessions: SessionStore;
  /** Failed logins per address (default: 10 in 5 minutes, then wait). */
  throttle?: LoginFailures;
  /** The audit trail (a log line and its record): logins, failed logins, logouts. */
  audit: (line: string, event: AuditEvent) => void;
}

interface Asset {
  type: string;
  bytes: Buffer;
}

/** Reads the built files once: they change only with a new install, which restarts the master. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return assets;
  }
  for (const name of names) {
    const file = join(dir, name);
    const type = CONTENT_TYPES[extname(name)];
    if (type && statSync(file).isFile()) assets.set(`/${name}`, { type, bytes: readFileSync(file) });
  }
  return assets;
}

export function uiMount(o: UiOptions): MountedApi {
  const assets = loadAssets(o.distDir);
  const throttle = o.throttle ?? new LoginThrottle();
  return {
    owns: (path) => path === UI_PREFIX || path.startsWith(`${UI_PREFIX}/`),
    serve: async (req, res, t) => {
      try {
        await serveUi(o, assets, throttle, req, res, t);
      } catch (err) {
        const httpErr = err instanceof HttpError ? err : new HttpError(500);
        if (!(err instanceof HttpError)) t.log(`error in ${req.method} ${req.url?.split("?")[0]}: ${err instanceof Error ? err.message : String(err)}`);
        sendJson(res, httpErr.code, errorBody(httpErr), t, httpErr.headers);
      }
    },
    refuse: (_req, res, err, t) => sendJson(res, err.code, errorBody(err), t, err.headers),
  };
}

async function serveUi(o: UiOptions, assets: Map<string, Asset>, throttle: LoginFailures, req: IncomingMessage, res: ServerResponse, t: Transport): Promise<void> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = (q < 0 ? url : url.slice(0, q)).slice(UI_PREFIX.length);
  if (path === "/api/session") return await sessionResource(o, throttle, req, res, t);
  if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(501, `Method ${req.method} is unsupported for path ${UI_PREFIX}${path}`);
  if (path === "") {
    res.writeHead(302, { Location: `${UI_PREFIX}/`, "Content-Length": 0, Server: t.serverHeader, ...UI_SECURITY_HEADERS });
    res.end();
    return;
  }
  const asset = assets.get(path === "/" ? "/index.html" : path);
  if (!asset) {
    if (assets.size === 0) throw new HttpError(503, "The web console is not built: run `node ui/build.ts` (scripts/install.sh does) and restart the master");
    throw new HttpError(404);
  }
  res.writeHead(200, { "Content-Type": asset.type, "Content-Length": asset.bytes.length, Server: t.serverHeader, ...UI_SECURITY_HEADERS });
  res.end(req.method === "HEAD" ? undefined : asset.bytes);
}

/** POST logs in (JSON {username, password}), GET says who the session is, DELETE logs out. */
async function sessionResource(o: UiOptions, throttle: LoginFailures, req: IncomingMessage, res: ServerResponse, t: Transport): Promise<void> {
  const from = req.socket.remoteAddress ?? "?";
  if (req.method === "POST") {
    if (!hasBody(req) || (req.headers["content-type"] ?? "").toLowerCase() !== "application/json") {
      throw new HttpError(415, "Log in with a JSON body {\"username\", \"password\"}");
    }
    const body = parseJsonBody((await readBody(req, LOGIN_BODY, t.bodies)).toString("utf8"));
    const { username, password } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof username !== "string" || typeof password !== "string") throw new HttpError(400, "username and password must be strings");
    const wait = await throttle.waitSeconds(from);
    if (wait > 0) {
      o.audit(`web console: login as ${JSON.stringify(username.slice(0, 64))} from ${from} refused: too many failed logins`, sessionEvent(username.slice(0, 64), from, "POST", "login throttled", 429));
      throw new HttpError(429, `Too many failed logins from ${from}; try again in ${wait} s`, { "Retry-After": String(wait) });
    }
    const user = o.users.authenticate(username, password);
    if (!user) {
      await throttle.failed(from);
      o.audit(`web console: failed login as ${JSON.stringify(username.slice(0, 64))} from ${from}`, sessionEvent(username.slice(0, 64), from, "POST", "login failed", 401));
      throw new HttpError(401, "Wrong user name or password");
    }
    const session = await o.sessions.create(user).catch((err: unknown) => storeFailure("log in", err));
    o.audit(`web console: ${user.name} logged in from ${from}`, sessionEvent(user.name, from, "POST", "login", 200));
    sendJson(res, 200, sessionView(user.name, user.options, session.csrf), t, { "Set-Cookie": sessionCookie(session.id) });
    return;
  }
  const current = await o.sessions.fromCookie(req.headers.cookie);
  if (req.method === "GET" || req.method === "HEAD") {
    if (!current) throw new HttpError(401, "Not logged in");
    sendJson(res, 200, sessionView(current.user.name, current.user.options, current.session.csrf), t);
    return;
  }
  if (req.method === "DELETE") {
    if (current) {
      if (!csrfMatches(current.session, req.headers[CSRF_HEADER])) throw new HttpError(403, "Missing or wrong CSRF token for this session");
      await o.sessions.end(current.session.id).catch((err: unknown) => storeFailure("log out", err));
      o.audit(`web console: ${current.user.name} logged out from ${from}`, sessionEvent(current.user.name, from, "DELETE", "logout", 200));
    }
    sendJson(res, 200, null, t, { "Set-Cookie": sessionCookie("") });
    return;
  }
  throw new HttpError(501, `Method ${req.method} is unsupported for path ${UI_PREFIX}/api/session`);
}

/** The sessions' store (etcd) did not answer: a 503 the page can show, not a 500. */
function storeFailure(what: string, err: unknown): never {
  throw new HttpError(503, `Cannot ${what} now: the session store did not answer (${err instanceof Error ? err.message : String(err)}); try again shortly`, { "Retry-After": "5" });
}

/** A login's or logout's audit record. */
function sessionEvent(user: string, source: string, method: string, action: string, status: number): AuditEvent {
  return { user, source, method, route: `${UI_PREFIX}/api/session`, kind: null, object: null, action, status };
}

function sessionView(user: string, options: readonly string[], csrf: string) {
  return { user, write: options.includes("write"), read: options.includes("read") || options.includes("write"), csrf };
}

function sendJson(res: ServerResponse, code: number, body: unknown, t: Transport, extra: Record<string, string> = {}): void {
  const text = encodeJson(body);
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    Server: t.serverHeader,
    ...UI_SECURITY_HEADERS,
    ...extra,
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}

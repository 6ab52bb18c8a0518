// The PVC HTTP API v1 over Corral's cluster: the route table (every endpoint of PVC v0.5's
// manual, plus v0.6's path aliases) and the listener the master starts from pvc-api.yaml.

import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { LOGIN_FORM, PvcAuth } from "./auth.ts";
import type { PvcApiConfig } from "./config.ts";
import type { PvcServices } from "./jobs.ts";
import { networkRoutes } from "./networks.ts";
import { nodeRoutes } from "./nodes.ts";
import { createHttpCore, listen, type MountedApi } from "../http/core.ts";
import type { LeaderInfo } from "../http/forward.ts";
import { message, pvcApi, pvcRoute, type PvcHandler, type PvcMethodEntry, type PvcRoute } from "./server.ts";
import { storageRoutes } from "./storage.ts";
import { pvcValue } from "./values.ts";
import { vmRoutes } from "./vms.ts";

export { loadPvcConfig, parsePvcConfig, PvcConfigError, type PvcApiConfig } from "./config.ts";
export type { PvcServices } from "./jobs.ts";

/** `/api/v1` answers 209, as PVC's manual says (a quick "is it there" check). */
export const ROOT_STATUS = 209;

const LOGIN_TOKEN = pvcValue.string("token", "A token of pvc-api.yaml; a right one sets the session cookie", { required: true });

function authRoutes(auth: PvcAuth): PvcRoute[] {
  const disabled = () => message("Authentication is disabled", 200);
  const login = {
    GET: () => (auth.enabled ? { status: 200, html: LOGIN_FORM } : disabled()),
    POST: {
      values: [LOGIN_TOKEN],
      handle: ({ values }) => {
        if (!auth.enabled) return disabled();
        const token = values.get("token");
        if (!auth.checkToken(token)) return message("Authentication failed", 401);
        return { status: 302, json: { message: "Authenticated" }, headers: { Location: "/api/v1", "Set-Cookie": auth.sessionCookie(token!) } };
      },
    },
  } satisfies Record<"GET" | "POST", PvcMethodEntry>;
  const logout: PvcHandler = () =>
    auth.enabled ? { status: 302, json: { message: "Logged out" }, headers: { Location: "/api/v1", "Set-Cookie": auth.clearCookie() } } : disabled();
  return [
    pvcRoute("/api/v1/auth/login", login, { auth: false }),
    pvcRoute("/api/v1/auth/logout", { GET: logout, POST: logout }, { auth: false }),
    // v0.6 moved them to the top level.
    pvcRoute("/api/v1/login", login, { auth: false }),
    pvcRoute("/api/v1/logout", { GET: logout, POST: logout }, { auth: false }),
  ];
}

export function pvcRoutes(s: PvcServices, auth: PvcAuth): PvcRoute[] {
  return [
    pvcRoute("/api/v1", { GET: () => message("PVC API version 1", ROOT_STATUS) }, { auth: false }),
    ...authRoutes(auth),
    ...nodeRoutes(s),
    ...vmRoutes(s),
    ...networkRoutes(s),
    ...storageRoutes(s),
  ];
}

export interface RunningPvcApi {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The PVC API as a mount of the HTTP core, with pvc-api.yaml's authentication: on the RAPI
 * listener, or on its own (`ownListener`, with its certificate when it has TLS).
 */
export function pvcMount(s: PvcServices, cfg: PvcApiConfig, ownListener?: { cert?: string }): MountedApi {
  const auth = new PvcAuth(cfg, s.log);
  const leaderAt = ownListener ? (leader: LeaderInfo) => leaderPvcListener(leader, cfg, ownListener.cert) : undefined;
  return pvcApi({ routes: pvcRoutes(s, auth), auth, audit: s.audit, forward: s.forward, leaderAt });
}

/**
 * The leader's own PVC listener: pvc-api.yaml is the same on every master, so its port and
 * certificate are this master's, on the host of the leader's RAPI URL.
 */
function leaderPvcListener(leader: LeaderInfo, cfg: PvcApiConfig, cert: string | undefined): LeaderInfo {
  let host: string;
  try {
    host = new URL(leader.url).hostname;
  } catch {
    return leader; // the forward reports the address that is not a URL
  }
  return { name: leader.name, url: `${cfg.ssl.enabled ? "https" : "http"}://${host}:${cfg.listenPort}`, certPem: cert };
}

/** Starts the PVC listener; a port in use or unreadable certificates fail the start. */
export async function startPvcApi(s: PvcServices, cfg: PvcApiConfig, serverHeader: string, maxClients: number): Promise<RunningPvcApi> {
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (cfg.ssl.enabled) tls = { cert: await readFile(cfg.ssl.certFile!), key: await readFile(cfg.ssl.keyFile!) };
  const server = createHttpCore({ mounts: [pvcMount(s, cfg, { cert: tls?.cert.toString("utf8") })], tls, maxClients, serverHeader, log: s.log });
  const port = await listen(server, cfg.listenPort, cfg.listenAddress);
  s.log(`PVC API listening on ${tls ? "https" : "http"}://${cfg.listenAddress}:${port}/api/v1${cfg.auth.enabled ? " (authentication on)" : ""}`);
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The route table alone (patterns, methods, which need authentication), for the OpenAPI document. */
export function pvcRouteTable(s: PvcServices): PvcRoute[] {
  const noAuth: PvcApiConfig = {
    debug: false,
    coordinators: [],
    listenAddress: "",
    listenPort: 0,
    auth: { enabled: false, secretKey: null, tokens: [] },
    ssl: { enabled: false, certFile: null, keyFile: null },
  };
  return pvcRoutes(s, new PvcAuth(noAuth, s.log));
}

// The cluster certificate's TLS, as both node transports use it (the calls in https.ts, the
// console channel in console.ts): the client trusts only the cluster cert and pins the server's
// to it (hostnames do not matter: nodes are reached by IP); the server accepts only a client
// presenting exactly that cert; a failed connection is told in words an operator can act on.

import { createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from "node:tls";
import type { ClusterCert } from "./certs.ts";

/** The PEM pair both ends hold; the fingerprint is derived when absent. */
export type TlsIdentity = Pick<ClusterCert, "cert" | "key"> & { fingerprint256?: string };

const contexts = new WeakMap<TlsIdentity, SecureContext>();

/** The client TLS context of a cluster certificate (key, certificate, and it as the only CA). */
export function clientContext(tls: TlsIdentity): SecureContext {
  let ctx = contexts.get(tls);
  if (!ctx) {
    ctx = createSecureContext({ cert: tls.cert, key: tls.key, ca: [tls.cert], minVersion: "TLSv1.2" });
    contexts.set(tls, ctx);
  }
  return ctx;
}

/** checkServerIdentity for a client: pinning replaces hostname checks, the chain already ends at the cluster cert. */
export function pinServerCert(fingerprint: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => (cert.fingerprint256 === fingerprint ? undefined : new Error("Server certificate is not the cluster certificate"));
}

/** Whether the client on `socket` presented the cluster certificate itself (not only one it signed). */
export function isClusterPeer(socket: TLSSocket, fingerprint: string): boolean {
  const peer: PeerCertificate | undefined = socket.getPeerCertificate?.();
  return socket.authorized && peer !== undefined && peer.fingerprint256 === fingerprint;
}

/** "30 s", "1.5 s", "250 ms". */
export function seconds(ms: number): string {
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
 * A transport failure in words an operator can act on, naming the node and what was asked
 * (`call`). Only a failure of the TLS handshake itself is called a certificate or TLS problem:
 * once the handshake is done both ends hold the cluster certificate (the server's was pinned),
 * so a reset after it is the agent going away, not a refusal of ours.
 */
export function describeFailure(node: string, host: string, call: string, err: NodeJS.ErrnoException, handshakeDone: boolean): string {
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

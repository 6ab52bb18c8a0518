// The TLS and HTTP connection policy of every listener Corral runs (RAPI, PVC, node agent).

import type { SecureVersion } from "node:tls";

/**
 * TLS 1.2 and 1.3 with forward-secret AEAD suites only (ECDHE with AES-GCM or
 * ChaCha20-Poly1305). TLS 1.3's own suites are all of that kind; for 1.2 this list drops
 * the CBC-SHA1 and RSA-key-exchange suites OpenSSL offers by default.
 */
export const TLS_SERVER_POLICY = {
  minVersion: "TLSv1.2" as SecureVersion,
  ciphers: [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
  honorCipherOrder: true,
};

/**
 * Server options for deadlines: Node checks headersTimeout and requestTimeout only every
 * connectionsCheckingInterval (30 s by default), which let a client that sends headers one
 * byte at a time hold its socket for up to 40 s; checked each second, the 10 s header
 * deadline holds.
 */
export const HTTP_TIMEOUTS = { connectionsCheckingInterval: 1_000 };

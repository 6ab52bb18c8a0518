// The cluster certificate: one self-signed certificate and key, generated at cluster init and
// copied to every node. Agents serve with it and accept only clients presenting it; the master
// pins it as the only CA it trusts (mutual TLS, as Ganeti's noded does with server.pem).

import { X509Certificate } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { generate } from "selfsigned";

export interface ClusterCert {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
  /** SHA-256 fingerprint, "AB:CD:..." as node:crypto prints it. */
  fingerprint256: string;
}

export interface ClusterCertOptions {
  commonName?: string;
  /** Validity in days (default ten years: the cluster lives longer than a year). */
  days?: number;
  /** Extra DNS names or IP addresses to list as subjectAltName. */
  altNames?: string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export async function generateClusterCert(opts: ClusterCertOptions = {}): Promise<ClusterCert> {
  const commonName = opts.commonName ?? "corral-cluster";
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + (opts.days ?? 3650) * 86_400_000);
  const names = [...new Set([commonName, "localhost", "127.0.0.1", "::1", ...(opts.altNames ?? [])])];
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      // A CA so that it can be its own trust anchor on both ends.
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", digitalSignature: true, keyCertSign: true, critical: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      {
        name: "subjectAltName",
        altNames: names.map((n) => (IPV4.test(n) || n.includes(":") ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })),
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint256: certFingerprint(pems.cert) };
}

export function certFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Writes cert (0644) and key (0600) atomically. */
export async function saveClusterCert(cert: ClusterCert, certFile: string, keyFile: string): Promise<void> {
  for (const [file, data, mode] of [[certFile, cert.cert, 0o644], [keyFile, cert.key, 0o600]] as const) {
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, data, { mode });
    await rename(tmp, file);
  }
}

export async function loadClusterCert(certFile: string, keyFile: string): Promise<ClusterCert> {
  const [cert, key] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
  return { cert, key, fingerprint256: certFingerprint(cert) };
}

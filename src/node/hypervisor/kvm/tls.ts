// Encrypted migration traffic (the memory stream and the NBD disk mirror) with QEMU's
// tls-creds-x509. Both ends hold the cluster certificate, which is a CA (src/rpc/certs.ts);
// QEMU refuses a CA certificate as a server's or a client's, so each end signs a certificate of
// its own with the cluster key, and trusts only the cluster CA. The target also verifies the
// source's certificate (verify-peer): only a node of this cluster can feed it. An agent keeps one
// server and one client certificate (valid two days, renewed after one, or when the cluster
// certificate changed) for all its migrations: signing one takes a few hundred ms here.

import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "selfsigned";
import type { QmpClient } from "../qmp.ts";

/** The QOM id of the credentials object in each QEMU. */
export const TLS_CREDS_ID = "corral-migration-tls";
/** The name the certificates carry and the source checks (tls-hostname): any node may be the target. */
export const TLS_HOSTNAME = "corral-migration";

export interface ClusterCertPems {
  cert: string;
  key: string;
}

const DAY_MS = 86_400_000;

/**
 * The credentials directory of one end under `root` (QEMU reads it), made or renewed when it
 * is missing, older than a day, or of another cluster certificate. Replaced whole (rename), so a
 * QEMU loading it meanwhile reads the old or the new one.
 */
export async function migrationCreds(root: string, cluster: ClusterCertPems, endpoint: "server" | "client"): Promise<string> {
  const dir = join(root, endpoint);
  if (fresh(dir, cluster, endpoint)) return dir;
  const next = `${dir}.new`;
  await writeMigrationCreds(next, cluster, endpoint);
  await rm(dir, { recursive: true, force: true });
  await rename(next, dir);
  return dir;
}

function fresh(dir: string, cluster: ClusterCertPems, endpoint: string): boolean {
  const ca = join(dir, "ca-cert.pem");
  const cert = join(dir, `${endpoint}-cert.pem`);
  if (!existsSync(ca) || !existsSync(cert) || !existsSync(join(dir, `${endpoint}-key.pem`))) return false;
  try {
    if (readFileSync(ca, "utf8") !== cluster.cert) return false;
    return new Date(new X509Certificate(readFileSync(cert)).validTo).getTime() - Date.now() > DAY_MS;
  } catch {
    return false;
  }
}

/** Writes the credentials directory of one end: the cluster CA and a fresh certificate signed by it. */
export async function writeMigrationCreds(dir: string, cluster: ClusterCertPems, endpoint: "server" | "client"): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await generate([{ name: "commonName", value: TLS_HOSTNAME }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 2 * DAY_MS),
    extensions: [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: endpoint === "server", clientAuth: endpoint === "client" },
      { name: "subjectAltName", altNames: [{ type: 2, value: TLS_HOSTNAME }] },
    ],
    ca: cluster,
  });
  await writeFile(join(dir, "ca-cert.pem"), cluster.cert, { mode: 0o600 });
  await writeFile(join(dir, `${endpoint}-cert.pem`), pems.cert, { mode: 0o600 });
  await writeFile(join(dir, `${endpoint}-key.pem`), pems.private, { mode: 0o600 });
  await chmod(dir, 0o700);
}

/** Loads the credentials into QEMU (a previous migration's object replaced). */
export async function addMigrationCreds(qmp: QmpClient, dir: string, endpoint: "server" | "client"): Promise<void> {
  await dropMigrationCreds(qmp);
  await qmp.execute("object-add", { "qom-type": "tls-creds-x509", id: TLS_CREDS_ID, dir, endpoint, "verify-peer": true });
}

/** Removes the credentials object (absent: nothing to do). */
export async function dropMigrationCreds(qmp: QmpClient): Promise<void> {
  await qmp.execute("object-del", { id: TLS_CREDS_ID }).catch(() => undefined);
}

// The credentials of encrypted migrations: certificates of their own, signed by the cluster
// certificate, kept per agent and renewed when the cluster certificate changes.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { generateClusterCert } from "../../../rpc/certs.ts";
import { migrationCreds, TLS_HOSTNAME } from "./tls.ts";

const root = mkdtempSync(join(tmpdir(), "corral-tls-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("each end gets a non-CA certificate for corral-migration, signed by the cluster certificate, kept until it changes", async () => {
  const cluster = await generateClusterCert({ commonName: "cluster.corral.test" });
  const ca = new X509Certificate(cluster.cert);
  for (const endpoint of ["server", "client"] as const) {
    const dir = await migrationCreds(root, cluster, endpoint);
    assert.equal(dir, join(root, endpoint));
    assert.equal(readFileSync(join(dir, "ca-cert.pem"), "utf8"), cluster.cert);
    const cert = new X509Certificate(readFileSync(join(dir, `${endpoint}-cert.pem`)));
    assert.ok(cert.verify(ca.publicKey), "signed by the cluster key");
    assert.equal(cert.ca, false);
    assert.equal(cert.subjectAltName, `DNS:${TLS_HOSTNAME}`);
    assert.ok(cert.checkIssued(ca));
    assert.equal(statSync(join(dir, `${endpoint}-key.pem`)).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    // Fresh: the same files serve the next migration.
    const again = await migrationCreds(root, cluster, endpoint);
    assert.equal(new X509Certificate(readFileSync(join(again, `${endpoint}-cert.pem`))).fingerprint256, cert.fingerprint256);
  }
  // Another cluster certificate (renewed): new certificates signed by it.
  const renewed = await generateClusterCert({ commonName: "cluster.corral.test" });
  const dir = await migrationCreds(root, renewed, "server");
  assert.ok(new X509Certificate(readFileSync(join(dir, "server-cert.pem"))).verify(new X509Certificate(renewed.cert).publicKey));
});

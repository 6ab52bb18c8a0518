// etcd mode (issue 17): what every master must hold alike comes from etcd, and the data
// directory keeps the copies the in-process agent and the listeners read. The first master
// that finds one missing offers its own (the local file, else a new one); etcd's is used from
// then on. The users file is followed: `corral store users put FILE` reaches every master
// without a restart. Logged: keys, fingerprints and counts, never a key or a password.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseUsersFile, withHa1Passwords } from "../api/http/users.ts";
import { loadPvcConfig, type PvcApiConfig } from "../api/pvc/index.ts";
import { certFingerprint, generateClusterCert, saveClusterCert } from "../rpc/certs.ts";
import { SHARED, type SharedFiles, type SharedName } from "../store/etcd/shared.ts";
import { dataPaths, newUsersFile, writeSecretFile } from "./datadir.ts";
import type { Log } from "./log.ts";
import { clusterCertPaths } from "./nodes.ts";

/** The master's options (MasterOptions' names) that say what it shares. */
export interface SharedCopiesOptions {
  dataDir: string;
  nodeName: string;
  /** The cluster's name (default: the node's), the cluster certificate's common name. */
  clusterName?: string;
  /** RAPI over TLS: with the shared certificate unless the operator gives its own (certFile). */
  ssl: boolean;
  certFile?: string;
  /** The operator's users file: offered when etcd has none. */
  usersFile?: string;
  /** The operator's pvc-api.yaml: offered when etcd has none; etcd's is served. */
  pvcConfigFile?: string;
  log: Log;
  announce: (line: string) => void;
}

export interface SharedCopies {
  /** The users file this master reads: the data directory's copy of etcd's. */
  usersFile: string;
  pvcConfig?: PvcApiConfig;
}

/** Takes (or first offers) each shared value and writes the local copies; follows the users. */
export async function takeSharedFiles(shared: SharedFiles, o: SharedCopiesOptions): Promise<SharedCopies> {
  const paths = dataPaths(o.dataDir);
  const said = (name: SharedName, created: boolean, what: string) =>
    o.log(`${what}: ${created ? "this master put its own in etcd" : "the cluster's from etcd"} (${shared.key(name)})`);
  const localText = (file: string | undefined) => (file !== undefined && existsSync(file) ? readFileSync(file, "utf8") : undefined);

  // The cluster certificate: one value, so that two first masters cannot mix halves.
  const cc = clusterCertPaths(o.dataDir);
  const cluster = await shared.ensure(SHARED.clusterCert, async () => {
    const local = localText(cc.cert) !== undefined && localText(cc.key) !== undefined ? { cert: localText(cc.cert)!, key: localText(cc.key)! } : undefined;
    const pair = local ?? (await generateClusterCert({ commonName: o.clusterName ?? o.nodeName }));
    return JSON.stringify({ cert: pair.cert, key: pair.key });
  });
  // Written by the ensure above (ours or another master's): JSON {cert, key}.
  const pair = JSON.parse(cluster.value) as { cert: string; key: string };
  const before = localText(cc.cert);
  if (before !== undefined && before !== pair.cert) {
    o.log(`cluster certificate: ${cc.cert} (${certFingerprint(before)}) is replaced by the cluster's; node agents that trust only the old one refuse this master`, { level: "warn" });
  }
  if (before !== pair.cert || localText(cc.key) !== pair.key) await saveClusterCert({ ...pair, fingerprint256: "" }, cc.cert, cc.key);
  said(SHARED.clusterCert, cluster.created, `cluster certificate ${certFingerprint(pair.cert)}`);

  if (o.ssl && o.certFile === undefined) {
    const rapi = await shared.ensure(SHARED.rapiCert, async () => {
      const local = localText(paths.rapiPem);
      if (local !== undefined) return local;
      const cert = await generateClusterCert({ commonName: o.nodeName, altNames: [o.nodeName] });
      return cert.key + cert.cert;
    });
    if (localText(paths.rapiPem) !== rapi.value) await writeSecretFile(paths.rapiPem, rapi.value);
    said(SHARED.rapiCert, rapi.created, "RAPI certificate");
  }

  // The users: the operator's file (cleartext passwords as {HA1}), else one new write user.
  let generated: string | undefined;
  const users = await shared.ensure(SHARED.users, async () => {
    const local = localText(o.usersFile ?? paths.usersFile);
    if (local !== undefined) return withHa1Passwords(local);
    const fresh = newUsersFile();
    generated = fresh.password;
    return fresh.text;
  });
  if (users.created && generated !== undefined) {
    o.announce(`Created RAPI user 'admin' (write access), shared through etcd (${shared.key(SHARED.users)})`);
    o.announce(`Its password, shown only this once: ${generated}`);
  }
  const given = localText(o.usersFile);
  if (!users.created && given !== undefined && withHa1Passwords(given) !== users.value) {
    o.log(`users: ${o.usersFile} differs from the cluster's users in etcd and is not used; change them with 'corral store users put FILE'`, { level: "warn" });
  }
  said(SHARED.users, users.created, `users (${parseUsersFile(users.value).size})`);
  await writeUsersCopy(paths.usersFile, users.value);
  await shared.follow(SHARED.users, (text) => {
    writeUsersCopy(paths.usersFile, text).then(
      (changed) => changed && o.log(`users: changed in etcd; ${parseUsersFile(text).size} users now`),
      (err: unknown) => o.log(`users: cannot write ${paths.usersFile}: ${err instanceof Error ? err.message : String(err)}`, { level: "error" }),
    );
  });

  if (o.pvcConfigFile === undefined) return { usersFile: paths.usersFile };
  const file = o.pvcConfigFile;
  const pvc = await shared.ensure(SHARED.pvcConfig, async () => readFileSync(file, "utf8"));
  if (!pvc.created && localText(file) !== pvc.value) o.log(`pvc-api.yaml: ${file} differs from the cluster's in etcd and is not used`, { level: "warn" });
  const copy = join(o.dataDir, "pvc-api.yaml");
  if (localText(copy) !== pvc.value) await writeSecretFile(copy, pvc.value);
  said(SHARED.pvcConfig, pvc.created, "pvc-api.yaml");
  return { usersFile: paths.usersFile, pvcConfig: loadPvcConfig(copy) };
}

/** Writes the local copy when it differs (the UsersFile's watch reloads it); whether it did. */
async function writeUsersCopy(path: string, text: string): Promise<boolean> {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return false;
  await writeSecretFile(path, text);
  return true;
}

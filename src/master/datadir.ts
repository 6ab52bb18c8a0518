// The master's data directory and what a first start puts in it: the SQLite database, the
// RAPI certificate (key and certificate in one file, mode 0600, like Ganeti's rapi.pem)
// and a users file with one write user whose password is shown once.

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { generateClusterCert } from "../rpc/certs.ts";
import { ha1Password } from "../api/http/users.ts";

export function defaultDataDir(): string {
  if (process.env.CORRAL_DATA_DIR) return process.env.CORRAL_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || join(homedir(), ".local", "share");
  return join(base, "corral");
}

export const dataPaths = (dir: string) => ({
  database: join(dir, "config.db"),
  /** With the config in etcd: this master's audit trail (the only thing it keeps in SQLite). */
  auditDatabase: join(dir, "audit.db"),
  rapiPem: join(dir, "rapi.pem"),
  usersFile: join(dir, "rapi", "users"),
  fileStorage: join(dir, "storage", "file"),
  sharedFileStorage: join(dir, "storage", "sharedfile"),
  nodeState: join(dir, "node"),
});

/** Writes a file that holds a secret: created 0600, then moved into place. */
export async function writeSecretFile(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** A self-signed certificate for the RAPI listener, generated when the file is missing. */
export async function ensureRapiCert(pemPath: string, hostName: string): Promise<boolean> {
  if (existsSync(pemPath)) return false;
  const cert = await generateClusterCert({ commonName: hostName, altNames: [hostName] });
  await writeSecretFile(pemPath, cert.key + cert.cert);
  return true;
}

/** Creates the users file with one write user; returns the password to show once. */
export async function ensureUsersFile(path: string, userName = "admin"): Promise<string | undefined> {
  if (existsSync(path)) return undefined;
  const { text, password } = newUsersFile(userName);
  await writeSecretFile(path, text);
  return password;
}

/** A users file's text with one write user of a random password (to be shown once). */
export function newUsersFile(userName = "admin"): { text: string; password: string } {
  const password = randomBytes(18).toString("base64url");
  const text =
    "# Corral RAPI users: <name> <password or {HA1}/{CLEARTEXT} form> [write][,read]\n" +
    "# Changes take effect without a restart.\n" +
    `${userName} ${ha1Password(userName, password)} write\n`;
  return { text, password };
}

export async function readPem(path: string): Promise<string> {
  return await readFile(path, "utf8");
}

// The RAPI users file, read exactly as Ganeti reads it, and HTTP Basic verification with
// constant-time comparisons. The file is reloaded when it changes (inotify via fs.watch).

import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

export const REALM = "Ganeti Remote API";

export interface RapiUser {
  name: string;
  password: string;
  options: string[];
}

/** Ganeti's ParsePasswordFile: whole-line comments, `user password [options]`, last wins. */
export function parseUsersFile(text: string): Map<string, RapiUser> {
  const users = new Map<string, RapiUser>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) continue; // fewer than two fields: ignored
    const options = m[3] === undefined ? [] : m[3].split(",").map((o) => o.trim());
    users.set(m[1], { name: m[1], password: m[2], options });
  }
  return users;
}

/** Equality in time that depends only on the lengths of fixed-size digests. */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/** Ganeti's VerifyBasicAuthPassword: cleartext, {CLEARTEXT}, {HA1}; other schemes never match. */
export function verifyPassword(username: string, given: string, stored: string): boolean {
  if (!stored.startsWith("{")) return constantTimeEqual(given, stored);
  const close = stored.indexOf("}");
  if (close < 2) return false;
  const scheme = stored.slice(1, close).toUpperCase();
  const value = stored.slice(close + 1);
  if (scheme === "CLEARTEXT") return constantTimeEqual(given, value);
  if (scheme === "HA1") {
    const ha1 = createHash("md5").update(`${username}:${REALM}:${given}`).digest("hex");
    return constantTimeEqual(ha1, value.toLowerCase());
  }
  return false;
}

/** The `{HA1}` form of a password, for writing a users file without cleartext. */
export function ha1Password(username: string, password: string): string {
  return "{HA1}" + createHash("md5").update(`${username}:${REALM}:${password}`).digest("hex");
}

/**
 * The users file with every cleartext password (bare or {CLEARTEXT}) replaced by its {HA1}
 * form, which accepts the same password: what the masters share through etcd holds no cleartext.
 */
export function withHa1Passwords(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const m = /^(\s*)(\S+)(\s+)(\S+)(.*)$/.exec(line);
      if (!m || m[2].startsWith("#")) return line;
      const [, indent, user, gap, password, rest] = m;
      const cleartext = /^\{CLEARTEXT\}/i.test(password) ? password.slice("{CLEARTEXT}".length) : password.startsWith("{") ? undefined : password;
      return cleartext === undefined ? line : `${indent}${user}${gap}${ha1Password(user, cleartext)}${rest}`;
    })
    .join("\n");
}

const MAX_VERIFIED = 1024;
const NO_SUCH_USER: RapiUser = { name: "", password: "{HA1}" + "0".repeat(32), options: [] };

export class UsersFile {
  readonly path: string;
  private users = new Map<string, RapiUser>();
  /** Credentials verified since the last reload (hashing per request is the costly part). */
  private verified = new Map<string, RapiUser>();
  private watcher: FSWatcher | undefined;

  constructor(path: string) {
    this.path = path;
    this.reload();
  }

  reload(): void {
    this.verified = new Map();
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      this.users = new Map(); // unreadable: nobody can authenticate
      return;
    }
    this.users = parseUsersFile(text);
  }

  /** Reload whenever the file is written, replaced or removed, without a restart. */
  watch(): void {
    if (this.watcher) return;
    const name = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.reload();
      });
    } catch {
      // The directory does not exist (yet): the table stays as read.
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** The user of this name as the file says now (sessions re-read their rights on each request). */
  lookup(username: string): RapiUser | undefined {
    return this.users.get(username);
  }

  /**
   * Every password this table knows, for the log to scrub: as the file stores them (with and
   * without their {CLEARTEXT}/{HA1} prefix) and as clients sent them when they were right.
   */
  *secretValues(): Iterable<string> {
    for (const user of this.users.values()) {
      yield user.password;
      yield user.password.replace(/^\{(CLEARTEXT|HA1)\}/i, "");
    }
    for (const key of this.verified.keys()) yield key.slice(key.indexOf("\u0000") + 1);
  }

  /** The user if the credentials are valid; always does the same work for unknown users. */
  authenticate(username: string, password: string): RapiUser | undefined {
    const key = `${username}\u0000${password}`;
    const known = this.verified.get(key);
    if (known) return known;
    const user = this.users.get(username);
    const ok = verifyPassword(username, password, (user ?? NO_SUCH_USER).password);
    if (!ok || !user) return undefined;
    if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
    this.verified.set(key, user);
    return user;
  }
}

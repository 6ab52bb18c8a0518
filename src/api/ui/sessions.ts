// Browser sessions of the web console. Logging in with a RAPI user's credentials gives a
// random session id in a cookie (HttpOnly, Secure, SameSite=Strict) and a CSRF token the page
// keeps in memory and sends on every write. A session names its user only: the rights come
// from the users file on each request, so removing a user or its `write` option takes effect
// at once, as it does for Basic authentication.
//
// Where sessions are kept is the store's (store/sessions.ts: memory, or etcd so that every
// master knows them); what is kept is neither the id nor the CSRF token: the record's key is
// the id's SHA-256, and the CSRF token is an HMAC of the id, computed again on each master.

import { createHash, createHmac, randomBytes } from "node:crypto";
import { MemorySessionRecords, type SessionRecord, type SessionRecords } from "../../store/sessions.ts";
import { constantTimeEqual, type RapiUser, type UsersFile } from "../http/users.ts";

export const SESSION_COOKIE = "corral_session";
/** The header a session's write requests carry their CSRF token in. */
export const CSRF_HEADER = "x-corral-csrf";

export interface Session {
  readonly id: string;
  readonly user: string;
  readonly csrf: string;
  readonly created: number;
  readonly lastUsed: number;
}

export interface SessionLimits {
  /** A session unused this long ends (default 2 h). */
  idleMs: number;
  /** A session ends this long after login, used or not (default 12 h). */
  maxAgeMs: number;
  /** Sessions kept at once; the least recently used goes first (default 10,000). */
  maxSessions: number;
}

const DEFAULT_LIMITS: SessionLimits = { idleMs: 2 * 3600_000, maxAgeMs: 12 * 3600_000, maxSessions: 10_000 };

/** A session id: 32 random bytes, base64url (43 characters). */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** The record's key of a session id: its SHA-256 (an id is 256 random bits: no salt needed). */
function recordKey(id: string): string {
  return createHash("sha256").update(id).digest("hex");
}

/** The session's CSRF token: unguessable without the id, and the same on every master. */
function csrfOf(id: string): string {
  return createHmac("sha256", id).update("corral web console csrf").digest("base64url");
}

export class SessionStore {
  private readonly users: UsersFile;
  private readonly records: SessionRecords;
  private readonly limits: SessionLimits;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  /** `now`: the clock, ms (tests move it); `log`: where a store failure that costs no request is told. */
  constructor(users: UsersFile, limits: Partial<SessionLimits> = {}, now: () => number = Date.now, records: SessionRecords = new MemorySessionRecords(), log: (line: string) => void = () => undefined) {
    this.users = users;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.now = now;
    this.records = records;
    this.log = log;
  }

  /** A new session of `user`, once kept (rejects when the store cannot keep it). */
  async create(user: RapiUser): Promise<Session> {
    const now = this.now();
    const id = randomBytes(32).toString("base64url");
    while (this.records.size() >= this.limits.maxSessions) {
      const oldest = this.records.oldest();
      if (oldest === undefined) break;
      await this.records.remove(oldest);
    }
    await this.records.add(recordKey(id), { user: user.name, created: now, lastUsed: now }, this.limits.idleMs);
    return { id, user: user.name, csrf: csrfOf(id), created: now, lastUsed: now };
  }

  /** The live session a Cookie header names, with its user as the users file says now. */
  async fromCookie(header: string | undefined): Promise<{ session: Session; user: RapiUser } | undefined> {
    const id = cookieValue(header, SESSION_COOKIE);
    if (id === undefined || !SESSION_ID.test(id)) return undefined;
    const key = recordKey(id);
    const record = this.records.get(key) ?? (await this.records.fetch(key).catch((err: unknown) => this.failed("reading a session", err)));
    if (!record) return undefined;
    const now = this.now();
    const user = this.users.lookup(record.user);
    if (!user || now - record.lastUsed > this.limits.idleMs || now - record.created > this.limits.maxAgeMs) {
      void this.records.remove(key).catch((err: unknown) => this.failed("removing an ended session", err));
      return undefined;
    }
    let lastUsed = record.lastUsed;
    if (now - record.lastUsed >= this.records.refreshMs) {
      lastUsed = now;
      const used: SessionRecord = { ...record, lastUsed };
      // Not awaited: the request does not wait for the store (at most once per refreshMs).
      void this.records.touch(key, used).catch((err: unknown) => this.failed("recording a session's use", err));
    }
    return { session: { id, user: record.user, csrf: csrfOf(id), created: record.created, lastUsed }, user };
  }

  /** Ends the session (on every master when the store is shared). */
  async end(id: string): Promise<void> {
    await this.records.remove(recordKey(id));
  }

  /** This master stops: forgets the sessions it holds (a shared store keeps them for the others). */
  clear(): void {
    void this.records.close();
  }

  private failed(what: string, err: unknown): undefined {
    this.log(`web console sessions: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

export function csrfMatches(session: Session, given: string | string[] | undefined): boolean {
  return typeof given === "string" && constantTimeEqual(given, session.csrf);
}

/** The Set-Cookie value that starts (or, with an empty id, ends) a session. */
export function sessionCookie(id: string): string {
  const base = `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; Secure; SameSite=Strict`;
  return id === "" ? `${base}; Max-Age=0` : base;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

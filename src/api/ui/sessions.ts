// Browser sessions of the web console. Logging in with a RAPI user's credentials gives a
// random session id in a cookie (HttpOnly, Secure, SameSite=Strict) and a CSRF token the page
// keeps in memory and sends on every write. A session names its user only: the rights come
// from the users file on each request, so removing a user or its `write` option takes effect
// at once, as it does for Basic authentication.

import { randomBytes } from "node:crypto";
import { constantTimeEqual, type RapiUser, type UsersFile } from "../http/users.ts";

export const SESSION_COOKIE = "corral_session";
/** The header a session's write requests carry their CSRF token in. */
export const CSRF_HEADER = "x-corral-csrf";

export interface Session {
  readonly id: string;
  readonly user: string;
  readonly csrf: string;
  readonly created: number;
  lastUsed: number;
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

const token = () => randomBytes(32).toString("base64url");

export class SessionStore {
  private readonly users: UsersFile;
  private readonly limits: SessionLimits;
  /** In order of last use (a Map keeps insertion order; a used session is moved to the end). */
  private readonly sessions = new Map<string, Session>();

  private readonly now: () => number;

  /** `now`: the clock, ms (tests move it). */
  constructor(users: UsersFile, limits: Partial<SessionLimits> = {}, now: () => number = Date.now) {
    this.users = users;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.now = now;
  }

  create(user: RapiUser): Session {
    const now = this.now();
    const session: Session = { id: token(), user: user.name, csrf: token(), created: now, lastUsed: now };
    while (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session a Cookie header names, with its user as the users file says now. */
  fromCookie(header: string | undefined): { session: Session; user: RapiUser } | undefined {
    const id = cookieValue(header, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const now = this.now();
    const user = this.users.lookup(session.user);
    if (!user || now - session.lastUsed > this.limits.idleMs || now - session.created > this.limits.maxAgeMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastUsed = now;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return { session, user };
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Closes every session (the master stops). */
  clear(): void {
    this.sessions.clear();
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

export interface LoginThrottleLimits {
  /** Failed logins from one address within `windowMs` before it must wait (default 10). */
  maxFailures: number;
  /** ms (default 5 minutes). */
  windowMs: number;
  /** Addresses tracked at once; the oldest goes first (default 10,000). */
  maxAddresses: number;
}

const DEFAULT_THROTTLE: LoginThrottleLimits = { maxFailures: 10, windowMs: 5 * 60_000, maxAddresses: 10_000 };

/**
 * Slows password guessing on the login form: an address with `maxFailures` failed logins in
 * a window is refused (before its password is even checked) until the window ends. A
 * success does not reset the count, so a guesser with one valid account gains nothing.
 */
export class LoginThrottle {
  private readonly limits: LoginThrottleLimits;
  private readonly now: () => number;
  /** Per address: when its window started and its failures since. */
  private readonly failures = new Map<string, { since: number; count: number }>();

  constructor(limits: Partial<LoginThrottleLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...DEFAULT_THROTTLE, ...limits };
    this.now = now;
  }

  /** Seconds `address` must still wait, or 0 when it may try. */
  waitSeconds(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const left = entry.since + this.limits.windowMs - this.now();
    if (left <= 0) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= this.limits.maxFailures ? Math.ceil(left / 1000) : 0;
  }

  failed(address: string): void {
    const now = this.now();
    const entry = this.failures.get(address);
    if (entry && now - entry.since < this.limits.windowMs) {
      entry.count++;
      return;
    }
    if (entry) this.failures.delete(address);
    while (this.failures.size >= this.limits.maxAddresses) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
    this.failures.set(address, { since: now, count: 1 });
  }
}

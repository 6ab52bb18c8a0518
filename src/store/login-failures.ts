// Failed logins on the web console, counted per client address: an address with
// `maxFailures` failures in a window waits until the window ends, before its password is even
// checked. LoginThrottle counts what one master saw; with several masters (etcd) each also
// publishes its counts, so that a guesser gains nothing by spreading attempts over them
// (store/etcd/login-failures.ts); one rule (waitFor) tells how long an address waits for both.

/** What the web console asks before it checks a password, and tells after a wrong one. */
export interface LoginFailures {
  /** Seconds `address` must still wait, or 0 when it may try. */
  waitSeconds(address: string): number | Promise<number>;
  failed(address: string): void | Promise<void>;
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
export class LoginThrottle implements LoginFailures {
  readonly limits: LoginThrottleLimits;
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
    const now = this.now();
    if (entry.since + this.limits.windowMs <= now) {
      this.failures.delete(address);
      return 0;
    }
    return waitFor([entry], this.limits, now);
  }

  /** `address`'s window as this master counts it (undefined: none open). */
  entry(address: string): { since: number; count: number } | undefined {
    const entry = this.failures.get(address);
    return entry && this.now() - entry.since < this.limits.windowMs ? { ...entry } : undefined;
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

/**
 * Seconds until the counts still within their windows fall under the limit (0: under it now):
 * the windows that end first are the first to stop counting.
 */
export function waitFor(counts: readonly { since: number; count: number }[], limits: { maxFailures: number; windowMs: number }, now: number): number {
  const open = counts.map((c) => ({ ends: c.since + limits.windowMs, count: c.count })).filter((c) => c.ends > now).sort((a, b) => a.ends - b.ends);
  let total = open.reduce((sum, c) => sum + c.count, 0);
  if (total < limits.maxFailures) return 0;
  for (const c of open) {
    total -= c.count;
    if (total < limits.maxFailures) return Math.ceil((c.ends - now) / 1000);
  }
  return 0;
}

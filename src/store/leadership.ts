// Leadership: the seam where a master becomes, and stops being, the one that writes (as
// Nomad's leader.go establishes and revokes leadership). Every write batch carries the
// leader's fence (its epoch) and the store refuses one whose fence is not the current one,
// so a master that lost its lease cannot write after another won it. SQLite mode holds a
// local lease that nothing takes away but a failed write or a second master on the same
// database; an etcd backend implements the same interface on a lease and the leader key's
// revision.

import type { DatabaseSync } from "node:sqlite";

/** A write refused because this master does not (or no longer) lead. */
export class NotLeaderError extends Error {
  constructor(reason: string) {
    super(`This master is not the leader (${reason}); writes are refused`);
    this.name = "NotLeaderError";
  }
}

/** A write refused by the store itself, for a reason an operator must fix (etcd out of space): for every master alike. */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

/** Why a write is refused while a new term's establish hooks still run (Leadership.ready). */
export const TAKING_OVER = "this master is taking over: it is loading the config and the job queue";

export interface Leadership {
  /** The fence of the current term, or undefined while not leading. */
  readonly epoch: number | undefined;
  /** The epoch every write batch must carry; throws NotLeaderError while not leading. */
  fence(): number;
  /**
   * Whether the current term's establish hooks have all run: until then only the takeover
   * itself writes (new submissions are refused, or the queue's reload would drop them).
   */
  readonly ready: boolean;
  /** How long the last term's establish hooks took, ms (for the log). */
  readonly takeoverMs: number;
  /**
   * Becomes leader: takes the lease, moves the fence on (writes of any earlier leader are
   * refused from then on), then runs the establish hooks in order (load the queue, start
   * jobs). Resolves with the new epoch.
   */
  establish(): Promise<number>;
  /**
   * The epoch once this master may act on it now (send orders to node agents): a leader whose
   * liveness is in doubt waits (at most `maxWaitMs`) until it is confirmed or lost. Undefined
   * while not leading.
   */
  whenActing(maxWaitMs?: number): Promise<number | undefined>;
  /** Stops leading: writes are refused from now on, then the revoke hooks run in order. Idempotent. */
  revoke(reason: string): void;
  /** Runs on every establish, after the fence moved (an async hook is awaited). */
  onEstablish(hook: (epoch: number) => void | Promise<void>): void;
  /** Runs once per revoke, after writes are refused. */
  onRevoke(hook: (reason: string) => void): void;
}

/** The meta row holding the current fence in the database (checked by every batch: durable.ts). */
export const EPOCH_KEY = "leader_epoch";

/**
 * A leadership's terms and hooks; how a term is won is the subclass's (establish), which
 * starts it with begin(epoch).
 */
export abstract class Terms implements Leadership {
  private current: number | undefined;
  /** The term whose establish hooks all ran. */
  private settled: number | undefined;
  private revokedBecause = "leadership not established yet";
  private readonly establishHooks: ((epoch: number) => void | Promise<void>)[] = [];
  private readonly revokeHooks: ((reason: string) => void)[] = [];

  abstract establish(): Promise<number>;

  get epoch(): number | undefined {
    return this.current;
  }

  get ready(): boolean {
    return this.current !== undefined && this.settled === this.current;
  }

  fence(): number {
    if (this.current === undefined) throw new NotLeaderError(this.revokedBecause);
    return this.current;
  }

  /** A lease that nothing but a revoke takes away may always act. */
  whenActing(_maxWaitMs?: number): Promise<number | undefined> {
    return Promise.resolve(this.current);
  }

  revoke(reason: string): void {
    if (this.current === undefined) return;
    this.current = undefined;
    this.revokedBecause = `leadership lost: ${reason}`;
    for (const hook of this.revokeHooks) hook(reason);
  }

  onEstablish(hook: (epoch: number) => void | Promise<void>): void {
    this.establishHooks.push(hook);
  }

  onRevoke(hook: (reason: string) => void): void {
    this.revokeHooks.push(hook);
  }

  /** How long the last term's establish hooks took (loading the store, recovering the queue), ms. */
  takeoverMs = 0;

  /** Starts a term: the fence moves to `epoch`, then the establish hooks run. Says whether the term outlived them. */
  protected async begin(epoch: number): Promise<boolean> {
    this.current = epoch;
    const started = performance.now();
    for (const hook of this.establishHooks) {
      if (this.current !== epoch) break;
      await hook(epoch);
    }
    this.takeoverMs = performance.now() - started;
    if (this.current === epoch) this.settled = epoch;
    return this.current === epoch;
  }
}

/**
 * SQLite mode's lease: always granted at establish, lost only when revoked (a failed write,
 * or a batch refused because another master took the database's fence).
 */
export class LocalLease extends Terms {
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync) {
    super();
    this.db = db;
  }

  async establish(): Promise<number> {
    if (this.epoch !== undefined) return this.epoch;
    // One statement, atomic: a second master on this database fences this one out the same way.
    const row = this.db
      .prepare("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value")
      .get(EPOCH_KEY) as { value: string | number };
    const epoch = Number(row.value);
    await this.begin(epoch);
    return epoch;
  }
}

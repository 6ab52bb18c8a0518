// Ganeti-style lock levels with multi-granularity locking: a job may lock single objects
// of a level (taking an intent lock on the level) or the whole level at once. Locks are
// acquired in one global order (level, then name), so jobs cannot deadlock.

export const LOCK_LEVELS = ["cluster", "instance", "nodegroup", "node", "network"] as const;
export type LockLevel = (typeof LOCK_LEVELS)[number];
export type LockMode = "shared" | "exclusive";

/** What one opcode needs: per level, the names to lock or "all". */
export type LockRequest = Partial<Record<LockLevel, { names: readonly string[] | "all"; mode: LockMode }>>;

type Mode = "IS" | "IX" | "S" | "X";
const COMPATIBLE: Record<Mode, readonly Mode[]> = {
  IS: ["IS", "IX", "S"],
  IX: ["IS", "IX"],
  S: ["IS", "S"],
  X: [],
};

interface Waiter {
  owner: number;
  mode: Mode;
  wake: () => void;
}

class Lock {
  readonly held = new Map<number, Mode>(); // owner (job id) → mode
  readonly queue: Waiter[] = [];

  canGrant(mode: Mode, owner: number): boolean {
    for (const [o, m] of this.held) if (o !== owner && !COMPATIBLE[mode].includes(m)) return false;
    return true;
  }
}

export interface LockInfo {
  name: string;
  mode: string | null;
  owner: number[];
  pending: [string, number[]][];
}

export class LockManager {
  private readonly locks = new Map<string, Lock>();

  /** Acquires everything `request` asks for on behalf of `owner`; resolves when all are held. */
  async acquire(owner: number, request: LockRequest, signal?: AbortSignal): Promise<void> {
    for (const [name, mode] of plan(request)) {
      signal?.throwIfAborted();
      await this.acquireOne(owner, name, mode, signal);
    }
  }

  releaseAll(owner: number): void {
    for (const [name, lock] of this.locks) {
      if (lock.held.delete(owner)) this.wakeWaiters(name, lock);
    }
  }

  /** Current locks, for /2/query/lock. */
  info(): LockInfo[] {
    const out: LockInfo[] = [];
    for (const [name, lock] of [...this.locks].sort(([a], [b]) => a.localeCompare(b))) {
      if (lock.held.size === 0 && lock.queue.length === 0) continue;
      const modes = new Set(lock.held.values());
      out.push({
        name,
        mode: lock.held.size === 0 ? null : [...modes].some((m) => m === "X" || m === "IX") ? "exclusive" : "shared",
        owner: [...lock.held.keys()],
        pending: lock.queue.map((w) => [w.mode === "X" || w.mode === "IX" ? "exclusive" : "shared", [w.owner]]),
      });
    }
    return out;
  }

  private acquireOne(owner: number, name: string, mode: Mode, signal?: AbortSignal): Promise<void> {
    let lock = this.locks.get(name);
    if (!lock) this.locks.set(name, (lock = new Lock()));
    // FIFO: a request waits behind earlier waiters so exclusive requests are not starved.
    if (lock.queue.length === 0 && lock.canGrant(mode, owner)) {
      lock.held.set(owner, mode);
      return Promise.resolve();
    }
    const target = lock;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { owner, mode, wake: resolve };
      target.queue.push(waiter);
      signal?.addEventListener("abort", () => {
        const i = target.queue.indexOf(waiter);
        if (i >= 0) {
          target.queue.splice(i, 1);
          this.wakeWaiters(name, target);
          reject(signal.reason);
        }
      }, { once: true });
    });
  }

  private wakeWaiters(name: string, lock: Lock): void {
    while (lock.queue.length > 0 && lock.canGrant(lock.queue[0].mode, lock.queue[0].owner)) {
      const w = lock.queue.shift()!;
      lock.held.set(w.owner, w.mode);
      w.wake();
    }
    if (lock.held.size === 0 && lock.queue.length === 0) this.locks.delete(name);
  }
}

/** The ordered list of (lock name, mode) a request turns into. */
function plan(request: LockRequest): [string, Mode][] {
  const steps: [string, Mode][] = [];
  for (const level of LOCK_LEVELS) {
    const want = request[level];
    if (!want) continue;
    const exclusive = want.mode === "exclusive";
    if (want.names === "all") {
      steps.push([`${level}/*`, exclusive ? "X" : "S"]);
    } else if (want.names.length > 0) {
      steps.push([`${level}/*`, exclusive ? "IX" : "IS"]);
      for (const n of [...new Set(want.names)].sort()) steps.push([`${level}/${n}`, exclusive ? "X" : "S"]);
    }
  }
  return steps;
}

// When a batch of the durable log waits for more writers (etcd mode): a batch that answered
// several clients (each a submission's job id) is followed by those clients' next
// submissions a moment later. Sent at once, the next batch holds only the writers that came
// while the last one was out, and the clients split into two halves that alternate, each half
// a txn of its own; waiting for them to come back puts them all in one. An etcd txn costs the
// members and the master about the same CPU for 4 jobs as for 8 (bench/README.md), so half the
// txns is nearly half that cost. The wait ends as soon as they are all back, and after at most
// as long as the last commit took (capped): when clients do not come back, a batch's wait costs
// it at most one more commit's time. A batch that answered one client does not wait at all (one
// job at a time is as fast as before).

/** A waiter of the durable log: `reply` when its durability answers a client (a submission). */
export interface Reply {
  readonly reply: boolean;
}

function repliesIn(waiters: readonly Reply[]): number {
  let n = 0;
  for (const w of waiters) if (w.reply) n++;
  return n;
}

export class Gathering {
  private readonly capMs: number;
  /** Send once this many replies wait, or at `end` (performance.now() ms); 0: not gathering. */
  private target = 0;
  private end = 0;

  /** `capMs`: the longest a batch waits (0: never). */
  constructor(capMs: number) {
    this.capMs = capMs;
  }

  /** A batch is durable: it answered `answered`; `queued` wait for the next one; it took `commitMs`. */
  committed(answered: readonly Reply[], queued: readonly Reply[], commitMs: number): void {
    const replied = this.capMs > 0 ? repliesIn(answered) : 0;
    if (replied < 2) return;
    this.target = replied + repliesIn(queued);
    this.end = performance.now() + Math.min(this.capMs, commitMs);
  }

  /** How long the next batch should wait now for the clients expected back (0: send). */
  waitMs(queued: readonly Reply[]): number {
    if (this.target === 0) return 0;
    const left = this.end - performance.now();
    return left > 0 && repliesIn(queued) < this.target ? left : 0;
  }

  /** The batch is being sent: the next one starts its own count. */
  sent(): void {
    this.target = 0;
  }
}

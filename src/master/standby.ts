// A master that may stand by (etcd): it campaigns in the background while it serves reads from
// its followed copy, and again after it lost leadership; a campaign that fails (etcd unreachable,
// or a new term whose loading failed) is tried again a second later.

import type { JobQueue } from "../jobs/queue.ts";
import type { Replica, StoreProblem, StoreStatus } from "../store/backend.ts";
import type { LeaderInfo } from "../store/etcd/leader.ts";
import type { Leadership } from "../store/leadership.ts";
import type { Log } from "./log.ts";

const RETRY_MS = 1000;
/** How often a master checks the store's alarms (etcd NOSPACE), ms: /2/info shows one within this. */
const STORE_CHECK_MS = 5_000;


/** A master's standby side: its campaign and its store checks. */
export class Standby {
  readonly campaign: Campaign;
  readonly health: StoreHealth;
  private readonly replica: Replica;
  private readonly leadership: Leadership;
  private readonly log: Log;

  constructor(replica: Replica, leadership: Leadership, log: Log) {
    this.replica = replica;
    this.leadership = leadership;
    this.log = log;
    this.campaign = new Campaign(leadership, log);
    this.health = new StoreHealth(replica, log);
  }

  /** Once the master listens: its leader key will name `self`; the copy follows the leader's commits; the campaign starts. */
  async start(self: LeaderInfo, queue: Pick<JobQueue, "showFromLeader" | "showStored">): Promise<void> {
    this.replica.advertise(self);
    await this.replica.follow({
      shown: (id, job) => queue.showFromLeader(id, job),
      reloaded: () => {
        if (this.leadership.epoch === undefined) queue.showStored();
      },
    });
    this.campaign.run();
    this.health.start(STORE_CHECK_MS);
    this.log(`store: etcd; standing by and campaigning for leadership as ${self.name} (${self.url})`);
  }

  close(): void {
    this.campaign.close();
    this.health.close();
  }
}

export class Campaign {
  private readonly leadership: Leadership;
  private readonly log: Log;
  private running = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(leadership: Leadership, log: Log) {
    this.leadership = leadership;
    this.log = log;
  }

  /** Campaigns until this master leads (nothing when a campaign is under way already). */
  run(): void {
    if (this.closed || this.running) return;
    this.running = true;
    const started = performance.now();
    this.leadership.establish().then(
      (epoch) => {
        this.running = false;
        this.log(`this master leads now (epoch ${epoch}, ${Math.round(performance.now() - started)} ms after it began campaigning; taking over took ${Math.round(this.leadership.takeoverMs)} ms)`);
      },
      (err: unknown) => {
        if (this.closed) return void (this.running = false);
        // A term whose loading failed ends here (still `running`: the revoke's own call to
        // run() waits for the retry below); the next one starts from the store again.
        this.leadership.revoke(`taking over failed: ${err instanceof Error ? err.message : String(err)}`);
        this.running = false;
        this.log(`campaign failed: ${err instanceof Error ? err.message : String(err)}; trying again in ${RETRY_MS} ms`, { level: "error" });
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.run(), RETRY_MS);
      },
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }
}

/**
 * The store's alarms as the log tells them: each raised one once, with its remedy (etcd full:
 * compact, defrag, disarm), and once more when cleared. Checked every interval, whenever an
 * operator asks (GET /corral/1/store), and when a write is refused for want of space.
 */
export class StoreHealth {
  private readonly replica: Replica;
  private readonly log: Log;
  private raised = new Set<string>();
  /** The alarms of the last answered check, while there are any. */
  private lastProblem: StoreProblem | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(replica: Replica, log: Log) {
    this.replica = replica;
    this.log = log;
  }

  async status(): Promise<StoreStatus> {
    const status = await this.replica.status();
    // An unanswered check says nothing about alarms.
    if (status.revision === undefined) return status;
    const now = new Set(status.alarms);
    for (const alarm of now) if (!this.raised.has(alarm)) this.log(`etcd alarm ${alarm} raised: ${status.problem ?? "see etcdctl alarm list"}`, { level: "error" });
    for (const alarm of this.raised) if (!now.has(alarm)) this.log(`etcd alarm ${alarm} cleared: writes are accepted again`);
    this.raised = now;
    this.lastProblem = now.size > 0 ? { alarms: [...now].sort(), message: status.problem ?? `etcd alarms ${[...now].join(", ")}: see etcdctl alarm list` } : undefined;
    return status;
  }

  /** The alarms active at the last answered check (synchronous: /2/info's cache key). */
  problem(): StoreProblem | undefined {
    return this.lastProblem;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.status().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }
}

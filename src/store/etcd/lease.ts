// Leadership on etcd: a master campaigns by taking a lease (TTL ≥ 5 s) and creating the leader
// key with it, in a txn that succeeds only when the key is absent. The key's create revision is
// the fence every write batch compares (sink.ts): once the key expired with the lease and
// another master created it again, an old leader's writes are refused.
//
// etcd3's Lease reports a lost lease only after 2 × TTL without keepalives, one TTL after a new
// leader may have been elected (ETCD-FACTS §3.4). So this lease keeps itself alive and
// self-fences: with S the time the last acknowledged keepalive (or the grant) was sent, etcd
// cannot expire the lease before S + TTL, and this master stops leading at S + TTL − 500 ms,
// before anybody else can win. A standby takes over a crashed leader sooner, once its short
// liveness lease expired (liveness.ts: the leader stops acting before it can); this lease puts
// that one in the campaign's txn and stops it with its own.

import { NotLeaderError, Terms } from "../leadership.ts";
import { cancelWatch, type EtcdClient } from "./client.ts";
import { keepaliveOnce, LeaderLiveness, LIVENESS_TTL_SECONDS, revokeLease } from "./liveness.ts";

/** Below 5 s an etcd leader election eats the self-fencing budget and masters flap (§3.5). */
export const MIN_TTL_SECONDS = 5;
const SELF_FENCE_MARGIN_MS = 500;
/** How long one keepalive may go unanswered before it is tried again, and how soon. */
const KEEPALIVE_ANSWER_MS = 1000;
const KEEPALIVE_RETRY_MS = 100;

export interface EtcdLeaseOptions {
  /** The leader key (EtcdKeys.leader). */
  key: string;
  /** Who this master is: the leader key's value. */
  name: string;
  ttlSeconds?: number;
  /** The liveness lease's TTL (liveness.ts): a standby takes over about this long after a crash. */
  livenessTtlSeconds?: number;
}

export class EtcdLease extends Terms {
  private readonly client: EtcdClient;
  private readonly key: Buffer;
  private name: string;
  private readonly ttlMs: number;
  /** Why a write is refused while standing by (names the leader), when set. */
  standbyReason: (() => string) | undefined;
  private leaseId: string | undefined;
  /** When the last acknowledged keepalive (or the grant) was sent. */
  private ackedSentAt = 0;
  private selfFence: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private campaign: Promise<number> | undefined;
  private closed = false;
  private readonly liveness: LeaderLiveness;

  constructor(client: EtcdClient, o: EtcdLeaseOptions) {
    const ttl = o.ttlSeconds ?? MIN_TTL_SECONDS;
    if (ttl < MIN_TTL_SECONDS) throw new Error(`the leader lease's TTL must be at least ${MIN_TTL_SECONDS} s (got ${ttl})`);
    super();
    this.client = client;
    this.key = Buffer.from(o.key);
    this.name = o.name;
    this.ttlMs = ttl * 1000;
    this.liveness = new LeaderLiveness(client, o.key, o.livenessTtlSeconds ?? LIVENESS_TTL_SECONDS, (reason) => this.revoke(reason));
  }

  /** Campaigns until this master holds the leader key; resolves with the fence (the key's create revision). */
  establish(): Promise<number> {
    if (this.epoch !== undefined) return Promise.resolve(this.epoch);
    this.campaign ??= this.runCampaign().finally(() => (this.campaign = undefined));
    return this.campaign;
  }

  /** The epoch once this master may act (liveness.ts: it waits while a standby could be about to take over); undefined while not leading. */
  override async whenActing(maxWaitMs = this.ttlMs): Promise<number | undefined> {
    const epoch = this.epoch;
    if (epoch === undefined || !(await this.liveness.whenMayAct(maxWaitMs))) return undefined;
    return this.epoch === epoch ? epoch : undefined;
  }

  /** The leader key's value from the next campaign on (the master's advertised address, once it listens). */
  advertise(value: string): void {
    this.name = value;
  }

  override fence(): number {
    if (this.epoch === undefined && this.standbyReason) throw new NotLeaderError(this.standbyReason());
    return super.fence();
  }

  /** Also ends the lease: keepalives stop and etcd revokes it (its leader key with it). */
  override revoke(reason: string): void {
    void this.stopLease();
    super.revoke(reason);
  }

  /** Steps down (the leader key goes with the lease, so a standby wins at once) and stops campaigning. */
  async close(): Promise<void> {
    this.closed = true;
    const released = this.stopLease();
    this.revoke("the master is shutting down");
    await released;
  }

  private async runCampaign(): Promise<number> {
    while (!this.closed) {
      if (this.leaseId === undefined) await this.grant();
      const leaseId = this.leaseId as string;
      const alive = await this.liveness.prepare(this.name);
      const res = await this.client.etcd.kv.txn({
        compare: [{ key: this.key, target: "Create", result: "Equal", create_revision: 0 }],
        success: [{ request_put: { key: this.key, value: Buffer.from(this.name), lease: leaseId } }, alive],
        failure: [{ request_range: { key: this.key } }, { request_range: { key: this.liveness.key } }],
      });
      // Watched from the txn's own revision on: the holder was there then, so its end comes after.
      // (Not from the key's older mod revision: compaction takes that away, and a watch from a
      // compacted revision fails at once, which made every standby campaign in a loop.)
      const seenAt = Number(res.header.revision);
      let epoch: number | undefined;
      if (res.succeeded) epoch = seenAt;
      else {
        const holder = res.responses[0]?.response_range?.kvs[0];
        // A retried txn whose first try went through: the key is ours already.
        if (holder && holder.lease === leaseId) epoch = Number(holder.create_revision);
        // Its liveness key expired before this master watched it (no delete to see): ends that term now.
        else if (holder && res.responses[1]?.response_range?.kvs.length === 0) await this.liveness.endTerm(Number(holder.create_revision)).catch(() => undefined);
      }
      if (epoch !== undefined && this.leaseId === leaseId) {
        this.liveness.start();
        if (await this.begin(epoch)) return epoch;
        continue;
      }
      void this.liveness.stop();
      await this.leaderGone(seenAt);
    }
    throw new NotLeaderError("the master is shutting down");
  }

  /** Resolves when the leader key is deleted after `revision`, or after a TTL (then the campaign looks again). */
  private async leaderGone(revision: number): Promise<void> {
    const watcher = await this.client.etcd.watch().key(this.key).startRevision(String(revision + 1)).create();
    // A leader whose liveness key expired is ended without waiting for its own lease (liveness.ts).
    const livenessWatch = await this.liveness.watchForDeath(revision + 1);
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.ttlMs);
        watcher.on("delete", () => {
          clearTimeout(timer);
          resolve();
        });
        watcher.on("error", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } finally {
      await Promise.all([cancelWatch(watcher), cancelWatch(livenessWatch)]);
    }
  }

  private async grant(): Promise<void> {
    const sentAt = performance.now();
    const res = await this.client.etcd.leaseClient.leaseGrant({ TTL: this.ttlMs / 1000 });
    this.leaseId = res.ID;
    this.acknowledged(sentAt);
    this.scheduleKeepalive(res.ID, this.ttlMs / 3);
  }

  /**
   * The next keepalive: a TTL/3 after an answered one, soon after one that failed or went
   * unanswered (it may have gone to a member that died, or waited out an etcd election). Tried
   * only once a period, an etcd election under load used up the self-fence's budget: the
   * leader stepped down 3.2 s after etcd's raft leader was killed.
   */
  private scheduleKeepalive(leaseId: string, delayMs: number): void {
    this.keepalive = setTimeout(() => {
      void this.sendKeepalive(leaseId).then((answered) => {
        if (this.leaseId === leaseId) this.scheduleKeepalive(leaseId, answered ? this.ttlMs / 3 : KEEPALIVE_RETRY_MS);
      });
    }, delayMs);
  }

  /** Whether etcd answered (an answer that the lease is gone ends the term). */
  private async sendKeepalive(leaseId: string): Promise<boolean> {
    const sentAt = performance.now();
    try {
      const ttl = await keepaliveOnce(this.client, leaseId, KEEPALIVE_ANSWER_MS);
      if (this.leaseId !== leaseId) return true;
      if (ttl === "0") this.revoke("etcd says the lease expired");
      else this.acknowledged(sentAt);
      return true;
    } catch {
      // Unanswered: tried again 100 ms later; the self-fence timer decides, at S + TTL − 500 ms.
      return false;
    }
  }

  /** A keepalive sent at `sentAt` was acknowledged: the lease holds until sentAt + TTL at least. */
  private acknowledged(sentAt: number): void {
    if (sentAt < this.ackedSentAt) return;
    this.ackedSentAt = sentAt;
    clearTimeout(this.selfFence);
    const wait = sentAt + this.ttlMs - SELF_FENCE_MARGIN_MS - performance.now();
    this.selfFence = setTimeout(() => this.revoke(`no keepalive acknowledged for ${this.ttlMs - SELF_FENCE_MARGIN_MS} ms (self-fenced before the lease can expire)`), wait);
  }

  /**
   * Stops the keepalives and the self-fence timer; revokes both leases in etcd (best effort:
   * the leader key and the liveness key go with them). Resolves once etcd answered both, so a
   * master that closed leaves no liveness key for a campaign to wait on.
   */
  private async stopLease(): Promise<void> {
    clearTimeout(this.keepalive);
    clearTimeout(this.selfFence);
    this.keepalive = this.selfFence = undefined;
    const leaseId = this.leaseId;
    this.leaseId = undefined;
    this.ackedSentAt = 0;
    await Promise.all([this.liveness.stop(), revokeLease(this.client, leaseId)]);
  }
}

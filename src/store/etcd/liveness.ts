// Fast failover (issue 17): the leader lease L1 keeps a TTL ≥ 5 s (a shorter one flaps through
// etcd elections, ETCD-FACTS §3.5), so a crashed leader's key alone would go only after ~5 s.
// Beside it the leader holds a liveness lease L2 with a short TTL (2 s: etcd's floor) on
// `<root>leader-alive`, created in the campaign's own txn (so its create revision is the fence)
// and kept alive every TTL2/4. A standby that sees that key deleted (L2 expired in etcd: no
// keepalive for TTL2) while the leader key is still the same term's deletes the leader key in a
// txn guarded on both, and revokes L1: the campaign wins at once.
//
// Self-fencing stays ahead of that: with S2 the send time of the last acknowledged L2
// keepalive, etcd cannot expire L2, so no standby can act, before S2 + TTL2. From
// S2 + TTL2 − margin the leader does not act (orders and writes wait, checked against the clock
// when they go out) until a later keepalive is answered with TTL > 0 (etcd never renews an
// expired lease, so none was deleted) or leadership is lost (L2 found gone, or L1's self-fence).
// An etcd raft election does not expire L2: the new raft leader extends every lease (§5), so
// the leader is only suspended for a moment.

import type { IKeyValue, IRequestOp, Watcher } from "etcd3";
import type { EtcdClient } from "./client.ts";

/** The liveness lease's TTL: etcd's minimum with default raft timers (§3.6). */
export const LIVENESS_TTL_SECONDS = 2;
/** How long before L2 could expire the leader stops acting (timer and scheduling slack). */
const SUSPEND_MARGIN_MS = 400;

/** The key that lives while the leader's keepalives do (EtcdKeys.leader + "-alive"). */
export function livenessKey(leaderKey: string): string {
  return `${leaderKey}-alive`;
}

export class LeaderLiveness {
  private readonly client: EtcdClient;
  /** The liveness key: the campaign reads it beside the leader key. */
  readonly key: Buffer;
  private readonly leaderKey: Buffer;
  private readonly ttlMs: number;
  private readonly lost: (reason: string) => void;
  private leaseId: string | undefined;
  private running = false;
  /** When the last acknowledged keepalive (or the grant) was sent. */
  private ackedSentAt = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();

  /** `lost` runs when etcd says L2 is gone: a standby may have taken over. */
  constructor(client: EtcdClient, leaderKey: string, ttlSeconds: number, lost: (reason: string) => void) {
    this.client = client;
    this.leaderKey = Buffer.from(leaderKey);
    this.key = Buffer.from(livenessKey(leaderKey));
    this.ttlMs = ttlSeconds * 1000;
    this.lost = lost;
  }

  /** Grants a fresh L2 for one campaign attempt; the op puts the liveness key in the campaign's txn. */
  async prepare(name: string): Promise<IRequestOp> {
    void this.stop();
    const sentAt = performance.now();
    const res = await this.client.etcd.leaseClient.leaseGrant({ TTL: this.ttlMs / 1000 });
    this.leaseId = res.ID;
    this.ackedSentAt = sentAt;
    return { request_put: { key: this.key, value: Buffer.from(JSON.stringify({ name })), lease: res.ID } };
  }

  /** The campaign won with the prepared L2: keepalives start. */
  start(): void {
    const leaseId = this.leaseId;
    if (leaseId === undefined) return;
    this.running = true;
    this.keepalive = setInterval(() => void this.sendKeepalive(leaseId), this.ttlMs / 4);
  }

  /** Keepalives stop and L2 is revoked (best effort; resolves once etcd answered); whoever waits to act is told no at once. */
  stop(): Promise<void> {
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.running = false;
    const leaseId = this.leaseId;
    this.leaseId = undefined;
    this.wake();
    return revokeLease(this.client, leaseId);
  }

  /** Whether the leader may act now: no standby can have taken over before L2 could expire. */
  mayAct(): boolean {
    return this.running && performance.now() < this.ackedSentAt + this.ttlMs - SUSPEND_MARGIN_MS;
  }

  /** Resolves true once the leader may act (now, or after a later keepalive is answered); false when L2 stopped or after `maxWaitMs`. */
  async whenMayAct(maxWaitMs: number): Promise<boolean> {
    const deadline = performance.now() + maxWaitMs;
    while (!this.mayAct()) {
      if (!this.running || performance.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, deadline - performance.now());
        this.waiters.add(done);
      });
    }
    return true;
  }

  /**
   * A standby's watch: from `fromRevision` on, when the liveness key of a term is deleted while
   * the leader key is still that term's, ends the term (see endTerm). Stop it with client.ts's cancelWatch.
   */
  async watchForDeath(fromRevision: number): Promise<Watcher> {
    const watcher = await this.client.etcd.watch().key(this.key).startRevision(String(fromRevision)).withPreviousKV().create();
    watcher.on("delete", (_kv: IKeyValue, previous?: IKeyValue) => {
      if (previous) void this.endTerm(Number(previous.create_revision)).catch(() => undefined);
    });
    watcher.on("error", () => undefined);
    return watcher;
  }

  /**
   * The term with fence `fence` stopped sending keepalives for TTL2: its leader key is deleted
   * in a txn that holds only while that key is still the term's and the liveness key is gone,
   * then its lease L1 is revoked so its own keepalives learn it at once.
   */
  async endTerm(fence: number): Promise<void> {
    const res = await this.client.etcd.kv.txn({
      compare: [
        { key: this.leaderKey, target: "Create", result: "Equal", create_revision: fence },
        { key: this.key, target: "Create", result: "Equal", create_revision: 0 },
      ],
      success: [{ request_range: { key: this.leaderKey } }, { request_delete_range: { key: this.leaderKey } }],
      failure: [],
    });
    const l1 = res.succeeded ? res.responses[0]?.response_range?.kvs[0]?.lease : undefined;
    if (l1 && l1 !== "0") await revokeLease(this.client, l1);
  }

  private async sendKeepalive(leaseId: string): Promise<void> {
    const sentAt = performance.now();
    try {
      const ttl = await keepaliveOnce(this.client, leaseId, this.ttlMs / 2);
      if (this.leaseId !== leaseId) return;
      if (ttl === "0") {
        void this.stop();
        this.lost("etcd says the liveness lease expired: a standby may have taken over");
        return;
      }
      if (sentAt > this.ackedSentAt) this.ackedSentAt = sentAt;
      this.wake();
    } catch {
      // Unanswered: the leader stays suspended (mayAct) until one is, or L1's self-fence ends the term.
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Revokes a lease in etcd (its keys go with it), best effort: resolves once etcd answered or the call failed. */
export function revokeLease(client: EtcdClient, leaseId: string | undefined): Promise<void> {
  if (leaseId === undefined) return Promise.resolve();
  return client.etcd.leaseClient.leaseRevoke({ ID: leaseId }).then(
    () => undefined,
    () => undefined,
  );
}

/** One keepalive of `leaseId` on a stream of its own, so that its answer is surely its own: resolves with the TTL etcd answered ("0": the lease is gone). */
export async function keepaliveOnce(client: EtcdClient, leaseId: string, timeoutMs: number): Promise<string> {
  const stream = await client.etcd.leaseClient.leaseKeepAlive();
  const answer = await new Promise<{ TTL: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no keepalive answer")), timeoutMs);
    stream.on("data", (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    stream.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.write({ ID: leaseId });
  }).finally(() => stream.end());
  return answer.TTL;
}

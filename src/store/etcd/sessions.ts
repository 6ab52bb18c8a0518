// Web console sessions on etcd: one key each, <prefix>sessions/<hash of the session id>,
// so that a session opened on any master works on every master and outlives the one it was
// opened on. The value is JSON {user, created, lastUsed, lease}: never the id or its CSRF token
// (api/ui/sessions.ts derives that from the id). Every master holds a copy of the prefix
// (PrefixCopy: load, then watch), as for the API tokens.
//
// Unlike the config these keys are written by any master, unfenced (as the shared files are): a
// session is one browser's, not the cluster's state, and a standby must be able to log users in
// while no master leads. Expiry is etcd's: each session has a lease of its own, TTL the idle
// timeout plus a minute, kept alive when its last use is written; that is at most once a
// minute (REFRESH_MS), not at every request. Logging out revokes the lease, which deletes the
// key on every master's copy; a later refresh of it is refused (lease gone, txn compares the
// key's existence), so an ended session never comes back.

import type { SessionRecord, SessionRecords } from "../sessions.ts";
import type { EtcdClient } from "./client.ts";
import { keepaliveOnce } from "./liveness.ts";
import { PrefixCopy } from "./records.ts";

/** A session's last use is written at most this often. */
export const SESSION_REFRESH_MS = 60_000;
/** The lease outlives the idle timeout by this much: the record's last use lags by up to REFRESH_MS. */
const LEASE_SLACK_SECONDS = 60;
const KEEPALIVE_TIMEOUT_MS = 2_000;

interface Stored extends SessionRecord {
  /** The session's own lease (etcd's id, a decimal string). */
  readonly lease: string;
}

export class EtcdSessionRecords implements SessionRecords {
  readonly refreshMs = SESSION_REFRESH_MS;
  private readonly client: EtcdClient;
  private readonly copy: PrefixCopy;
  private readonly leaseSlackSeconds: number;

  private constructor(client: EtcdClient, copy: PrefixCopy, leaseSlackSeconds: number) {
    this.client = client;
    this.copy = copy;
    this.leaseSlackSeconds = leaseSlackSeconds;
  }

  /** Loads the sessions under `prefix` and follows them; `leaseSlackSeconds`: tests shorten it. */
  static async open(client: EtcdClient, prefix: string, leaseSlackSeconds = LEASE_SLACK_SECONDS): Promise<EtcdSessionRecords> {
    const copy = new PrefixCopy(client, prefix);
    await copy.load();
    await copy.follow();
    return new EtcdSessionRecords(client, copy, leaseSlackSeconds);
  }

  get(key: string): SessionRecord | undefined {
    return parse(this.copy.get(key));
  }

  fetch(key: string): Promise<SessionRecord | undefined> {
    return this.fetchStored(key);
  }

  private async fetchStored(key: string): Promise<Stored | undefined> {
    const value = (await this.client.etcd.get(this.copy.prefix + key).string()) ?? undefined;
    // What the watch brought meanwhile (a logout) wins over this older read.
    if (value !== undefined && this.copy.get(key) === undefined) this.copy.set(key, value);
    return parse(value);
  }

  async add(key: string, record: SessionRecord, idleMs: number): Promise<void> {
    const { ID: lease } = await this.client.etcd.leaseClient.leaseGrant({ TTL: Math.ceil(idleMs / 1000) + this.leaseSlackSeconds });
    const value = JSON.stringify({ user: record.user, created: record.created, lastUsed: record.lastUsed, lease } satisfies Stored);
    try {
      await this.client.etcd.kv.put({ key: Buffer.from(this.copy.prefix + key), value: Buffer.from(value), lease });
    } catch (err) {
      await this.revoke(lease);
      throw err;
    }
    this.copy.set(key, value);
  }

  async touch(key: string, record: SessionRecord): Promise<boolean> {
    const stored = parse(this.copy.get(key));
    if (!stored) return false;
    const value = JSON.stringify({ ...stored, lastUsed: record.lastUsed } satisfies Stored);
    // Shown here at once: this master does not write it again within REFRESH_MS.
    this.copy.set(key, value);
    if ((await keepaliveOnce(this.client, stored.lease, KEEPALIVE_TIMEOUT_MS)) === "0") return this.gone(key);
    const full = Buffer.from(this.copy.prefix + key);
    // Only while the key exists: a logout on another master meanwhile stays a logout.
    const res = await this.client.etcd.kv
      .txn({
        compare: [{ key: full, target: "Version", result: "Greater", version: 0 }],
        success: [{ request_put: { key: full, value: Buffer.from(value), lease: stored.lease } }],
        failure: [],
      })
      .catch((err: Error) => {
        if (/lease not found/.test(err.message)) return { succeeded: false };
        throw err;
      });
    return res.succeeded ? true : this.gone(key);
  }

  async remove(key: string): Promise<void> {
    const stored = parse(this.copy.get(key)) ?? (await this.fetchStored(key));
    this.copy.set(key, null);
    // The lease's end deletes the key; the delete is for a key whose lease is already gone.
    if (stored) await this.revoke(stored.lease);
    await this.client.etcd.delete().key(this.copy.prefix + key);
  }

  size(): number {
    return this.copy.size();
  }

  oldest(): string | undefined {
    let oldest: [string, number] | undefined;
    for (const [key, value] of this.copy.entries()) {
      const used = parse(value)?.lastUsed ?? 0;
      if (!oldest || used < oldest[1]) oldest = [key, used];
    }
    return oldest?.[0];
  }

  close(): Promise<void> {
    return this.copy.close();
  }

  private gone(key: string): false {
    this.copy.set(key, null);
    return false;
  }

  private async revoke(lease: string): Promise<void> {
    await this.client.etcd.leaseClient.leaseRevoke({ ID: lease }).catch((err: Error) => {
      if (!/lease not found/.test(err.message)) throw err;
    });
  }
}

function parse(value: string | undefined): Stored | undefined {
  // Written by add()/touch() above (any master of this version): JSON of Stored.
  return value === undefined ? undefined : (JSON.parse(value) as Stored);
}

// Failed web console logins counted across masters: each master publishes its own count for an
// address at <prefix><sha256 of the address>/<master> ({since, count}: never the address), and a
// login is refused while the counts of all masters within their windows reach the limit. So ten
// guesses spread over three masters count as ten, not as three tens. Keys are written by any
// master, unfenced (as sessions are), and expire by leases shared per minute (a flood of
// addresses makes keys, not leases); a reader ignores a count whose window is over.

import { createHash } from "node:crypto";
import { LoginThrottle, waitFor, type LoginFailures } from "../login-failures.ts";
import type { EtcdClient } from "./client.ts";

/** A lease serves the keys made within this long (each outlives its window by at most this). */
const LEASE_REUSE_MS = 60_000;

export class EtcdLoginFailures implements LoginFailures {
  private readonly client: EtcdClient;
  private readonly prefix: string;
  private readonly master: string;
  private readonly local: LoginThrottle;
  private readonly now: () => number;
  private lease: { id: string; granted: number } | undefined;

  /** `local`: this master's own count (its limits are the cluster's). */
  constructor(client: EtcdClient, prefix: string, master: string, local = new LoginThrottle(), now: () => number = Date.now) {
    this.client = client;
    this.prefix = prefix;
    this.master = master;
    this.local = local;
    this.now = now;
  }

  async waitSeconds(address: string): Promise<number> {
    const own = this.local.waitSeconds(address);
    if (own > 0) return own;
    let counts: { since: number; count: number }[];
    try {
      const { kvs } = await this.client.list(this.keyOf(address, ""));
      counts = kvs.map((kv) => parseCount(kv.value.toString())).filter((c) => c !== undefined);
    } catch {
      // etcd unreachable: this master's own count still holds (and logging in needs etcd anyway).
      return own;
    }
    return waitFor(counts, this.local.limits, this.now());
  }

  async failed(address: string): Promise<void> {
    this.local.failed(address);
    const entry = this.local.entry(address);
    if (!entry) return;
    // Awaited: a guesser's next try on another master must already count this one.
    await this.publish(address, entry).catch(() => undefined);
  }

  private async publish(address: string, entry: { since: number; count: number }): Promise<void> {
    const now = this.now();
    if (!this.lease || now - this.lease.granted > LEASE_REUSE_MS) {
      const ttl = Math.ceil((this.local.limits.windowMs + LEASE_REUSE_MS) / 1000);
      const granted = await this.client.etcd.leaseClient.leaseGrant({ TTL: String(ttl), ID: "0" });
      this.lease = { id: granted.ID, granted: now };
    }
    const put = { key: Buffer.from(this.keyOf(address, this.master)), value: Buffer.from(JSON.stringify(entry)), lease: this.lease.id };
    await this.client.etcd.kv.put(put).catch((err: unknown) => {
      // The lease may have been revoked or expired meanwhile: the next failure takes a new one.
      this.lease = undefined;
      throw err;
    });
  }

  private keyOf(address: string, master: string): string {
    return `${this.prefix}${createHash("sha256").update(address).digest("hex")}/${master}`;
  }
}

function parseCount(text: string): { since: number; count: number } | undefined {
  try {
    const v = JSON.parse(text) as { since?: unknown; count?: unknown };
    return typeof v.since === "number" && typeof v.count === "number" ? { since: v.since, count: v.count } : undefined;
  } catch {
    return undefined;
  }
}

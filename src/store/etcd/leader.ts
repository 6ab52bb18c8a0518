// Who leads, as every master sees it: the leader key's value is the leading master's JSON
// `{ "name", "url", "certPem" }` (its advertised RAPI address and certificate), so that a
// standby can name the leader to clients and forward to it. Read once, then watched.

import type { Watcher } from "etcd3";
import { cancelWatch, type EtcdClient } from "./client.ts";

/** The leading master, as its leader key says. */
export interface LeaderInfo {
  name: string;
  url: string;
  /** The leader's RAPI certificate (PEM), which a standby pins when it forwards; absent without TLS. */
  certPem?: string;
}

/** The leader key's value for a master (what LeaderWatch parses back). */
export function leaderValue(info: LeaderInfo): string {
  return JSON.stringify(info);
}

/** A leader key's value; one written by a master of an older version (its bare name) has no URL. */
export function parseLeaderValue(value: string): LeaderInfo {
  try {
    const parsed = JSON.parse(value) as Partial<LeaderInfo>;
    if (typeof parsed.name === "string" && typeof parsed.url === "string") {
      return { name: parsed.name, url: parsed.url, ...(typeof parsed.certPem === "string" ? { certPem: parsed.certPem } : {}) };
    }
  } catch {
    // Not JSON: an older master's bare name.
  }
  return { name: value, url: "" };
}

export class LeaderWatch {
  private readonly client: EtcdClient;
  private readonly key: string;
  private current: LeaderInfo | undefined;
  private watcher: Watcher | undefined;
  private closed = false;

  constructor(client: EtcdClient, key: string) {
    this.client = client;
    this.key = key;
  }

  /** The leader now (undefined between a leader's end and the next one's start). */
  leader(): LeaderInfo | undefined {
    return this.current;
  }

  /** Reads the key, then follows it; a broken watch reads and follows again. */
  async start(): Promise<void> {
    if (this.closed) return;
    const res = await this.client.etcd.kv.range({ key: Buffer.from(this.key) });
    const kv = res.kvs[0];
    this.current = kv ? parseLeaderValue(kv.value.toString()) : undefined;
    const watcher = await this.client.watch(
      this.key,
      Number(res.header.revision) + 1,
      (w) => {
        for (const e of w.events) {
          if (e.kv.key.toString() !== this.key) continue;
          this.current = e.type === "Delete" ? undefined : parseLeaderValue(e.kv.value.toString());
        }
      },
      () => {
        if (this.watcher !== watcher) return;
        this.watcher = undefined;
        void watcher.cancel().catch(() => undefined);
        setTimeout(() => void this.start().catch(() => undefined), 500).unref();
      },
    );
    this.watcher = watcher;
  }

  async close(): Promise<void> {
    this.closed = true;
    await cancelWatch(this.watcher);
    this.watcher = undefined;
  }
}

// API tokens' records, apart from the config (a token is no cluster object and bumps no
// config serial): read from memory, written through the durable log, so that a token is
// acknowledged only once it is on disk. An etcd store implements the same interface.

import type { DatabaseSync } from "node:sqlite";
import type { TokenRecord } from "../model/tokens.ts";
import type { DurableLog } from "./durable.ts";

export interface TokenStore {
  get(id: string): TokenRecord | undefined;
  all(): Iterable<TokenRecord>;
  /** Resolves once the record is durable. */
  put(record: TokenRecord): Promise<void>;
  /** Resolves once the removal is durable; false when there was no such token. */
  remove(id: string): Promise<boolean>;
}

export class SqliteTokenStore implements TokenStore {
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly log: DurableLog;

  constructor(db: DatabaseSync, log: DurableLog) {
    this.log = log;
    for (const row of db.prepare("SELECT data FROM tokens").iterate()) {
      const record = JSON.parse((row as { data: string }).data) as TokenRecord;
      this.tokens.set(record.id, record);
    }
  }

  get(id: string): TokenRecord | undefined {
    return this.tokens.get(id);
  }

  all(): Iterable<TokenRecord> {
    return this.tokens.values();
  }

  async put(record: TokenRecord): Promise<void> {
    const durable = this.log.append([{ t: "token", id: record.id, data: JSON.stringify(record) }]);
    // Valid only once written: a token whose answer never reached its creator is not in use.
    await durable;
    this.tokens.set(record.id, record);
  }

  async remove(id: string): Promise<boolean> {
    // Refused from now on, before the removal is durable: revocation must not wait for the disk.
    if (!this.tokens.delete(id)) return false;
    await this.log.append([{ t: "token", id, data: null }]);
    return true;
  }
}

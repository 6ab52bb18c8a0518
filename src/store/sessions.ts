// Where the web console's sessions are kept (api/ui/sessions.ts decides what they mean): in
// the master's memory in SQLite mode (one master), in etcd in etcd mode so that every master
// knows every session (store/etcd/sessions.ts). A record is kept under a hash of the session
// id and holds neither the id nor its CSRF token.

/** A session as kept: who, since when, last used when. */
export interface SessionRecord {
  readonly user: string;
  readonly created: number;
  readonly lastUsed: number;
}

export interface SessionRecords {
  /** How often at most a session's last use is written (0: at every use). */
  readonly refreshMs: number;
  /** The record as this master holds it now (undefined: unknown here). */
  get(key: string): SessionRecord | undefined;
  /** Asks the store itself, for a session opened on another master a moment ago that this one has not seen yet. */
  fetch(key: string): Promise<SessionRecord | undefined>;
  /** Keeps a new session; the store may forget it after `idleMs` without a touch. */
  add(key: string, record: SessionRecord, idleMs: number): Promise<void>;
  /** Records a later use; false when the session is gone (ended meanwhile, perhaps on another master). */
  touch(key: string, record: SessionRecord): Promise<boolean>;
  remove(key: string): Promise<void>;
  /** Sessions kept now. */
  size(): number;
  /** The least recently used session's key. */
  oldest(): string | undefined;
  /** This master stops: forgets what it holds (what the store keeps stays for the other masters). */
  close(): void | Promise<void>;
}

/** One master's sessions in its memory, in order of last use (a Map keeps insertion order). */
export class MemorySessionRecords implements SessionRecords {
  readonly refreshMs = 0;
  private readonly records = new Map<string, SessionRecord>();

  get(key: string): SessionRecord | undefined {
    return this.records.get(key);
  }

  fetch(key: string): Promise<SessionRecord | undefined> {
    return Promise.resolve(this.records.get(key));
  }

  add(key: string, record: SessionRecord): Promise<void> {
    this.records.set(key, record);
    return Promise.resolve();
  }

  touch(key: string, record: SessionRecord): Promise<boolean> {
    if (!this.records.delete(key)) return Promise.resolve(false);
    this.records.set(key, record);
    return Promise.resolve(true);
  }

  remove(key: string): Promise<void> {
    this.records.delete(key);
    return Promise.resolve();
  }

  size(): number {
    return this.records.size;
  }

  oldest(): string | undefined {
    return this.records.keys().next().value;
  }

  close(): void {
    this.records.clear();
  }
}

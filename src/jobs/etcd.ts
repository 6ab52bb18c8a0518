// The job queue on etcd: active jobs at /corral/<cluster>/jobs/<id>, archived ones moved to
// jobs-archived/<id> and pruned to the newest N, so that finished jobs do not fill etcd (a
// full etcd refuses every write: ETCD-FACTS §3.6). Job states go through the durable log, in
// order with config transactions and in the same fenced txns. Job ids are the revisions of
// fenced txns of their own: unique and increasing without a counter key that writers would
// contend on (one CAS'ed key tops out at 100–150 commits/s).
//
// Reads are synchronous (JobStore), so the store keeps the jobs it holds in memory; pruning
// bounds the archived ones.

import type { Job } from "../model/job.ts";
import type { Watcher } from "etcd3";
import type { DurableLog, WriteOp } from "../store/durable.ts";
import { NotLeaderError, TAKING_OVER, type Leadership } from "../store/leadership.ts";
import type { EtcdClient, EtcdKeys } from "../store/etcd/client.ts";
import { explained } from "../store/etcd/sink.ts";
import type { JobStore } from "./jobstore.ts";
import { jobRow } from "./writer.ts";

/** Jobs a txn archives at most: two keys each, under etcd's 128 operations. */
const ARCHIVE_CHUNK = 60;
/** Id allocations in flight at once (one txn each). */
const ALLOCATE_CONCURRENCY = 16;

export class EtcdJobStore implements JobStore {
  private readonly client: EtcdClient;
  private readonly keys: EtcdKeys;
  private readonly log: DurableLog;
  private readonly leadership: Leadership;
  /** Every job held (active and archived), as last made durable. */
  private readonly stored = new Map<number, string>();
  private readonly archived = new Set<number>();
  private lastId = 0;
  /** The etcd revision the jobs held are at (loaded or followed). */
  private revision = 0;
  private watcher: Watcher | undefined;
  private closed = false;

  private constructor(client: EtcdClient, keys: EtcdKeys, log: DurableLog, leadership: Leadership) {
    this.client = client;
    this.keys = keys;
    this.log = log;
    this.leadership = leadership;
  }

  static async open(client: EtcdClient, keys: EtcdKeys, log: DurableLog, leadership: Leadership): Promise<EtcdJobStore> {
    const store = new EtcdJobStore(client, keys, log, leadership);
    await store.reload();
    return store;
  }

  /** Reads every job and the highest id again (a new leader, before it loads the queue). */
  async reload(): Promise<void> {
    const idKey = (key: Buffer) => Number(key.toString().slice(-16));
    const active = await this.client.list(this.keys.jobs);
    const archived = await this.client.list(this.keys.archivedJobs, active.revision);
    const ids = await this.client.etcd.kv.range({ key: Buffer.from(this.keys.jobIds), revision: active.revision });
    this.stored.clear();
    this.archived.clear();
    for (const kv of active.kvs) this.stored.set(idKey(kv.key), kv.value.toString());
    for (const kv of archived.kvs) {
      this.stored.set(idKey(kv.key), kv.value.toString());
      this.archived.add(idKey(kv.key));
    }
    this.lastId = Math.max(this.lastId, Number(ids.kvs[0]?.mod_revision ?? 0), ...this.stored.keys());
    this.revision = active.revision;
  }

  /**
   * A standby's copy: applies the leader's job writes as they come (ignored while this master
   * leads), telling `shown` of each (undefined: archived). When etcd cancels the watch
   * (compaction), reads everything again, tells `reloaded`, and follows on.
   */
  async follow(listener: { shown(id: number, job: Job | undefined): void; reloaded(): void }): Promise<void> {
    if (this.watcher || this.closed) return;
    const idOf = (key: string) => Number(key.slice(-16));
    // "…/jobs" covers jobs/ and jobs-archived/ (and not job-ids).
    const prefix = this.keys.jobs.slice(0, -1);
    const watcher = await this.client.watch(
      prefix,
      this.revision + 1,
      (res) => {
        for (const e of res.events) {
          this.revision = Math.max(this.revision, Number(e.kv.mod_revision));
          if (this.leading()) continue;
          const key = e.kv.key.toString();
          const id = idOf(key);
          const archived = key.startsWith(this.keys.archivedJobs);
          if (e.type === "Delete") {
            // An archived job pruned; an active one's delete comes with its archived copy's put.
            if (archived) {
              this.stored.delete(id);
              this.archived.delete(id);
            }
            continue;
          }
          const data = e.kv.value.toString();
          this.stored.set(id, data);
          this.lastId = Math.max(this.lastId, id);
          if (archived) this.archived.add(id);
          listener.shown(id, archived ? undefined : (JSON.parse(data) as Job));
        }
      },
      () => {
        if (this.watcher !== watcher) return;
        this.watcher = undefined;
        void watcher.cancel().catch(() => undefined);
        void this.reload()
          .then(() => {
            listener.reloaded();
            return this.follow(listener);
          })
          .catch(() => undefined);
      },
    );
    this.watcher = watcher;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
  }

  private leading(): boolean {
    return this.leadership.epoch !== undefined;
  }

  async allocateIds(count: number): Promise<number[]> {
    this.leadership.fence();
    // A new leader takes submissions once it has loaded the queue (its reload would drop them).
    if (!this.leadership.ready) throw new NotLeaderError(TAKING_OVER);
    const ids: number[] = [];
    for (let done = 0; done < count; done += ALLOCATE_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(ALLOCATE_CONCURRENCY, count - done) }, () => this.allocateOne());
      ids.push(...(await Promise.all(batch)));
    }
    ids.sort((a, b) => a - b);
    this.lastId = Math.max(this.lastId, ids[ids.length - 1] ?? 0);
    return ids;
  }

  highestId(): number {
    return this.lastId;
  }

  get commits(): number {
    return this.log.commits;
  }

  write(job: Job): Promise<void> {
    const data = jobRow(job);
    return this.log.append([{ t: "kv", key: this.keys.job(job.id), value: data }]).then(() => {
      if (!this.archived.has(job.id)) this.stored.set(job.id, data);
    });
  }

  async archive(ids: readonly number[]): Promise<void> {
    const writes: Promise<void>[] = [];
    for (let i = 0; i < ids.length; i += ARCHIVE_CHUNK) {
      const chunk = ids.slice(i, i + ARCHIVE_CHUNK).filter((id) => this.stored.has(id) && !this.archived.has(id));
      const rows = chunk.map((id) => [id, JSON.stringify({ ...(JSON.parse(this.stored.get(id) as string) as Job), archived: true })] as const);
      const ops: WriteOp[] = rows.flatMap(([id, data]) => [
        { t: "kv" as const, key: this.keys.archivedJob(id), value: data },
        { t: "kv" as const, key: this.keys.job(id), value: null },
      ]);
      writes.push(
        this.log.append(ops).then(() => {
          for (const [id, data] of rows) {
            this.stored.set(id, data);
            this.archived.add(id);
          }
        }),
      );
    }
    await Promise.all(writes);
  }

  /** Deletes the oldest archived jobs beyond the newest `keep`; resolves with how many went. */
  async pruneArchived(keep: number): Promise<number> {
    const old = [...this.archived].sort((a, b) => a - b).slice(0, Math.max(0, this.archived.size - keep));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < old.length; i += 2 * ARCHIVE_CHUNK) {
      const chunk = old.slice(i, i + 2 * ARCHIVE_CHUNK);
      writes.push(
        this.log.append(chunk.map((id) => ({ t: "kv" as const, key: this.keys.archivedJob(id), value: null }))).then(() => {
          for (const id of chunk) {
            this.stored.delete(id);
            this.archived.delete(id);
          }
        }),
      );
    }
    await Promise.all(writes);
    return old.length;
  }

  loadOne(id: number): Job | undefined {
    const data = this.stored.get(id);
    return data === undefined ? undefined : (JSON.parse(data) as Job);
  }

  loadAll(): Job[] {
    return [...this.stored]
      .filter(([id]) => !this.archived.has(id))
      .sort(([a], [b]) => a - b)
      .map(([, data]) => JSON.parse(data) as Job);
  }

  /** One id: the revision of a fenced txn that touches the id key (written by the leader alone). */
  private async allocateOne(): Promise<number> {
    const epoch = this.leadership.fence();
    const res = await this.client.etcd.kv
      .txn({
        compare: [{ key: Buffer.from(this.keys.leader), target: "Create", result: "Equal", create_revision: epoch }],
        success: [{ request_put: { key: Buffer.from(this.keys.jobIds), value: Buffer.from("") } }],
      })
      .catch((err: unknown) => {
        throw explained(err);
      });
    if (!res.succeeded) throw new NotLeaderError(`fenced out: the leader key no longer has create revision ${epoch}`);
    return Number(res.header.revision);
  }
}

// The job queue on etcd: active jobs at /corral/<cluster>/jobs/<id>, archived ones moved to
// jobs-archived/<id> and pruned to the newest N, so that finished jobs do not fill etcd (a
// full etcd refuses every write: ETCD-FACTS §3.6). Job states go through the durable log, in
// order with config transactions and in the same fenced txns. Job ids come from blocks the
// leader reserves in fenced txns (the `job-ids` key holds the highest id reserved): only the
// fenced leader writes that key, so nobody contends on it, and a block serves many jobs (one
// txn per job id was 1 of the 1.3 raft proposals a tag job cost, bench/ha.ts). A new leader
// reserves above the dead leader's mark: ids stay unique and increasing across failovers,
// with a gap for the block's unused rest.
//
// Reads are synchronous (JobStore), so the store keeps the jobs it holds in memory; pruning
// bounds the archived ones.

import type { IKeyValue } from "etcd3";
import type { Job } from "../model/job.ts";
import type { DurableLog, WriteOp } from "../store/durable.ts";
import { NotLeaderError, TAKING_OVER, type Leadership } from "../store/leadership.ts";
import type { EtcdClient, EtcdKeys } from "../store/etcd/client.ts";
import type { FedCopy } from "../store/etcd/feed.ts";
import { explained } from "../store/etcd/sink.ts";
import type { JobStore } from "./jobstore.ts";
import { jobRow } from "./record.ts";

/** Jobs a txn archives at most: two keys each, under etcd's 128 operations. */
const ARCHIVE_CHUNK = 60;
/**
 * Archived jobs kept (the newest): every master holds them in memory, and etcd's space is
 * bounded. SQLite mode keeps all of them, as Ganeti keeps its archive on disk.
 */
export const ARCHIVED_JOBS_KEPT = 10_000;
/** Job ids a leader reserves at once (at least what one submission asks for). */
const ID_BLOCK = 256;

export class EtcdJobStore implements JobStore {
  private readonly client: EtcdClient;
  private readonly keys: EtcdKeys;
  private readonly log: DurableLog;
  private readonly leadership: Leadership;
  /** Every job held (active and archived), as last made durable. */
  private readonly stored = new Map<number, string>();
  private readonly archived = new Set<number>();
  private lastId = 0;
  /** The next id to hand out and the last one reserved (nothing reserved while next > reservedTo). */
  private nextId = 1;
  private reservedTo = 0;
  /** The block reservation under way: allocations wait for it rather than reserving twice. */
  private reserving: Promise<void> | undefined;
  /** The etcd revision the jobs held are at (loaded or followed). */
  private revision = 0;
  private readonly keepArchived: number;

  private constructor(client: EtcdClient, keys: EtcdKeys, log: DurableLog, leadership: Leadership, keepArchived: number) {
    this.client = client;
    this.keys = keys;
    this.log = log;
    this.leadership = leadership;
    this.keepArchived = keepArchived;
  }

  /** `keepArchived`: archiving prunes the archive to its newest this many. */
  static async open(client: EtcdClient, keys: EtcdKeys, log: DurableLog, leadership: Leadership, keepArchived = ARCHIVED_JOBS_KEPT): Promise<EtcdJobStore> {
    const store = new EtcdJobStore(client, keys, log, leadership, keepArchived);
    await store.reload();
    return store;
  }

  /** Reads every job and the highest id again (a new leader without a hot copy, before it loads the queue). */
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
    // A loop, not Math.max(...ids): past ~125,000 arguments a call overflows the stack.
    for (const id of this.stored.keys()) if (id > this.lastId) this.lastId = id;
    this.reserveAbove(ids.kvs[0]);
    this.revision = active.revision;
  }

  /**
   * A new leader whose copy is the store as of its fence (the feed brought everything up to
   * it): only the id mark, which the copy does not follow, is read.
   */
  async takeOver(): Promise<void> {
    const ids = await this.client.etcd.kv.range({ key: Buffer.from(this.keys.jobIds) });
    this.reserveAbove(ids.kvs[0]);
  }

  /** Nothing reserved is ours until we reserve above every earlier leader's mark (the `job-ids` key). */
  private reserveAbove(mark: IKeyValue | undefined): void {
    // Before blocks, ids were the key's revisions.
    const reserved = mark === undefined ? 0 : Number(mark.value.toString()) || Number(mark.mod_revision);
    this.reservedTo = Math.max(this.lastId, reserved);
    this.nextId = this.reservedTo + 1;
  }

  /**
   * A standby's copy, for the feed (store/etcd/feed.ts, which stops while this master leads):
   * applies the leader's job writes as they come, telling `shown` of each (undefined:
   * archived); after a reload, `reloaded`.
   */
  copyFor(listener: { shown(id: number, job: Job | undefined): void; reloaded(): void }): FedCopy {
    const idOf = (key: string) => Number(key.slice(-16));
    const store = this;
    return {
      // "…/jobs" covers jobs/ and jobs-archived/ (and not job-ids).
      prefix: this.keys.jobs.slice(0, -1),
      get revision() {
        return store.revision;
      },
      reload: () => this.reload(),
      reloaded: () => listener.reloaded(),
      apply: (events) => {
        for (const e of events) {
          this.revision = Math.max(this.revision, Number(e.kv.mod_revision));
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
    };
  }

  async allocateIds(count: number): Promise<number[]> {
    this.leadership.fence();
    // A new leader takes submissions once it has loaded the queue (its reload would drop them).
    if (!this.leadership.ready) throw new NotLeaderError(TAKING_OVER);
    while (this.reservedTo - this.nextId + 1 < count) {
      this.reserving ??= this.reserve(count).finally(() => (this.reserving = undefined));
      await this.reserving;
    }
    const ids = Array.from({ length: count }, (_, i) => this.nextId + i);
    this.nextId += count;
    this.lastId = Math.max(this.lastId, ids[ids.length - 1] ?? 0);
    return ids;
  }

  highestId(): number {
    return this.lastId;
  }

  get commits(): number {
    return this.log.commits;
  }

  write(job: Job, submitted = false): Promise<void> {
    const data = jobRow(job);
    return this.log.append([{ t: "kv", key: this.keys.job(job.id), value: data }], submitted).then(() => {
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
    if (this.archived.size > this.keepArchived) await this.pruneArchived(this.keepArchived);
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

  /**
   * Reserves the next block (at least `count` ids) in a fenced txn: the mark moves on only while
   * this master's leader key stands, so no other leader's block can overlap it.
   */
  private async reserve(count: number): Promise<void> {
    const epoch = this.leadership.fence();
    const from = this.reservedTo + 1;
    const to = this.reservedTo + Math.max(ID_BLOCK, count);
    const res = await this.client.etcd.kv
      .txn({
        compare: [{ key: Buffer.from(this.keys.leader), target: "Create", result: "Equal", create_revision: epoch }],
        success: [{ request_put: { key: Buffer.from(this.keys.jobIds), value: Buffer.from(String(to)) } }],
      })
      .catch((err: unknown) => {
        throw explained(err);
      });
    if (!res.succeeded) throw new NotLeaderError(`fenced out: the leader key no longer has create revision ${epoch}`);
    // What was left of the previous block is skipped (ids only grow).
    this.nextId = Math.max(this.nextId, from);
    this.reservedTo = to;
  }
}

// The etcd backend's parts put together for one master: a client with the measured fault
// policy, the leader lease whose fence every write carries, one durable log whose batches
// become fenced etcd txns, the config, the job store, the API tokens and the masters' own
// records, and a watch on who leads. `corral master --store etcd://…` opens them through
// store/backend.ts (the audit trail stays in each master's own SQLite file).

import { EtcdJobStore } from "../../jobs/etcd.ts";
import type { Job } from "../../model/job.ts";
import { DurableLog } from "../durable.ts";
import { EtcdClient, EtcdKeys, type EtcdOptions } from "./client.ts";
import { Compactor, DEFAULT_COMPACT_INTERVAL_MS } from "./compactor.ts";
import { EtcdConfigStore } from "./config.ts";
import { StandbyFeed } from "./feed.ts";
import { EtcdLease } from "./lease.ts";
import { LeaderWatch } from "./leader.ts";
import { EtcdTokenStore, PrefixCopy } from "./records.ts";
import { EtcdLoginFailures } from "./login-failures.ts";
import { EtcdSessionRecords } from "./sessions.ts";
import { SharedFiles } from "./shared.ts";
import { ETCD_BATCH_LIMIT, EtcdNoSpaceError, EtcdSink } from "./sink.ts";

/**
 * The longest a batch waits for the clients the last one answered (store/gather.ts): in the
 * tag-job burst a txn then carries twice the jobs. The wait is also never over the last
 * commit's own time.
 */
const GATHER_MS = 10;
/** How long a new leader waits for its feed to reach the fence before it reads everything again instead. */
const HOT_COPY_WAIT_MS = 1000;

export interface EtcdStoreOptions extends EtcdOptions {
  /** The cluster's key prefix: /corral/<cluster>/. */
  cluster: string;
  /** This master's name (the leader key's value while it leads). */
  name: string;
  ttlSeconds?: number;
  livenessTtlSeconds?: number;
  /** How often the leader compacts etcd's history (compactor.ts); 0: never (etcd's own --auto-compaction-* does). */
  compactIntervalMs?: number;
  /** Archived jobs kept in etcd (EtcdJobStore; default ARCHIVED_JOBS_KEPT). */
  keepArchivedJobs?: number;
  /** A compaction failed (the next interval tries again). */
  onCompactionError?: (err: Error) => void;
  /** A standby's following broke (etcd cancelled its watch, or reading again failed) and is being restarted. */
  onFollowError?: (err: Error) => void;
}

export interface EtcdStores {
  readonly client: EtcdClient;
  readonly keys: EtcdKeys;
  readonly leadership: EtcdLease;
  readonly sink: EtcdSink;
  readonly log: DurableLog;
  readonly config: EtcdConfigStore;
  readonly jobs: EtcdJobStore;
  readonly tokens: EtcdTokenStore;
  /** Web console sessions, followed on every master. */
  readonly sessions: EtcdSessionRecords;
  /** Failed web console logins, counted across masters. */
  readonly loginFailures: EtcdLoginFailures;
  /** The prefix of the masters' own records (EtcdRecord). */
  readonly meta: PrefixCopy;
  /** Who leads, as the leader key says (started by the caller that needs it). */
  readonly leader: LeaderWatch;
  /** What every master holds alike: certificates, users, pvc-api.yaml. */
  readonly shared: SharedFiles;
  readonly compactor: Compactor;
  readonly feed: StandbyFeed;
  /**
   * Keeps this master's copy (config, jobs, tokens, records) hot while it stands by: the jobs'
   * changes are told to `jobs`. Stops while it leads, and reads everything again when it stops leading.
   */
  follow(jobs: { shown(id: number, job: Job | undefined): void; reloaded(): void }): Promise<void>;
  close(): Promise<void>;
}

export async function openEtcdStores(o: EtcdStoreOptions): Promise<EtcdStores> {
  const client = new EtcdClient(o);
  try {
    const keys = new EtcdKeys(o.cluster);
    const leadership = new EtcdLease(client, { key: keys.leader, name: o.name, ttlSeconds: o.ttlSeconds, livenessTtlSeconds: o.livenessTtlSeconds });
    const sink = new EtcdSink(client, keys.leader, leadership);
    const log = new DurableLog(sink, leadership, ETCD_BATCH_LIMIT, GATHER_MS);
    const config = await EtcdConfigStore.open(client, keys, log);
    const jobs = await EtcdJobStore.open(client, keys, log, leadership, o.keepArchivedJobs);
    const tokenCopy = new PrefixCopy(client, keys.tokens);
    const meta = new PrefixCopy(client, keys.meta);
    await Promise.all([tokenCopy.load(), meta.load()]);
    const tokens = new EtcdTokenStore(tokenCopy, log, leadership);
    // A client of its own: with a second watcher on the config's client, etcd3 never resumes
    // the config's watch after a compaction (src/store/etcd/etcd.test.ts, "compacted away").
    const sessionClient = new EtcdClient(o);
    const sessions = await EtcdSessionRecords.open(sessionClient, keys.sessions).catch((err: unknown) => {
      sessionClient.close();
      throw err;
    });
    const leader = new LeaderWatch(client, keys.leader);
    const shared = new SharedFiles(client, keys.root);
    const compactor = new Compactor(client, leadership, o.compactIntervalMs ?? DEFAULT_COMPACT_INTERVAL_MS, (err) => o.onCompactionError?.(err));
    const feed = new StandbyFeed(client, keys.root, (err) => o.onFollowError?.(err));
    // A new leader starts from what is committed past its fence: nothing an earlier leader
    // wrote is missing, and nothing it tries now gets in. A standby's copy holds that once the
    // feed brought its own campaign's revision (the fence): then only the job id mark is read;
    // otherwise (no feed, or it lags) everything is read again. Leading, it writes every change
    // itself: no watch brings them back.
    leadership.onEstablish(async (epoch) => {
      const hot = await feed.reached(epoch, HOT_COPY_WAIT_MS);
      feed.stop();
      if (hot) return jobs.takeOver();
      await config.catchUp();
      await jobs.reload();
      await Promise.all([tokenCopy.load(), meta.load()]);
    });
    // A failed batch (fenced out, etcd unreachable past the retries) ends this term. A full
    // etcd does not: it refuses every master's writes alike, so this one stays leader, serves
    // reads, and refuses writes with the reason until an operator frees space.
    log.onFailure((err) => {
      if (!(err instanceof EtcdNoSpaceError)) leadership.revoke(`cannot write to etcd: ${err instanceof Error ? err.message : String(err)}`);
    });
    // A former leader stands by: once its last batch settled (committed or refused), it reads
    // what the new leader has and follows on.
    leadership.onRevoke(() => feed.resume(() => log.flush()));
    return {
      client,
      keys,
      leadership,
      sink,
      log,
      config,
      jobs,
      tokens,
      sessions,
      loginFailures: new EtcdLoginFailures(sessionClient, keys.loginFailures, o.name),
      meta,
      leader,
      shared,
      compactor,
      feed,
      follow: (jobListener) => feed.start([config, jobs.copyFor(jobListener), tokenCopy, meta]),
      async close() {
        feed.close();
        await log.flush();
        await config.close();
        await sessions.close();
        sessionClient.close();
        await Promise.all([leader.close(), shared.close()]);
        await leadership.close();
        await log.close();
        client.close();
      },
    };
  } catch (err) {
    client.close();
    throw err;
  }
}

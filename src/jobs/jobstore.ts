// Where the job queue keeps its jobs: the interface a backend implements (SQLite's is in
// writer.ts; an etcd one keeps jobs and their logs under a prefix of their own). Writes are
// fenced like config transactions: refused (NotLeaderError) while this master does not lead.

import type { Job } from "../model/job.ts";

export interface JobStore {
  /**
   * Ids for `count` new jobs, increasing, never handed out before in this cluster. SQLite
   * counts on from the highest id stored; etcd takes them from the revision of the txn that
   * creates the jobs (no hot counter key). Refused while not leading. A backend that knows
   * them at once returns them as they are: the submission then waits no turn for them.
   */
  allocateIds(count: number): number[] | Promise<number[]>;
  /** The highest id handed out so far (a new filter rule's watermark; ids above it do not exist). */
  highestId(): number;
  /**
   * Queues the job's state for writing, in order with the config's transactions: a job that
   * reports a config change is written after that change. Resolves once it is durable.
   * `submitted`: the job's first write, whose durability answers the client that submitted it.
   */
  write(job: Job, submitted?: boolean): Promise<void>;
  /** Marks jobs archived: they leave the active queue but stay readable by id. */
  archive(ids: readonly number[]): Promise<void>;
  /** Any job by id, archived ones included. */
  loadOne(id: number): Job | undefined;
  /** The active (unarchived) jobs, by id; the id counter moves past them. */
  loadAll(): Job[];
  /** Write batches committed so far (benchmarks and tests of batching). */
  readonly commits: number;
}

// What the RAPI handlers use of the master, handed over by its composition (src/master):
// the config, the job queue to submit to and read jobs from, the runtime state, the locks'
// view, and the reads Ganeti serves from nodes (console, exports). Handlers never reach a
// node or take a lock themselves.

import type { LockInfo } from "../../jobs/locks.ts";
import type { JobQueue } from "../../jobs/queue.ts";
import type { LiveState } from "../../query/live.ts";
import type { NodeReads } from "../../query/nodereads.ts";
import type { StoreProblem } from "../../store/backend.ts";
import type { ConfigSnapshot, ConfigStore } from "../../store/store.ts";

export interface RapiServices {
  readonly store: ConfigStore;
  readonly queue: JobQueue;
  readonly live: LiveState;
  /** The locks held and wanted now (/2/query/lock). */
  lockInfo(): LockInfo[];
  readonly nodeReads: NodeReads;
  /** The /2/info dict (Ganeti's QueryClusterInfo) for a snapshot. */
  clusterInfo(snap: ConfigSnapshot): Record<string, unknown>;
  /** The store's active alarms (etcd NOSPACE) as last checked; absent or undefined: none. */
  storeProblem?(): StoreProblem | undefined;
}

// What the RAPI handlers use of the master.

import type { JobQueue } from "../../jobs/queue.ts";
import type { ConfigSnapshot, ConfigStore } from "../../store/store.ts";

export interface RapiServices {
  readonly store: ConfigStore;
  readonly queue: JobQueue;
  /** The /2/info dict (Ganeti's QueryClusterInfo) for a snapshot. */
  clusterInfo(snap: ConfigSnapshot): Record<string, unknown>;
}

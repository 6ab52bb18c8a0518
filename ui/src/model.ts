// The shapes the console reads: RAPI's bulk fields (as /2/instances?bulk=1 and /2/nodes?bulk=1
// answer them) and the event stream's events (/corral/1/events). Only what the pages use; job
// statuses, log entries and progress lines are the master's own definitions (src/model),
// bundled in.

import type { JobStatus, Timestamp, LogEntry } from "../../src/model/job.ts";
export type { LogEntry } from "../../src/model/job.ts";
export { FINALIZED } from "../../src/model/job.ts";
export { parseProgressLine } from "../../src/model/progress.ts";

export interface NodeRow {
  name: string;
  role: string;
  offline: boolean;
  drained: boolean;
  master_candidate: boolean;
  mtotal: number | null;
  mfree: number | null;
  mnode: number | null;
  dtotal: number | null;
  dfree: number | null;
  ctotal: number | null;
  pinst_cnt: number;
  sinst_cnt: number;
  "group.uuid": string;
  pip: string;
  serial_no: number;
}

export interface InstanceRow {
  name: string;
  status: string;
  admin_state: string;
  oper_state: boolean | null;
  pnode: string;
  snodes: string[];
  os: string;
  disk_template: string;
  beparams: { maxmem?: number; minmem?: number; memory?: number; vcpus?: number };
  hvparams: Record<string, unknown>;
  "disk.sizes": number[];
  "disk.names": (string | null)[];
  "nic.macs": string[];
  "nic.ips": (string | null)[];
  "nic.modes": string[];
  "nic.links": string[];
  network_port: number | null;
  tags: string[];
  uuid: string;
  serial_no: number;
  ctime: number;
  mtime: number;
}

export interface GroupRow {
  name: string;
  uuid: string;
  node_cnt: number;
  alloc_policy: string;
  serial_no: number;
}

export interface JobRow {
  id: number;
  status: JobStatus;
  summary: string[];
  received_ts: Timestamp | null;
  start_ts: Timestamp | null;
  end_ts: Timestamp | null;
}

export interface JobDetail extends JobRow {
  ops: Record<string, unknown>[];
  opstatus: string[];
  opresult: unknown[];
  oplog: LogEntry[][];
}

/** An `instance`, `node`, `group` or `network` event. */
export interface ObjectEvent {
  kind: string;
  name: string;
  uuid: string;
  serial_no: number | null;
  change: "created" | "changed" | "removed";
}

/** A `job` event. */
export interface JobEvent extends JobRow {
  change: "submitted" | "status" | "log";
  log?: LogEntry[];
}

/** The memory an instance is given (maxmem; `memory` on old clusters). */
export const instanceMemory = (i: InstanceRow): number => i.beparams.maxmem ?? i.beparams.memory ?? 0;
export const instanceVcpus = (i: InstanceRow): number => i.beparams.vcpus ?? 0;


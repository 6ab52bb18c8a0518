// A logical unit does one opcode's work in two phases, as Ganeti's do: checkPrereq reads
// the config and fails with an OpPrereqError (nothing changed); exec does the work (node
// calls, config transaction) and cleans up what it made if it fails.

import type { LockRequest } from "../jobs/locks.ts";
import type { Opcode, OpcodeDef } from "../model/opcode.ts";
import type { ParamSpec } from "../model/params.ts";
import type { Node } from "../model/objects.ts";
import type { LiveView } from "../query/live.ts";
import type { NodeRpcClient } from "../rpc/index.ts";
import type { ConfigSnapshot, ConfigStore } from "../store/store.ts";

/** What a logical unit may use of the master. */
export interface MasterServices {
  readonly store: ConfigStore;
  /**
   * Submits further jobs (node evacuation, multi-alloc); resolves once they are durable.
   * `authority`: the API token they act for (null: none), checked as a request's would be.
   */
  submitJobs(jobs: Opcode[][], options?: { authority?: { token: string } | null }): Promise<number[]>;
  /** The RPC client of a node's agent. */
  node(node: Pick<Node, "uuid" | "name" | "agent_endpoint">): NodeRpcClient;
  readonly live: LiveView;
}

export interface LuContext<S extends ParamSpec> {
  readonly op: Opcode<S>;
  readonly jobId: number;
  readonly master: MasterServices;
  /** The committed config now (the job holds its locks). */
  snapshot(): ConfigSnapshot;
  /** A line in the job's log (oplog), shown to clients polling the job. */
  feedback(message: string): void;
  readonly signal: AbortSignal;
}

export interface LogicalUnit<S extends ParamSpec = ParamSpec, P = unknown> {
  readonly opcode: OpcodeDef<S>;
  /** Locks to hold while the opcode runs, worked out from the opcode and the config. */
  locks(op: Opcode<S>, snap: ConfigSnapshot): LockRequest;
  checkPrereq(ctx: LuContext<S>): P;
  exec(ctx: LuContext<S>, prepared: P): unknown;
  /** The job result of a dry run; null unless the LU says otherwise. */
  dryRunResult?(ctx: LuContext<S>, prepared: P): unknown;
}

export function defineLU<S extends ParamSpec, P>(lu: LogicalUnit<S, P>): LogicalUnit<S, P> {
  return lu;
}

/** Ganeti's LogWarning: a job log line an operator should read. */
export function logWarning(ctx: { feedback(message: string): void }, message: string): void {
  ctx.feedback(` - WARNING: ${message}`);
}

/** Ganeti's LogInfo. */
export function logInfo(ctx: { feedback(message: string): void }, message: string): void {
  ctx.feedback(` - INFO: ${message}`);
}

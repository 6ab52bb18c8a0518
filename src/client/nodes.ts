// Joining nodes through the master's Corral resource (/corral/1/nodes), as `corral node add`
// and the multi-node test clusters do it: submit the job, follow its log, and fail with the
// job's error when it fails.

import { jobErrorText, type JobLogEntry, type RapiClient } from "./rapi.ts";

export interface NodeJoinSpec {
  name: string;
  /** The node agent, "https://host:port" (a re-added node may keep its old one). */
  endpoint?: string;
  group?: string;
  primaryIp?: string;
  secondaryIp?: string;
  masterCapable?: boolean;
  vmCapable?: boolean;
  readd?: boolean;
}

/** A job that ended in error or was canceled. */
export class JobFailedError extends Error {
  readonly job: Record<string, unknown>;
  constructor(job: Record<string, unknown>) {
    super(jobErrorText(job));
    this.job = job;
  }
}

async function runJob(client: RapiClient, submitted: unknown, onLog?: (entry: JobLogEntry) => void): Promise<Record<string, unknown>> {
  if (typeof submitted !== "number") throw new Error(`expected a job id from the master, got ${JSON.stringify(submitted)}`);
  const job = await client.waitForJob(submitted, onLog);
  if (job.status !== "success") throw new JobFailedError(job);
  return job;
}

/** The body of POST /corral/1/nodes (OP_NODE_ADD) for a join. */
export function nodeJoinBody(spec: NodeJoinSpec): Record<string, unknown> {
  const body: Record<string, unknown> = { node_name: spec.name };
  if (spec.endpoint !== undefined) body.agent_endpoint = spec.endpoint;
  if (spec.group !== undefined) body.group = spec.group;
  if (spec.primaryIp !== undefined) body.primary_ip = spec.primaryIp;
  if (spec.secondaryIp !== undefined) body.secondary_ip = spec.secondaryIp;
  if (spec.masterCapable !== undefined) body.master_capable = spec.masterCapable;
  if (spec.vmCapable !== undefined) body.vm_capable = spec.vmCapable;
  if (spec.readd) body.readd = true;
  return body;
}

export async function addNode(client: RapiClient, spec: NodeJoinSpec, onLog?: (entry: JobLogEntry) => void): Promise<Record<string, unknown>> {
  return runJob(client, await client.request("POST", "/corral/1/nodes", nodeJoinBody(spec)), onLog);
}

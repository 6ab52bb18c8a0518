// What the HTTP side tells the audit trail (src/master/audit.ts keeps it): who wrote what,
// from where, and how it ended. Request bodies never go in: only the opcode ids and targets
// of the jobs a request submitted, which the trail learns from the job queue.

import type { IncomingMessage } from "node:http";
import type { AuditJob, AuditRecord } from "../../model/audit.ts";

export type { AuditJob, AuditRecord } from "../../model/audit.ts";

/** A request while it is handled; the trail fills `jobs` as the handler submits them. */
export interface AuditNote {
  method: string;
  route: string;
  params: Readonly<Record<string, string>>;
  user: string | null;
  source: string;
  jobs: AuditJob[];
  /** Set by the trail once the request is answered (a flag, not a WeakSet: ephemerons doubled the burst's GC time). */
  answered?: boolean;
}

/** The trail as the API servers use it. */
export interface RequestAudit {
  /** Runs a handler so that the jobs it submits are credited to its request. */
  within<T>(note: AuditNote, fn: () => T): T;
  /** The request was answered with `status`: writes and refusals are kept, reads that submitted no job are not. */
  answered(note: AuditNote, status: number): void;
  /** An action outside the route tables (web console logins and consoles); `message` is its log line. */
  event(event: AuditEvent, message?: string): void;
}

/** What the web console reports: a record but for the trail's id and time, and no jobs. */
export type AuditEvent = Omit<AuditRecord, "id" | "time" | "jobs">;

export interface AuditFilter {
  since?: number;
  until?: number;
  user?: string;
  object?: string;
  kind?: string;
  limit: number;
}

export interface AuditReader {
  /** Newest first. */
  query(filter: AuditFilter): Promise<AuditRecord[]>;
}

/**
 * Where a request came from, for the trail: the peer's address, and the client a Forwarded
 * header names (set by a standby master that forwarded the request: forward.ts) as a claim
 * beside it, since any client can send that header.
 */
export function requestSource(req: IncomingMessage): string {
  const peer = req.socket.remoteAddress ?? "";
  const header = req.headers.forwarded;
  if (header === undefined) return peer;
  const claimed = /(?:^|[;,\s])for="?\[?([0-9A-Za-z.:_-]{1,64})\]?"?(?:[;,\s]|$)/i.exec(header)?.[1];
  return `${peer} (forwarded for ${claimed ?? "an unreadable address"}, as claimed)`;
}

/** The object kind a path parameter names (in order: the first one a path has wins). */
const PARAM_KINDS: readonly (readonly [param: string, kind: string])[] = [
  ["instance_name", "instance"],
  ["node_name", "node"],
  ["group_name", "group"],
  ["network_name", "network"],
  ["filter_uuid", "filter"],
  ["job_id", "job"],
  // The PVC API's names.
  ["vm", "instance"],
  ["node", "node"],
  ["network", "network"],
];

/** The object a request's path names: its first parameter of a known kind. */
export function pathObject(params: Readonly<Record<string, string>>): { kind: string; name: string } | undefined {
  for (const [param, kind] of PARAM_KINDS) {
    const name = params[param];
    if (name !== undefined) return { kind, name };
  }
  return undefined;
}

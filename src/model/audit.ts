// An audit record: what the audit trail (src/master/audit.ts) keeps, the store writes
// (src/store/durable.ts, with `jobs` as JSON) and GET /corral/1/audit answers.

/** A job a request submitted: its opcode and target, and its final status once it ends. */
export interface AuditJob {
  id: number;
  opcode: string;
  /** The object the opcode names ("instance inst1.example.com"), when it names one. */
  target: string | null;
  /** success, error or canceled; null while the job runs. */
  status: string | null;
}

/** One audited action, as the trail stores it and /corral/1/audit answers it. */
export interface AuditRecord {
  id: number;
  /** Unix seconds. */
  time: number;
  /** The user (null: no valid credentials). */
  user: string | null;
  /** The client's address. */
  source: string;
  method: string;
  /** The route pattern (/2/instances/[instance_name]/tags), not the path. */
  route: string;
  /** The object the request names, from its path parameters or its job's opcode. */
  kind: string | null;
  object: string | null;
  /** What the web console did (login, console), where the route does not say it. */
  action: string | null;
  /** The HTTP status of the answer (101 for a console that opened). */
  status: number;
  jobs: AuditJob[];
}

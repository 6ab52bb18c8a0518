// Scoped API tokens: the bearer string, the stored record, and what a grant covers. One
// coverage rule (grantsCover) serves the route table's check and the job queue's check of the
// objects a job locks, so the two can never disagree.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const GRANT_KINDS = ["instance", "node", "group", "network", "cluster", "job", "filter", "*"] as const;
export type GrantKind = (typeof GRANT_KINDS)[number];
/** The kind of one object a check is about. */
export type ScopeKind = Exclude<GrantKind, "*">;
export type GrantAccess = "read" | "write";

export interface Grant {
  /** write implies read. */
  access: GrantAccess;
  kind: GrantKind;
  /** Exact object names (instance and node names as RAPI shows them); absent: any. */
  names?: string[];
  /** The object carries every one of these tags; absent: any. */
  tags?: string[];
  /** Opcode families, "OP_INSTANCE_STARTUP" or a prefix "OP_INSTANCE_*"; absent: any. */
  opcodes?: string[];
}

/** A token as the store keeps it: never the secret, only its sha256. */
export interface TokenRecord {
  id: string;
  /** The users-file user whose rights bound the token's (re-read on every request). */
  owner: string;
  description: string;
  grants: Grant[];
  /** Unix seconds. */
  created: number;
  created_by: string;
  expires: number;
  /** sha256 of the secret, hex. */
  secret_sha256: string;
}

/** Tokens live at most this long. */
export const MAX_TOKEN_SECONDS = 366 * 86400;
const TOKEN_PREFIX = "corral_";
const ID_CHARS = "abcdefghijklmnopqrstuvwxyz234567";
/** corral_<12 base32 chars>_<43 base64url chars (32 bytes)>. */
export const TOKEN_PATTERN = /^corral_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;

export function newTokenId(): string {
  return [...randomBytes(12)].map((b) => ID_CHARS[b & 31]).join("");
}

/** A fresh token for `id`: the string a client sends, and the hash to keep. */
export function newTokenSecret(id: string): { token: string; secretSha256: string } {
  const secret = randomBytes(32).toString("base64url");
  return { token: `${TOKEN_PREFIX}${id}_${secret}`, secretSha256: sha256(secret) };
}

/** [id, secret] of a token string, or undefined when it does not have a token's shape. */
export function splitToken(token: string): [string, string] | undefined {
  const m = TOKEN_PATTERN.exec(token);
  return m ? [m[1], m[2]] : undefined;
}

/** Whether `secret` is the one whose hash the record keeps (constant time: digests of equal size). */
export function secretMatches(record: Pick<TokenRecord, "secret_sha256">, secret: string): boolean {
  const want = Buffer.from(record.secret_sha256, "hex");
  const got = Buffer.from(sha256(secret), "hex");
  return want.length === got.length && timingSafeEqual(want, got);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** What a check is about: one object (its tags as the config has them; [] when it does not exist) or the whole kind. */
export type ScopeTarget = { name: string; tags: readonly string[] } | "all";

/**
 * Which opcode a check is for: an OP_ID (grants limited to other opcodes do not count),
 * "jobs" (a route whose write is made of jobs, which the queue checks by opcode: any grant
 * counts), or "none" (a write made in the request itself: only grants without an opcode list).
 */
export type OpcodeScope = string | "jobs" | "none";

export function grantCovers(g: Grant, access: GrantAccess, kind: ScopeKind, target: ScopeTarget, opcode: OpcodeScope): boolean {
  if (g.kind !== "*" && g.kind !== kind) return false;
  if (access === "write" && g.access !== "write") return false;
  if (g.opcodes && opcode !== "jobs" && (opcode === "none" || !g.opcodes.some((o) => opcodeMatches(o, opcode)))) return false;
  if (target === "all") return g.names === undefined && g.tags === undefined;
  if (g.names && !g.names.includes(target.name)) return false;
  return g.tags === undefined || g.tags.every((t) => target.tags.includes(t));
}

export function grantsCover(grants: readonly Grant[], access: GrantAccess, kind: ScopeKind, target: ScopeTarget, opcode: OpcodeScope): boolean {
  return grants.some((g) => grantCovers(g, access, kind, target, opcode));
}

function opcodeMatches(pattern: string, opId: string): boolean {
  return pattern.endsWith("*") ? opId.startsWith(pattern.slice(0, -1)) : pattern === opId;
}

/** The grants as they bind: an owner without write in the users file lends only read (the Proxmox rule). */
export function effectiveGrants(grants: readonly Grant[], ownerOptions: readonly string[]): Grant[] {
  if (ownerOptions.includes("write")) return [...grants];
  return grants.map((g) => ({ ...g, access: "read" }));
}

/** A grant list as a client sent it, checked: the message says which grant and field is wrong. */
export function validateGrants(input: unknown): Grant[] {
  if (!Array.isArray(input) || input.length === 0) throw new GrantError("'grants' must be a non-empty list of grants");
  return input.map((raw: unknown, i) => validateGrant(raw, `grants[${i}]`));
}

export class GrantError extends Error {}

const GRANT_FIELDS = new Set(["access", "kind", "names", "tags", "opcodes"]);

function validateGrant(raw: unknown, where: string): Grant {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new GrantError(`${where}: a grant is a dict`);
  const g = raw as Record<string, unknown>;
  const unknown = Object.keys(g).filter((k) => !GRANT_FIELDS.has(k));
  if (unknown.length > 0) throw new GrantError(`${where}: unknown field '${unknown[0]}' (fields: ${[...GRANT_FIELDS].join(", ")})`);
  if (g.access !== "read" && g.access !== "write") throw new GrantError(`${where}: 'access' must be "read" or "write"`);
  if (!(GRANT_KINDS as readonly unknown[]).includes(g.kind)) throw new GrantError(`${where}: 'kind' must be one of ${GRANT_KINDS.join(", ")}`);
  const grant: Grant = { access: g.access, kind: g.kind as GrantKind };
  for (const field of ["names", "tags", "opcodes"] as const) {
    const value = g[field];
    if (value === undefined) continue;
    if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v.length > 0)) {
      throw new GrantError(`${where}: '${field}' must be a non-empty list of strings`);
    }
    grant[field] = [...new Set(value as string[])];
  }
  for (const op of grant.opcodes ?? []) {
    if (!/^OP_[A-Z0-9_]*\*?$/.test(op)) throw new GrantError(`${where}: opcode '${op}' is neither an OP_ID nor a prefix ending in '*'`);
  }
  return grant;
}

/**
 * One grant as the CLI and README write it: `access:kind[:name=a,b][:tag=t1,t2][:op=OP_X,OP_Y_*]`
 * (Ganeti's tags and names never hold a comma).
 */
export function formatGrant(g: Grant): string {
  const parts: string[] = [g.access, g.kind];
  if (g.names) parts.push(`name=${g.names.join(",")}`);
  if (g.tags) parts.push(`tag=${g.tags.join(",")}`);
  if (g.opcodes) parts.push(`op=${g.opcodes.join(",")}`);
  return parts.join(":");
}

/**
 * The compact grant syntax (formatGrant's). A tag may hold ":" (team:web): a part that does
 * not start with name=, tag= or op= continues the previous one.
 */
export function parseGrant(text: string): Grant {
  const [access, kind, ...rest] = text.split(":");
  const raw: Record<string, unknown> = { access, kind };
  let field: "names" | "tags" | "opcodes" | undefined;
  let value = "";
  const finish = () => {
    if (field) raw[field] = value.split(",");
  };
  for (const part of rest) {
    const m = /^(name|tag|op)=(.*)$/.exec(part);
    if (m) {
      finish();
      field = m[1] === "name" ? "names" : m[1] === "tag" ? "tags" : "opcodes";
      value = m[2];
    } else if (field) value += `:${part}`;
    else throw new GrantError(`grant '${text}': expected name=…, tag=… or op=… after access:kind, not '${part}'`);
  }
  finish();
  try {
    return validateGrant(raw, `grant '${text}'`);
  } catch (err) {
    throw err instanceof GrantError ? err : new GrantError(String(err));
  }
}

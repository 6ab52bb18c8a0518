// Scoped API tokens: /corral/1/tokens for users-file write users (a token never manages
// tokens), and the gate the HTTP server and the job queue ask about a token. A token's rights
// are its grants bounded by its owner's users-file rights, read afresh on every request.

import type { AuthorityLookup } from "../../jobs/authority.ts";
import {
  effectiveGrants, GrantError, MAX_TOKEN_SECONDS, newTokenId, newTokenSecret, secretMatches, splitToken, validateGrants,
  type Grant, type ScopeKind, type TokenRecord,
} from "../../model/tokens.ts";
import { findObject } from "../../query/resolve.ts";
import type { ConfigStore } from "../../store/store.ts";
import type { TokenStore } from "../../store/tokens.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import { route, type Route } from "../http/routes.ts";
import type { ScopedObject, TokenCaller, TokenGate } from "../http/scope.ts";
import type { UsersFile } from "../http/users.ts";
import { isDict } from "../../model/dict.ts";

/** A token as the API shows it: never its secret or hash. */
export type TokenView = Omit<TokenRecord, "secret_sha256">;

const STORE_KINDS = { instance: "instance", node: "node", group: "nodegroup", network: "network" } as const;

export class ApiTokens implements TokenGate {
  private readonly store: TokenStore;
  private readonly users: UsersFile;
  private readonly config: ConfigStore;
  private readonly jobToken: (jobId: number) => string | undefined;
  private readonly now: () => number;

  /** `jobToken`: the token a job was submitted with (its submitter may follow and cancel it). */
  constructor(store: TokenStore, users: UsersFile, config: ConfigStore, jobToken: (jobId: number) => string | undefined, now: () => number = () => Date.now() / 1000) {
    this.store = store;
    this.users = users;
    this.config = config;
    this.jobToken = jobToken;
    this.now = now;
  }

  authenticate(token: string): TokenCaller | undefined {
    const parts = splitToken(token);
    const record = parts && this.store.get(parts[0]);
    if (!parts || !record || !secretMatches(record, parts[1])) return undefined;
    const grants = this.grantsOf(record);
    const owner = this.users.lookup(record.owner);
    return grants && owner ? { id: record.id, owner, grants } : undefined;
  }

  /** For the job queue: a token's grants now, undefined once it is revoked, expired or ownerless. */
  readonly authorities: AuthorityLookup = (id) => {
    const record = this.store.get(id);
    return record && this.grantsOf(record);
  };

  object(kind: ScopeKind, name: string): ScopedObject | undefined {
    const snap = this.config.snapshot();
    if (kind === "cluster") return { name: snap.cluster.name, tags: snap.cluster.tags };
    if (kind === "filter") return snap.filters.has(name) ? { name, tags: [] } : undefined;
    if (kind === "job") return { name, tags: [], submitter: this.jobToken(Number(name)) };
    const obj = findObject(snap, STORE_KINDS[kind], name);
    return obj && { name: obj.name, tags: obj.tags };
  }

  list(): TokenView[] {
    return [...this.store.all()].sort((a, b) => a.created - b.created).map(view);
  }

  show(id: string): TokenView {
    const record = this.store.get(id);
    if (!record) throw new HttpError(404, `API token ${id} not found`);
    return view(record);
  }

  /** Makes a token for `owner`; its secret is in this answer only. */
  async create(owner: string, body: unknown): Promise<TokenView & { token: string }> {
    const request = tokenRequest(body, this.now());
    const id = newTokenId();
    const { token, secretSha256 } = newTokenSecret(id);
    const record: TokenRecord = { id, owner, description: request.description, grants: request.grants, created: Math.floor(this.now()), created_by: owner, expires: request.expires, secret_sha256: secretSha256 };
    await this.store.put(record);
    return { ...view(record), token };
  }

  async revoke(id: string): Promise<TokenView> {
    const record = this.store.get(id);
    if (!record || !(await this.store.remove(id))) throw new HttpError(404, `API token ${id} not found`);
    return view(record);
  }

  private grantsOf(record: TokenRecord): Grant[] | undefined {
    if (record.expires <= this.now()) return undefined;
    const owner = this.users.lookup(record.owner);
    return owner && effectiveGrants(record.grants, owner.options);
  }
}

function view(record: TokenRecord): TokenView {
  const { secret_sha256: _hash, ...shown } = record;
  return shown;
}

const BODY_KEYS = ["description", "grants", "expires", "expires_in"];

/** A create request's fields, checked (400 in Ganeti's error body). */
function tokenRequest(body: unknown, now: number): { description: string; grants: Grant[]; expires: number } {
  if (!isDict(body)) throw badRequest("The body must be a dict with 'grants' and 'expires' or 'expires_in'");
  const unknown = Object.keys(body).filter((k) => !BODY_KEYS.includes(k));
  if (unknown.length > 0) throw badRequest(`Unknown field '${unknown[0]}'; a token takes ${BODY_KEYS.join(", ")}`);
  const description = body.description ?? "";
  if (typeof description !== "string" || description.length > 256) throw badRequest("'description' must be a string of at most 256 characters");
  let grants: Grant[];
  try {
    grants = validateGrants(body.grants);
  } catch (err) {
    if (err instanceof GrantError) throw badRequest(err.message);
    throw err;
  }
  if ((body.expires === undefined) === (body.expires_in === undefined)) throw badRequest("Give exactly one of 'expires' (unix seconds) and 'expires_in' (seconds from now)");
  const at = body.expires ?? now + Number(body.expires_in);
  if (typeof at !== "number" || !Number.isFinite(at) || (body.expires_in !== undefined && typeof body.expires_in !== "number")) {
    throw badRequest("'expires' and 'expires_in' are numbers of seconds");
  }
  if (at <= now || at > now + MAX_TOKEN_SECONDS) throw badRequest(`A token expires in the future, at most ${MAX_TOKEN_SECONDS / 86400} days from now`);
  return { description, grants, expires: Math.floor(at) };
}

const GRANT_SCHEMA = {
  type: "object",
  required: ["access", "kind"],
  additionalProperties: false,
  properties: {
    access: { enum: ["read", "write"] },
    kind: { enum: ["instance", "node", "group", "network", "cluster", "job", "filter", "*"] },
    names: { type: "array", items: { type: "string" } },
    tags: { type: "array", items: { type: "string" }, description: "The object carries all of these tags" },
    opcodes: { type: "array", items: { type: "string" }, description: "OP_ID or prefix ending in *" },
  },
} as const;
const TOKEN_SCHEMA = {
  type: "object",
  properties: {
    id: { type: "string" }, owner: { type: "string" }, description: { type: "string" }, grants: { type: "array", items: GRANT_SCHEMA },
    created: { type: "number" }, created_by: { type: "string" }, expires: { type: "number" },
  },
} as const;

export function corralTokenRoutes(tokens: ApiTokens): Route[] {
  const forUsers = { access: ["write"], scope: "users" } as const;
  return [
    route("/corral/1/tokens", {
      GET: { ...forUsers, doc: { response: { kind: "schema", schema: { type: "array", items: TOKEN_SCHEMA } } }, handle: () => tokens.list() },
      POST: {
        ...forUsers,
        doc: {
          requestBody: {
            type: "object",
            required: ["grants"],
            additionalProperties: false,
            properties: {
              description: { type: "string" },
              grants: { type: "array", items: GRANT_SCHEMA },
              expires: { type: "number", description: "Unix seconds" },
              expires_in: { type: "number", description: "Seconds from now" },
            },
          },
          response: { kind: "schema", schema: { ...TOKEN_SCHEMA, properties: { ...TOKEN_SCHEMA.properties, token: { type: "string", description: "The bearer token; shown only here" } } } },
        },
        handle: (ctx) => {
          if (!ctx.user) throw new HttpError(403);
          return tokens.create(ctx.user.name, ctx.body);
        },
      },
    }),
    route("/corral/1/tokens/[token_id]", {
      GET: { ...forUsers, doc: { response: { kind: "schema", schema: TOKEN_SCHEMA } }, handle: (ctx) => tokens.show(ctx.params.token_id) },
      DELETE: { ...forUsers, doc: { response: { kind: "schema", schema: TOKEN_SCHEMA } }, handle: (ctx) => tokens.revoke(ctx.params.token_id) },
    }),
  ];
}

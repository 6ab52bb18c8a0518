// Ganeti's generic opcode handler (RESOURCES.md §0.3) as a function that builds the
// MethodSpec of a job-submitting route from declarations: which opcode, which parameters
// come from the URL and query (static), which body keys were renamed, which are forbidden.

import { buildOpcode, OpcodeInputError, type Opcode, type OpcodeDef } from "../../model/opcode.ts";
import type { ParamSpec } from "../../model/params.ts";
import { pyRepr, pyTypeName } from "../../model/pyrepr.ts";
import { JOB_ID, type OpcodeDoc } from "../http/apidoc.ts";
import { DEFAULT_BODY, type BodyRule } from "../http/body.ts";
import { QueryArgs, REASON, type QueryParam } from "../http/query.ts";
import { badRequest, HttpError } from "../http/errors.ts";
import type { AccessOption, MethodSpec, RequestContext } from "../http/routes.ts";
import type { RapiServices } from "./services.ts";
import { isDict } from "../../model/dict.ts";

export interface OpcodeResourceSpec {
  /** Handler name for the reason trail: "gnt:library:rlib2:<rapiName>". */
  readonly rapiName: string;
  /** Parameters taken from the path and query; a body may not set them. */
  readonly static?: (ctx: RequestContext) => Record<string, unknown>;
  /** The body is not read (only a `depends` in a dict body is kept). */
  readonly ignoreBody?: boolean;
  /** Old body key → new name. */
  readonly renames?: Readonly<Record<string, string>>;
  /** Parameters that may not be set over RAPI (403). */
  readonly forbidden?: readonly string[];
  /** Turns the body before filling (e.g. instance creation's __version__ handling). */
  readonly prepareBody?: (body: Record<string, unknown>, ctx: RequestContext) => Record<string, unknown>;
  readonly access?: readonly AccessOption[];
  /** Default DEFAULT_BODY, GETs included: every job-submitting route reads a `depends`. */
  readonly body?: BodyRule;
  /** The object the job changes, for If-Match (stamps.ts). */
  readonly stamp?: MethodSpec["stamp"];
  /** The query parameters `static` reads (`reason` is always read). */
  readonly query?: readonly QueryParam[];
  /** Body keys that are not opcode parameters, for the OpenAPI document. */
  readonly extraBody?: OpcodeDoc["extraBody"];
}

/** Submits one job; one sent under If-Match carries the version the request was held to. */
export async function submitJob(services: RapiServices, ops: Opcode[], ctx: RequestContext): Promise<number> {
  const [id] = await services.queue.submitJobs([ops], ctx.precondition ? { precondition: ctx.precondition } : {});
  return id;
}

/** The reason trail RAPI puts on every opcode it builds (PROTOCOL.md §6). */
export function reasonTrail(ctx: RequestContext, rapiName: string): unknown[] {
  const ns = Date.now() * 1e6;
  const trail: unknown[] = [];
  const userReason = ctx.query.string("reason");
  if (userReason) trail.push(["gnt:user", userReason, ns]);
  trail.push([`gnt:library:rlib2:${rapiName}`, "", ns]);
  return trail;
}


/** Ganeti's FillOpcode: body + static params + renames → a validated opcode, or a 400. */
export function fillOpcode<S extends ParamSpec>(
  def: OpcodeDef<S>,
  body: unknown,
  staticParams: Record<string, unknown>,
  renames: Readonly<Record<string, string>> = {},
): Opcode<S> {
  if (body !== undefined && body !== null && !isDict(body)) {
    throw badRequest(`Body contents: Type is '${pyTypeName(body)}', but 'dict' is expected`);
  }
  const params: Record<string, unknown> = { ...(body ?? {}) };
  for (const [oldName, newName] of Object.entries(renames)) {
    if (!(oldName in params)) continue;
    if (newName in params) throw badRequest(`Parameter '${oldName}' was renamed to '${newName}', but both are specified`);
    params[newName] = params[oldName];
    delete params[oldName];
  }
  const clash = Object.keys(params).filter((k) => k in staticParams);
  if (clash.length > 0) throw badRequest(`Can't overwrite static parameters ${pyRepr(new Set(clash))}`);
  try {
    return buildOpcode(def, { ...params, ...staticParams });
  } catch (err) {
    if (err instanceof OpcodeInputError) throw badRequest(`Invalid body parameters: ${err.message}`);
    throw err;
  }
}

export function opcodeResource<S extends ParamSpec>(services: RapiServices, def: OpcodeDef<S>, spec: OpcodeResourceSpec): MethodSpec {
  return {
    access: spec.access,
    body: spec.body ?? DEFAULT_BODY,
    stamp: spec.stamp,
    query: [REASON, ...(spec.query ?? [])],
    doc: {
      opcode: { def, renames: spec.renames, forbidden: spec.forbidden, ignoreBody: spec.ignoreBody, fixed: staticNames(spec.static, spec.query), extraBody: spec.extraBody },
      response: JOB_ID,
    },
    async handle(ctx) {
      if (spec.forbidden) checkForbidden(ctx, spec.forbidden, spec.renames ?? {});
      let body: unknown = ctx.body;
      if (spec.ignoreBody) {
        body = isDict(ctx.body) && ctx.body.depends ? { depends: ctx.body.depends } : {};
      } else if (spec.prepareBody && isDict(body)) {
        body = spec.prepareBody(body, ctx);
      }
      const staticParams = { ...(spec.static?.(ctx) ?? {}), reason: reasonTrail(ctx, spec.rapiName) };
      return submitJob(services, [fillOpcode(def, body, staticParams, spec.renames)], ctx);
    },
  };
}

/**
 * The names `static` sets (path and query parameters a body may not set), for the OpenAPI
 * document: found by calling it with every declared query parameter given and placeholder
 * path values, so they are never listed twice.
 */
export function staticNames(staticParams: OpcodeResourceSpec["static"], query: readonly QueryParam[] = []): () => string[] {
  return () => {
    if (!staticParams) return [];
    const probe: RequestContext = {
      method: "POST",
      path: "/",
      url: "/",
      params: new Proxy({}, { get: () => "1" }),
      query: new QueryArgs(query.map((q) => `${encodeURIComponent(q.name)}=1`).join("&")),
      body: undefined,
      user: undefined,
      signal: new AbortController().signal,
    };
    return Object.keys(staticParams(probe));
  };
}

/** X_FORBIDDEN: checked on the query and the body before anything else. */
function checkForbidden(ctx: RequestContext, forbidden: readonly string[], renames: Readonly<Record<string, string>>): void {
  if (ctx.body === undefined || ctx.body === null) {
    // Ganeti answers 500 here (it iterates a missing body); a clear 400 serves clients better.
    throw badRequest("This resource requires a request body with the parameters to change");
  }
  const keys = [...ctx.query.raw.keys(), ...(isDict(ctx.body) ? Object.keys(ctx.body) : [])];
  for (const key of keys) {
    const name = renames[key] ?? key;
    if (forbidden.includes(name)) throw new HttpError(403, `The parameter ${name} cannot be set via RAPI`);
  }
}

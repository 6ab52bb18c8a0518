// /2/instances resources (RESOURCES.md §2.6) and GET /2/os: listings from the query layer's
// instance fields and the live cache; every change a job (tags live in tags.ts).

import { calcJobStatus, FINALIZED } from "../../model/job.ts";
import type { Opcode } from "../../model/opcode.ts";
import { buildOpcode, OpcodeInputError } from "../../model/opcode.ts";
import { OpBackupExport, OpBackupPrepare, OpBackupRemove } from "../../model/opcodes/backup.ts";
import {
  OpInstanceActivateDisks, OpInstanceCreate, OpInstanceDeactivateDisks, OpInstanceFailover, OpInstanceGrowDisk,
  OpInstanceMigrate, OpInstanceMultiAlloc, OpInstanceQueryData, OpInstanceReboot, OpInstanceRecreateDisks,
  OpInstanceReinstall, OpInstanceRemove, OpInstanceRename, OpInstanceReplaceDisks, OpInstanceSetParams,
  OpInstanceShutdown, OpInstanceStartup,
} from "../../model/opcodes/instance.ts";
import { OpOsDiagnose } from "../../model/opcodes/os.ts";
import { pyTypeName } from "../../model/pyrepr.ts";
import { bulkJsonChunks, findOne, oneDict } from "../../query/rapi.ts";
import { JOB_ID } from "../http/apidoc.ts";
import { LARGE_BODY } from "../http/body.ts";
import { BULK, DRY_RUN, FORCE, LOCK, queryParam, REASON } from "../http/query.ts";
import { badRequest, HttpError, notFound } from "../http/errors.ts";
import { JsonStream, route, type MethodSpec, type RequestContext, type Route } from "../http/routes.ts";
import { fillOpcode, opcodeResource, reasonTrail, staticNames, submitJob } from "./opcodeResource.ts";
import type { RapiServices } from "./services.ts";
import { objectStamp } from "./stamps.ts";
import { isDict } from "../../model/dict.ts";

const REQ_DATA_VERSION = "__version__";
const RENAME_CREATE = { os: "os_type", name: "instance_name" };

/** Python's truthiness of a request body. */
const truthy = (v: unknown) =>
  v !== undefined && v !== null && v !== false && v !== 0 && v !== "" && !(Array.isArray(v) && v.length === 0) && !(isDict(v) && Object.keys(v).length === 0);

const name = (ctx: RequestContext) => ({ instance_name: ctx.params.instance_name });
const NO_REMEMBER = queryParam.bool("no_remember", "Do not remember the new state in the configuration");

/** rlib2's _ConvertUsbDevices: usb_devices may be space-separated; the hypervisors want commas. */
function convertUsbDevices(body: Record<string, unknown>): void {
  const hv = body.hvparams;
  if (isDict(hv) && typeof hv.usb_devices === "string") body.hvparams = { ...hv, usb_devices: hv.usb_devices.replace(/ /g, ",") };
}

/** POST /2/instances: the request data version must be 1, and is then dropped. */
function createBody(body: Record<string, unknown>): Record<string, unknown> {
  const version = body[REQ_DATA_VERSION] ?? 0;
  if (version === 0) throw badRequest("Instance creation request version 0 is no longer supported");
  if (version !== 1) throw badRequest(`Unsupported request data version ${typeof version === "string" ? version : JSON.stringify(version)}`);
  const data = { ...body };
  delete data[REQ_DATA_VERSION];
  convertUsbDevices(data);
  return data;
}

/** Builds an opcode the way rlib2 does for handlers that make their own (400 on bad input). */
function build(def: Parameters<typeof buildOpcode>[0], params: Record<string, unknown>): Opcode {
  try {
    return buildOpcode(def, params);
  } catch (err) {
    if (err instanceof OpcodeInputError) throw badRequest(`Invalid body parameters: ${err.message}`);
    throw err;
  }
}

/** rlib2's CheckParameter: a body value of the expected type, or 400. */
function checkParameter<T>(data: Record<string, unknown>, key: string, fallback: T, type?: "bool"): T {
  const value = key in data ? data[key] : fallback;
  if (type === "bool" && typeof value !== "boolean") {
    throw badRequest(`'${key}' parameter: Type is '${pyTypeName(value)}', but 'bool' is expected`);
  }
  return value as T;
}

const REINSTALL_BODY = { type: "object", properties: { os: { type: ["string", "null"] }, start: { type: "boolean", default: true }, osparams: { type: ["object", "null"] } } };

/** POST /2/instances/X/reinstall: one job of shutdown, reinstall and (unless told not to) startup. */
function reinstall(s: RapiServices): MethodSpec {
  return {
    query: [queryParam.string("os", "OS to reinstall with (the legacy query form)"), queryParam.bool("nostartup", "Leave the instance stopped (the legacy query form)")],
    doc: { requestBody: REINSTALL_BODY, response: JOB_ID },
    async handle(ctx) {
      let body: unknown;
      if (truthy(ctx.body)) {
        if (ctx.query.size > 0) throw badRequest("Can't combine query and body parameters");
        body = ctx.body;
      } else if (ctx.query.size > 0) {
        body = { os: ctx.query.string("os") ?? null, start: !ctx.query.int("nostartup") };
      } else body = {};
      if (!isDict(body)) throw badRequest("Invalid body contents, not a dictionary");
      const os = checkParameter<string | null>(body, "os", null);
      const start = checkParameter<boolean>(body, "start", true, "bool");
      const osparams = checkParameter<Record<string, unknown> | null>(body, "osparams", null);
      const instance_name = ctx.params.instance_name;
      const ops = [
        build(OpInstanceShutdown, { instance_name }),
        build(OpInstanceReinstall, { instance_name, os_type: os, osparams }),
      ];
      if (start) ops.push(build(OpInstanceStartup, { instance_name, force: false }));
      return submitJob(s, ops, ctx);
    },
  };
}

/** POST /2/instances/X/replace-disks: the body, or the legacy query form (which drops early_release). */
function replaceDisks(s: RapiServices): MethodSpec {
  return {
    query: [REASON, ...["remote_node", "mode", "disks", "iallocator"].map((n) => queryParam.string(n, `The opcode's ${n} (the legacy query form)`))],
    doc: { opcode: { def: OpInstanceReplaceDisks, fixed: staticNames(name) }, response: JOB_ID },
    async handle(ctx) {
      let data: Record<string, unknown>;
      if (truthy(ctx.body)) {
        if (!isDict(ctx.body)) throw badRequest(`Body contents: Type is '${pyTypeName(ctx.body)}', but 'dict' is expected`);
        data = { ...ctx.body };
      } else if (ctx.query.size > 0) {
        data = {
          remote_node: ctx.query.string("remote_node") ?? null,
          mode: ctx.query.string("mode") ?? null,
          disks: ctx.query.string("disks") ?? null,
          iallocator: ctx.query.string("iallocator") ?? null,
        };
      } else data = {};
      if ("disks" in data) {
        const raw = data.disks;
        delete data.disks;
        if (truthy(raw)) {
          if (Array.isArray(raw) && raw.every((x) => Number.isInteger(x))) data.disks = raw;
          else if (typeof raw === "string") {
            const parts = raw.split(",").map((p) => p.trim());
            if (!parts.every((p) => /^[+-]?\d+$/.test(p))) {
              throw badRequest(`Invalid disk index passed: invalid literal for int() with base 10: '${parts.find((p) => !/^[+-]?\d+$/.test(p))}'`);
            }
            data.disks = parts.map(Number);
          } else throw badRequest(`Invalid disk index passed: '${pyTypeName(raw)}' object has no attribute 'split'`);
        }
      }
      const op = fillOpcode(OpInstanceReplaceDisks, data, { ...name(ctx), reason: reasonTrail(ctx, "instances_name_replace_disks") });
      return submitJob(s, [op], ctx);
    },
  };
}

/** POST /2/instances-multi-alloc: each instance becomes an OpInstanceCreate (no reason, no dry_run of its own). */
function multiAlloc(s: RapiServices): MethodSpec {
  return {
    body: LARGE_BODY,
    query: [DRY_RUN, REASON],
    doc: { opcode: { def: OpInstanceMultiAlloc, fixed: () => ["dry_run"] }, response: JOB_ID },
    async handle(ctx) {
      if (!isDict(ctx.body) || !("instances" in ctx.body)) throw badRequest("Request is missing required 'instances' field in body");
      const instances = ctx.body.instances;
      if (!Array.isArray(instances)) throw badRequest(`Body contents: Type is '${pyTypeName(instances)}', but 'list' is expected`);
      const ops = instances.map((inst) => fillOpcode(OpInstanceCreate, inst, {}, RENAME_CREATE));
      const body = { ...ctx.body, instances: ops };
      const op = fillOpcode(OpInstanceMultiAlloc, body, { dry_run: ctx.query.bool("dry-run"), reason: reasonTrail(ctx, "instances_multi_alloc") });
      const [id] = await s.queue.submitJobs([[op]]);
      return id;
    },
  };
}

/** GET /2/instances/X/console: only for a running instance (503 otherwise). */
function consoleGet(s: RapiServices): MethodSpec {
  return {
    access: ["read", "write"], // an API token needs write on the instance (scope): a console acts on it
    scope: (params) => ({ kind: "instance", name: params.instance_name, access: "write" }),
    doc: { response: { kind: "schema", schema: { type: "object", description: "How to reach the console (OP_INSTANCE_CONSOLE's result)" } } },
    async handle(ctx) {
      const snap = s.store.snapshot();
      // Ganeti answers an unknown instance with a 500 (an IndexError); a 404 says it better.
      const inst = findOne("instance", snap, ctx.params.instance_name);
      if (!inst) throw notFound();
      const live = s.live;
      const node = snap.nodes.get(inst.primary_node);
      if (!live.instances.get(inst.uuid)?.running || !node) throw new HttpError(503, "Instance console unavailable");
      const console = await s.nodeReads.instanceConsole(snap, inst);
      if (console === null) throw new HttpError(503, "Instance console unavailable");
      return console;
    },
  };
}

/** Polls a job to its end inside the request (Ganeti's cli.PollJob); canceled if the client leaves. */
async function runJob(s: RapiServices, ops: Opcode[], signal: AbortSignal): Promise<unknown[]> {
  const [id] = await s.queue.submitJobs([ops]);
  // Read again at every change: what readers are shown of a job is replaced once its end is durable.
  for (let job = s.queue.get(id); ; job = s.queue.get(id)) {
    if (!job) throw new HttpError(500, `Job ${id} disappeared`);
    const status = calcJobStatus(job);
    if (status === "success") return job.ops.map((o) => o.result);
    if (FINALIZED.has(status)) {
      const failed = job.ops.find((o) => o.status === "error")?.result;
      throw new HttpError(500, Array.isArray(failed) && Array.isArray(failed[1]) ? String(failed[1][0]) : `Job ${id} ended with status ${status}`);
    }
    if (signal.aborted) {
      await s.queue.cancel(id);
      throw new HttpError(500, "Client went away");
    }
    await new Promise<void>((resolve) => {
      const off = s.queue.onChange(id, () => {
        off();
        resolve();
      });
      signal.addEventListener("abort", () => {
        off();
        resolve();
      }, { once: true });
    });
  }
}

const OS_FIELDS_BULK = ["name", "valid", "variants", "parameters", "api_versions", "blacklisted", "hidden", "trusted"];

/** GET /2/os: names ("name+variant" per variant), or with ?bulk=1 one dict per OS. */
function osGet(s: RapiServices): MethodSpec {
  return {
    query: [BULK],
    doc: { response: { kind: "schema", schema: { type: "array", items: { anyOf: [{ type: "string" }, { type: "object", required: ["name"] }] } } } },
    async handle(ctx) {
      const bulk = ctx.query.bool("bulk");
      const fields = bulk ? OS_FIELDS_BULK : ["name", "variants"];
      const [rows] = await runJob(s, [build(OpOsDiagnose, { output_fields: fields, names: [] })], ctx.signal);
      if (!Array.isArray(rows)) throw new HttpError(502, "Can't get OS list");
      if (bulk) {
        return (rows as unknown[][]).map((row) => {
          const d: Record<string, unknown> = Object.fromEntries(fields.map((f, i) => [f, row[i]]));
          d.parameters = ((d.parameters ?? []) as [string, string][]).map(([n, desc]) => ({ name: n, description: desc }));
          return d;
        });
      }
      return (rows as [string, string[]][]).flatMap(([osName, variants]) =>
        variants && variants.length > 0 ? variants.map((v) => `${osName}+${v}`) : [osName]);
    },
  };
}

/** PUT /2/instances/X/modify: a body is required (Ganeti fails with a 500 without one). */
function modify(s: RapiServices, stamp: MethodSpec["stamp"]): MethodSpec {
  const inner = opcodeResource(s, OpInstanceSetParams, {
    rapiName: "instances_name_modify",
    stamp,
    static: name,
    renames: { custom_beparams: "beparams", custom_hvparams: "hvparams" },
    prepareBody: (body) => {
      const data = { ...body };
      convertUsbDevices(data);
      return data;
    },
  });
  return {
    ...inner,
    handle(ctx) {
      if (ctx.body === undefined || ctx.body === null) throw badRequest("A body with the parameters to change is required");
      return inner.handle(ctx);
    },
  };
}

export function instanceRoutes(s: RapiServices): Route[] {
  const live = () => s.live;
  const instance = objectStamp(s, "instance", "instance_name");
  const dryRun = (ctx: RequestContext) => ({ dry_run: ctx.query.bool("dry-run") });
  return [
    route("/2/instances", {
      GET: {
        query: [LOCK, BULK],
        doc: { response: { kind: "collection", object: "instance", idKey: "id" } },
        handle: (ctx) => {
          ctx.query.bool("lock");
          const snap = s.store.snapshot();
          if (ctx.query.bool("bulk")) return new JsonStream(bulkJsonChunks("instance", snap, live()));
          const names = [...snap.instances.values()].map((i) => i.name).sort();
          return names.map((n) => ({ id: n, uri: `/2/instances/${n}` }));
        },
      },
      POST: opcodeResource(s, OpInstanceCreate, {
        rapiName: "instances", static: dryRun, renames: RENAME_CREATE, prepareBody: createBody, body: LARGE_BODY, query: [DRY_RUN],
        extraBody: { [REQ_DATA_VERSION]: { const: 1, description: "Request data version; 1 is the only one supported" } },
      }),
    }),
    route("/2/instances-multi-alloc", { POST: multiAlloc(s) }),
    route("/2/instances/[instance_name]", {
      GET: {
        stamp: instance,
        query: [LOCK],
        doc: { response: { kind: "object", object: "instance" } },
        handle: (ctx) => {
          ctx.query.bool("lock");
          const snap = s.store.snapshot();
          const inst = findOne("instance", snap, ctx.params.instance_name);
          if (!inst) throw notFound();
          return oneDict("instance", snap, live(), inst);
        },
      },
      DELETE: opcodeResource(s, OpInstanceRemove, {
        rapiName: "instances_name",
        stamp: instance,
        query: [DRY_RUN],
        static: (ctx) => ({ ...name(ctx), ignore_failures: false, ...dryRun(ctx) }),
      }),
    }),
    route("/2/instances/[instance_name]/info", {
      GET: opcodeResource(s, OpInstanceQueryData, {
        access: [],
        rapiName: "instances_name_info",
        query: [queryParam.bool("static", "Config data only, without asking the nodes")],
        ignoreBody: true,
        static: (ctx) => {
          const isStatic = ctx.query.bool("static");
          return { instances: [ctx.params.instance_name], static: isStatic, use_locking: !isStatic };
        },
      }),
    }),
    route("/2/instances/[instance_name]/reboot", {
      POST: opcodeResource(s, OpInstanceReboot, {
        rapiName: "instances_name_reboot",
        stamp: instance,
        query: [queryParam.string("type", "soft, hard (default) or full"), queryParam.bool("ignore_secondaries", "Ignore errors on secondaries"), DRY_RUN],
        static: (ctx) => ({
          ...name(ctx),
          reboot_type: ctx.query.string("type", "hard"),
          ignore_secondaries: ctx.query.bool("ignore_secondaries"),
          ...dryRun(ctx),
        }),
      }),
    }),
    route("/2/instances/[instance_name]/shutdown", {
      PUT: opcodeResource(s, OpInstanceShutdown, {
        rapiName: "instances_name_shutdown",
        stamp: instance,
        query: [NO_REMEMBER, DRY_RUN],
        static: (ctx) => ({ ...name(ctx), no_remember: ctx.query.bool("no_remember"), ...dryRun(ctx) }),
      }),
    }),
    route("/2/instances/[instance_name]/startup", {
      PUT: opcodeResource(s, OpInstanceStartup, {
        rapiName: "instances_name_startup",
        stamp: instance,
        query: [FORCE, DRY_RUN, NO_REMEMBER],
        ignoreBody: true,
        static: (ctx) => ({ ...name(ctx), force: ctx.query.bool("force"), ...dryRun(ctx), no_remember: ctx.query.bool("no_remember") }),
      }),
    }),
    route("/2/instances/[instance_name]/reinstall", { POST: { ...reinstall(s), stamp: instance } }),
    route("/2/instances/[instance_name]/replace-disks", { POST: { ...replaceDisks(s), stamp: instance } }),
    route("/2/instances/[instance_name]/activate-disks", {
      PUT: opcodeResource(s, OpInstanceActivateDisks, {
        rapiName: "instances_name_activate_disks",
        stamp: instance,
        query: [queryParam.bool("ignore_size", "Ignore the recorded disk sizes")],
        ignoreBody: true,
        static: (ctx) => ({ ...name(ctx), ignore_size: ctx.query.bool("ignore_size") }),
      }),
    }),
    route("/2/instances/[instance_name]/deactivate-disks", {
      PUT: opcodeResource(s, OpInstanceDeactivateDisks, {
        rapiName: "instances_name_deactivate_disks",
        stamp: instance,
        query: [FORCE],
        ignoreBody: true,
        static: (ctx) => ({ ...name(ctx), force: ctx.query.bool("force") }),
      }),
    }),
    route("/2/instances/[instance_name]/recreate-disks", {
      POST: opcodeResource(s, OpInstanceRecreateDisks, { rapiName: "instances_name_recreate_disks", stamp: instance, static: name }),
    }),
    route("/2/instances/[instance_name]/disk/[disk_index]/grow", {
      POST: opcodeResource(s, OpInstanceGrowDisk, {
        rapiName: "instances_name_disk_grow",
        stamp: instance,
        static: (ctx) => ({ ...name(ctx), disk: Number(ctx.params.disk_index) }),
      }),
    }),
    route("/2/instances/[instance_name]/prepare-export", {
      PUT: opcodeResource(s, OpBackupPrepare, {
        rapiName: "instances_name_prepare_export",
        stamp: instance,
        query: [queryParam.string("mode", "Export mode (local or remote)")],
        ignoreBody: true,
        static: (ctx) => ({ ...name(ctx), mode: ctx.query.string("mode") }),
      }),
    }),
    route("/2/instances/[instance_name]/export", {
      PUT: opcodeResource(s, OpBackupExport, { rapiName: "instances_name_export", stamp: instance, static: name, renames: { destination: "target_node" } }),
      DELETE: opcodeResource(s, OpBackupRemove, { rapiName: "instances_name_export", stamp: instance, static: name }),
    }),
    route("/2/instances/[instance_name]/migrate", {
      PUT: opcodeResource(s, OpInstanceMigrate, { rapiName: "instances_name_migrate", stamp: instance, static: name }),
    }),
    route("/2/instances/[instance_name]/failover", {
      PUT: opcodeResource(s, OpInstanceFailover, { rapiName: "instances_name_failover", stamp: instance, static: name }),
    }),
    route("/2/instances/[instance_name]/rename", {
      PUT: opcodeResource(s, OpInstanceRename, { rapiName: "instances_name_rename", stamp: instance, static: name }),
    }),
    route("/2/instances/[instance_name]/modify", { PUT: modify(s, instance) }),
    route("/2/instances/[instance_name]/console", { GET: consoleGet(s) }),
    route("/2/os", { GET: osGet(s) }),
  ];
}

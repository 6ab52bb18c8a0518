// GET /corral/1/openapi.json: a valid OpenAPI 3.1 document (checked by an independent
// validator), covering every route of the tables, whose response schemas every Ganeti 3.0.2
// capture — replayed against Corral, and as Ganeti answered it — validates against.

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { corralEventRoutes } from "../../src/api/corral/events.ts";
import { corralNodeRoutes } from "../../src/api/corral/nodes.ts";
import type { MethodSpec } from "../../src/api/http/routes.ts";
import { rapiRoutes } from "../../src/api/rapi/resources.ts";
import type { RapiServices } from "../../src/api/rapi/services.ts";
import { OPENAPI_PATH } from "../../src/api/corral/openapi.ts";
import { onUndeclaredQueryRead } from "../../src/api/http/query.ts";
import { onUndeclaredPvcRead } from "../../src/api/pvc/values.ts";
import { openApiPath } from "../../src/api/openapi/document.ts";
import type { EventBus } from "../../src/events/bus.ts";
import { allRoutes } from "../support/hostile.ts";
import { call, startTestMaster, type TestMaster } from "../support/cluster.ts";
import { golden, GOLDEN_DIR, haveGolden, replay, type Exchange } from "../support/golden.ts";
import { domainXml, startPvcMaster } from "../pvc/support.ts";

type Json = Record<string, unknown>;
type Operation = { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

/** The document's path template matching a concrete path (literal segments win over parameters). */
function templateFor(doc: OpenApi, path: string): string | undefined {
  const candidates = Object.keys(doc.paths).filter((t) =>
    new RegExp(`^${t.replace(/[.*+?^$()|\\]/g, "\\$&").replace(/\{[a-z_]+\}/g, "[^/]+")}$`).test(path));
  return candidates.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0))[0];
}

/** Compiles each response schema once; `$ref`s point into the document's components. */
class ResponseSchemas {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: false });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly doc: OpenApi;
  constructor(doc: OpenApi) {
    this.doc = doc;
    this.ajv.addSchema({ $id: "urn:corral:openapi", components: doc.components });
  }
  /** The validator for a request body, or undefined when the operation takes none. */
  forRequest(method: string, path: string): ValidateFunction | undefined {
    const template = templateFor(this.doc, path);
    const op = template === undefined ? undefined : (this.doc.paths[template][method.toLowerCase()] as Operation & { requestBody?: { content: Record<string, { schema: unknown }> } });
    const schema = op?.requestBody?.content["application/json"]?.schema;
    return schema === undefined ? undefined : this.ajv.compile(schema as Json);
  }

  /** The validator for an answer, or undefined when the document defines no JSON body for it. */
  forAnswer(method: string, path: string, status: number): { key: string; validate: ValidateFunction; anyJson: boolean } | undefined {
    const template = templateFor(this.doc, path);
    const op = template === undefined ? undefined : this.doc.paths[template][method.toLowerCase()];
    // A path or method the tables do not have: Ganeti's error body (404, 501).
    const response = op ? (op.responses[String(status)] ?? op.responses.default) : { content: { "application/json": { schema: { $ref: "#/components/schemas/GanetiError" } } } };
    const schema = response.content?.["application/json"]?.schema;
    if (schema === undefined) return undefined;
    const key = `${method} ${template ?? "(no route)"} ${op && op.responses[String(status)] ? status : "default"}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      const text = JSON.stringify(schema).replaceAll('"#/components/', '"urn:corral:openapi#/components/');
      validate = this.ajv.compile(JSON.parse(text) as Json);
      this.compiled.set(key, validate);
    }
    return { key, validate, anyJson: JSON.stringify(schema) === "{}" };
  }
}

describe("GET /corral/1/openapi.json", () => {
  let master: TestMaster;
  let doc: OpenApi;
  const undeclared: string[] = [];
  let replaying = "";

  before(async () => {
    onUndeclaredQueryRead((name) => undeclared.push(`${replaying}: ${name}`));
    master = await startTestMaster();
    const r = await call(master.master.port, "GET", OPENAPI_PATH);
    assert.equal(r.status, 200);
    doc = r.json as OpenApi;
  });
  after(async () => {
    onUndeclaredQueryRead(undefined);
    await master?.close();
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    assert.equal(doc.openapi, "3.1.0");
    const result = await new Validator().validate(doc as Json);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1)?.slice(0, 3000));
  });

  it("has every route and method of the tables", () => {
    const noBus = {} as EventBus;
    const tables = [
      ...allRoutes(),
      ...corralEventRoutes(noBus).map((r) => ({ pattern: r.pattern, methods: Object.keys(r.methods) })),
      { pattern: OPENAPI_PATH, methods: ["GET"] },
    ];
    const missing: string[] = [];
    let operations = 0;
    for (const r of tables) {
      for (const method of r.methods) {
        operations++;
        if (!doc.paths[openApiPath(r.pattern)]?.[method.toLowerCase()]) missing.push(`${method} ${r.pattern}`);
      }
    }
    assert.deepEqual(missing, []);
    const inDoc = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    console.log(`# openapi: ${tables.length} routes, ${operations} operations in the tables; ${Object.keys(doc.paths).length} paths, ${inDoc} operations in the document`);
    assert.ok(inDoc >= operations, `${inDoc} operations in the document, ${operations} in the tables`);
    assert.ok(operations > 100, `only ${operations} operations: a table went missing`);
  });

  it("shows query parameters, access and opcode bodies from the declarations", () => {
    const startup = doc.paths["/2/instances/{instance_name}/startup"].put as unknown as Json;
    const names = (startup.parameters as { name: string; in: string }[]).map((p) => `${p.in}:${p.name}`);
    assert.deepEqual(names.sort(), ["path:instance_name", "query:dry-run", "query:force", "query:no_remember", "query:reason"]);
    assert.deepEqual(startup["x-corral-access"], ["write"]);
    const create = doc.paths["/2/instances"].post as unknown as { requestBody: { content: { "application/json": { schema: Json } } } };
    const body = create.requestBody.content["application/json"].schema as { properties: Record<string, Json>; allOf: Json[] };
    // Renamed (`name` for instance_name), the request version, and the static dry_run left out.
    assert.ok(body.properties.name && body.properties.instance_name && body.properties.__version__);
    assert.equal(body.properties.dry_run, undefined);
    assert.deepEqual(body.properties.wait_for_sync.type, "boolean");
    assert.ok(body.allOf.some((r) => JSON.stringify(r).includes('"instance_name"')));
    const node = doc.paths["/2/nodes/{node_name}"].get.responses["200"].content!["application/json"].schema as { required: string[] };
    assert.ok(node.required.includes("mfree") && node.required.includes("secondary_ip"));
    // The schemas refuse what Corral refuses: an unknown opcode parameter, a mistyped one.
    const ajv = new Ajv2020({ strict: false });
    const validateCreate = ajv.compile(body);
    const good = { __version__: 1, name: "web1", disk_template: "plain", disks: [{ size: 1024 }], nics: [], mode: "create" };
    assert.equal(validateCreate(good), true, JSON.stringify(validateCreate.errors));
    assert.equal(validateCreate({ ...good, no_such_param: 1 }), false);
    assert.equal(validateCreate({ ...good, wait_for_sync: "yes" }), false);
  });

  it("declares 304 and 412 where a route has a version stamp, an ETag on its reads, and 401, 403 and 406 on every RAPI operation", () => {
    const noServices = {} as RapiServices;
    let stamped = 0;
    for (const r of [...rapiRoutes(noServices), ...corralNodeRoutes(noServices)]) {
      for (const [method, spec] of Object.entries(r.methods) as [string, MethodSpec][]) {
        const op = doc.paths[openApiPath(r.pattern)][method.toLowerCase()] as Operation & { responses: Record<string, { headers?: Json }> };
        const at = `${method} ${r.pattern}`;
        const isRead = method === "GET" || method === "HEAD";
        assert.equal("304" in op.responses, Boolean(spec.stamp) && isRead, `304 on ${at}`);
        assert.equal("412" in op.responses, Boolean(spec.stamp), `412 on ${at}`);
        assert.equal(op.responses["200"].headers?.ETag !== undefined, Boolean(spec.stamp) && isRead, `ETag on ${at}`);
        if (spec.stamp) stamped++;
      }
    }
    assert.ok(stamped > 20, `only ${stamped} operations with a stamp`);
    for (const [template, item] of Object.entries(doc.paths)) {
      if (template.startsWith("/api/v1")) continue;
      for (const [method, op] of Object.entries(item)) {
        assert.deepEqual(["401", "403", "406"].filter((code) => !(code in op.responses)), [], `${method} ${template}`);
      }
    }
  });

  it("types the answers of job wait and cancel, the audit trail, and /metrics (text)", () => {
    const answer = (path: string, method: string) => doc.paths[path][method].responses["200"].content!;
    for (const [path, method] of [["/2/jobs/{job_id}/wait", "get"], ["/2/jobs/{job_id}", "delete"], ["/corral/1/audit", "get"]]) {
      assert.notDeepEqual(answer(path, method)["application/json"].schema, {}, `${method} ${path}`);
    }
    assert.deepEqual(Object.keys(answer("/metrics", "get")), ["text/plain"]);
  });

  it("validates every Ganeti capture, and Corral's answer to it, against the response schemas", { skip: !haveGolden && "shared/golden is not beside the repo" }, async () => {
    const schemas = new ResponseSchemas(doc);
    const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith(".json")).sort();
    const failures: string[] = [];
    let ganetiChecked = 0;
    let corralChecked = 0;
    let typed = 0;
    const check = (who: string, file: string, ex: Exchange, status: number, body: unknown) => {
      const target = schemas.forAnswer(ex.request.method, ex.request.url.split("?")[0], status);
      if (!target || ex.request.method === "HEAD" || body === undefined) return false;
      if (!target.validate(body)) failures.push(`${who} ${file} (${target.key}): ${JSON.stringify(target.validate.errors?.slice(0, 2))}`);
      return true;
    };
    let bodies = 0;
    for (const file of files) {
      const ex = golden(file);
      replaying = file;
      // A body Ganeti accepted must fit the request schema too.
      const validateBody = ex.response.status === 200 && ex.request.body_raw ? schemas.forRequest(ex.request.method, ex.request.url.split("?")[0]) : undefined;
      if (validateBody) {
        bodies++;
        if (!validateBody(JSON.parse(ex.request.body_raw!))) failures.push(`request ${file}: ${JSON.stringify(validateBody.errors?.slice(0, 2))}`);
      }
      if (check("Ganeti", file, ex, ex.response.status, ex.response.body_json)) ganetiChecked++;
      const r = await replay(master.master.port, ex);
      if (check("Corral", file, ex, r.status, r.json)) {
        corralChecked++;
        if (r.status === 200 && schemas.forAnswer(ex.request.method, ex.request.url.split("?")[0], 200)?.anyJson === false) typed++;
      }
    }
    replaying = "";
    // The replayed writes left records in the trail: they fit its schema (no field more or less).
    const trail = await call(master.master.port, "GET", "/corral/1/audit?limit=1000", { user: "writer" });
    const records = trail.json as { jobs: unknown[] }[];
    assert.ok(records.length > 50 && records.some((r) => r.jobs.length > 0), `${records.length} audit records`);
    const auditAnswer = schemas.forAnswer("GET", "/corral/1/audit", trail.status)!;
    assert.equal(auditAnswer.anyJson, false);
    if (!auditAnswer.validate(records)) failures.push(`Corral GET /corral/1/audit after the replay: ${JSON.stringify(auditAnswer.validate.errors?.slice(0, 2))}`);
    console.log(`# openapi: ${files.length} captures; ${ganetiChecked} Ganeti answers and ${corralChecked} Corral answers validated (${typed} of them 200s with a specific schema, not "any JSON"), ${bodies} accepted request bodies; ${failures.length} failures`);
    assert.deepEqual(failures, []);
    assert.ok(ganetiChecked > 400 && corralChecked > 400, `${ganetiChecked}/${corralChecked} of ${files.length} checked`);
  });

  it("no handler reads a query parameter its route does not declare (captures replayed, then every operation called)", async () => {
    // Each RAPI operation once, as a write user with placeholder names and an empty body:
    // handlers read their query parameters before they find the names unknown.
    for (const [template, item] of Object.entries(doc.paths)) {
      if (template.startsWith("/api/v1")) continue;
      for (const [method, op] of Object.entries(item)) {
        if (op.responses["200"].content?.["text/event-stream"]) continue;
        replaying = `${method.toUpperCase()} ${template}`;
        const path = template.replace(/\{([a-z_]+)\}/g, (_m, name: string) => (name === "job_id" || name === "disk_index" ? "0" : "nosuch"));
        const r = await call(master.master.port, method.toUpperCase(), path, { user: "writer", ...(method === "get" || method === "head" ? {} : { body: {} }) });
        assert.ok(r.status > 0);
      }
    }
    replaying = "";
    assert.deepEqual(undeclared, []);
  });
  it("lists the PVC API's request values from the routes' declarations", () => {
    type Param = { name: string; in: string; required: boolean; schema: { enum?: string[] } };
    type BodyOp = { parameters: Param[]; requestBody?: { content: Record<string, { schema: { properties: Record<string, Json>; required?: string[]; allOf?: Json[] } }> } };
    const op = (path: string, method: string) => doc.paths[path][method] as unknown as BodyOp;
    const query = (o: BodyOp) => o.parameters.filter((p) => p.in === "query").map((p) => p.name).sort();
    assert.deepEqual(query(op("/api/v1/vm", "get")), ["limit", "node", "state"]);
    const state = op("/api/v1/vm/{vm}/state", "post");
    assert.deepEqual(state.parameters.find((p) => p.name === "state")?.schema.enum, ["start", "shutdown", "stop", "restart"]);
    for (const type of ["application/x-www-form-urlencoded", "application/json"]) {
      const body = state.requestBody!.content[type].schema;
      assert.deepEqual(body.required, ["state"], type);
      assert.deepEqual(body.properties.state.enum, ["start", "shutdown", "stop", "restart"], type);
    }
    // A GET has no body; a value with a v0.6 spelling lists both, either one satisfying "required".
    assert.equal(op("/api/v1/vm", "get").requestBody, undefined);
    assert.deepEqual(query(op("/api/v1/storage/ceph/volume/{pool}/{volume}", "put")), ["name", "new_name", "new_size", "size"]);
    const rename = op("/api/v1/storage/ceph/snapshot/{pool}/{volume}/{snapshot}", "put").requestBody!.content["application/json"].schema;
    assert.deepEqual(rename.allOf, [{ anyOf: [{ required: ["name"] }, { required: ["new_name"] }] }]);
    // The schemas accept what PVC's clients send, and refuse a wrong choice or a missing value.
    const ajv = new Ajv2020({ strict: false });
    const network = ajv.compile(op("/api/v1/network", "post").requestBody!.content["application/json"].schema);
    assert.equal(network({ vni: 100, description: "vlan100", nettype: "bridged", dhcp4: true }), true, JSON.stringify(network.errors));
    assert.equal(network({ vni: "100", description: "vlan100", nettype: "routed" }), false);
    assert.equal(network({ description: "vlan100", nettype: "bridged" }), false);
  });

  it("no PVC handler reads a value its route method does not declare (every operation called with its declared values)", async () => {
    const pvc = await startPvcMaster();
    const reads: string[] = [];
    let calling = "";
    try {
      onUndeclaredPvcRead((name) => reads.push(`${calling}: ${name}`));
      // Objects for the paths to name, so handlers get past their lookups to their reads.
      assert.equal((await pvc.pvc.post("/vm", { xml: domainXml("sweep1", "6a3e0f5e-9d0c-4b8e-8f8e-0c8d3b8b2a01") })).status, 200);
      assert.equal((await pvc.pvc.post("/network", { vni: "300", description: "sweepnet", nettype: "bridged" })).status, 200);
      const names: Record<string, string> = { vm: "sweep1", node: "node1.corral.test", network: "300" };
      type Param = { name: string; in: string; schema: { enum?: string[]; pattern?: string } };
      // Removals last, so the objects are there for the rest.
      const calls = Object.entries(doc.paths)
        .filter(([template]) => template.startsWith("/api/v1"))
        .flatMap(([template, item]) => Object.entries(item).map(([method, op]) => ({ template, method, op })))
        .sort((a, b) => Number(a.method === "delete") - Number(b.method === "delete"));
      let operations = 0;
      let values = 0;
      for (const { template, method, op } of calls) {
        calling = `${method.toUpperCase()} ${template}`;
        const sample = (p: Param) => p.schema.enum?.[0] ?? (p.schema.pattern ? "1" : "sweep");
        const given = Object.fromEntries((op as unknown as { parameters: Param[] }).parameters.filter((p) => p.in === "query").map((p) => [p.name, sample(p)]));
        const path = template.replace(/^\/api\/v1/, "").replace(/\{([a-z_]+)\}/g, (_m, name: string) => names[name] ?? "nosuch");
        const r = method === "get" ? await pvc.pvc.get(path, given) : await pvc.pvc.call(method.toUpperCase(), path, { form: given });
        assert.ok(r.status > 0);
        operations++;
        values += Object.keys(given).length;
      }
      console.log(`# openapi: ${operations} PVC operations called with ${values} declared values`);
      assert.ok(operations > 60, `only ${operations} PVC operations`);
    } finally {
      onUndeclaredPvcRead(undefined);
      await pvc.close();
    }
    assert.deepEqual(reads, []);
  });
});

// GET /corral/1/openapi.json: a valid OpenAPI 3.1 document (checked by an independent
// validator), covering every route of the tables, whose response schemas every Ganeti 3.0.2
// capture — replayed against Corral, and as Ganeti answered it — validates against.

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { corralEventRoutes } from "../../src/api/corral/events.ts";
import { OPENAPI_PATH } from "../../src/api/corral/openapi.ts";
import { onUndeclaredQueryRead } from "../../src/api/http/query.ts";
import { openApiPath } from "../../src/api/openapi/document.ts";
import type { EventBus } from "../../src/events/bus.ts";
import { allRoutes } from "../support/hostile.ts";
import { call, startTestMaster, type TestMaster } from "../support/cluster.ts";
import { golden, GOLDEN_DIR, haveGolden, replay, type Exchange } from "../support/golden.ts";

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
});

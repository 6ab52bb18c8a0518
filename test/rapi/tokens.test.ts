// Scoped API tokens over HTTP: the token matrix (every route of the real table, from the
// OpenAPI document, × tokens × objects), judged against a simple model of grants written here
// on its own; the job queue's check of what a job locks, at submission and again when it runs;
// expiry, revocation, owners, restarts, the audit trail and the log.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { ha1Password } from "../../src/api/http/users.ts";
import { KnownSecrets, scrubbing } from "../../src/master/log.ts";
import { startMaster, type Master } from "../../src/master/master.ts";
import { call, USERS, usersFileText, waitJob, type Reply } from "../support/cluster.ts";

type Dict = Record<string, unknown>;
interface Grant { access: "read" | "write"; kind: string; names?: string[]; tags?: string[]; opcodes?: string[] }

const WEB = "web1.corral.test";
const DB = "db1.corral.test";
const NODE = "node1.corral.test";
const OWNERS = { ops: "opspass", gone: "gonepass" };

function usersText(opsOptions: string, withGone: boolean): string {
  return [usersFileText(), `ops ${ha1Password("ops", OWNERS.ops)} ${opsOptions}`, ...(withGone ? [`gone ${OWNERS.gone} write`] : []), ""].join("\n");
}

/** A master on a data directory of the suite's own, so that it can be restarted on it. */
class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), "corral-tokens-"));
  readonly usersFile = join(this.dir, "users");
  readonly lines: string[] = [];
  master!: Master;

  async start(): Promise<void> {
    this.master = await startMaster({
      dataDir: join(this.dir, "data"), port: 0, bind: "127.0.0.1", ssl: false, usersFile: this.usersFile, requireAuthentication: false,
      maxClients: 40, clusterName: "cluster.corral.test", nodeName: NODE, announce: () => undefined,
      log: (message, fields) => void this.lines.push(message + (fields ? ` ${JSON.stringify(fields)}` : "")),
    });
  }

  get port(): number {
    return this.master.port;
  }

  /** Rewrites the users file and waits until the master has read it again. */
  async setUsers(text: string, readBack: () => Promise<boolean>): Promise<void> {
    writeFileSync(this.usersFile, text);
    for (let i = 0; i < 200 && !(await readBack()); i++) await new Promise((r) => setTimeout(r, 25));
  }
}

/** corral_<12-character id>_<secret>: the secret may hold "_" itself. */
const secretOf = (token: string) => token.slice("corral_".length + 13);
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

describe("scoped API tokens", () => {
  const c = new Cluster();
  const as = (user: keyof typeof USERS | keyof typeof OWNERS) => (user in OWNERS ? { name: user, password: OWNERS[user as keyof typeof OWNERS] } : (user as keyof typeof USERS));
  const createToken = async (grants: Grant[], user: keyof typeof USERS | keyof typeof OWNERS = "writer", expiresIn = 3600): Promise<{ id: string; token: string }> => {
    const r = await call(c.port, "POST", "/corral/1/tokens", { user: as(user), body: { description: `test ${JSON.stringify(grants)}`, grants, expires_in: expiresIn } });
    assert.equal(r.status, 200, r.text);
    const created = r.json as { id: string; token: string };
    issued.push(created.token);
    return created;
  };
  const job = async (r: Reply) => {
    assert.equal(r.status, 200, r.text);
    return waitJob(c.port, r.json as number);
  };
  const asWriter = (method: string, path: string, body?: unknown) => call(c.port, method, path, { user: "writer", body });
  const instance = (name: string) => [...c.master.store.snapshot().instances.values()].find((i) => i.name === name);
  let webJob = 0;
  /** Every token made, for the log check. */
  const issued: string[] = [];

  before(async () => {
    writeFileSync(c.usersFile, usersText("write", true));
    await c.start();
    for (const name of [WEB, DB]) {
      const created = await job(await asWriter("POST", "/2/instances", {
        __version__: 1, mode: "create", name, disk_template: "diskless", disks: [], nics: [{}], os_type: "corral-marker+default",
        beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, ip_check: false, name_check: false, start: false,
      }));
      assert.equal(created.status, "success", JSON.stringify(created.opresult));
      if (name === WEB) webJob = created.id as number;
    }
    assert.equal((await job(await asWriter("PUT", `/2/instances/${WEB}/tags?tag=team:web`))).status, "success");
    assert.equal((await job(await asWriter("POST", "/2/networks", { network_name: "net1", network: "10.9.0.0/24" }))).status, "success");
  });
  after(async () => {
    await c.master?.close();
    rmSync(c.dir, { recursive: true, force: true });
  });

  describe("the token matrix: every route × token × object, against a model of the grants", () => {
    /** The model: what a token may do, written apart from the server's code. */
    interface ModelToken { name: string; token: string; grants: Grant[]; owner: string[]; valid: boolean }
    const tokens: ModelToken[] = [];
    let pauseRule = "";
    let tokenId = "";

    const TAGS: Record<string, string[]> = { [WEB]: ["team:web"] };
    /** What a path names: the kind its parameter or first segment is about, and the object. */
    const PARAM_KIND: [string, string][] = [["instance_name", "instance"], ["node_name", "node"], ["group_name", "group"], ["network_name", "network"], ["filter_uuid", "filter"], ["job_id", "job"]];
    const SEGMENT: Record<string, string> = {
      instances: "instance", "instances-multi-alloc": "instance", nodes: "node", groups: "group", networks: "network", filters: "filter", jobs: "job",
      info: "cluster", os: "cluster", tags: "cluster", modify: "cluster", "redistribute-config": "cluster",
      // Balancing, capacity and verification are about the cluster as a whole (/corral/1/balance/auto too), and so is its store.
      balance: "cluster", capacity: "cluster", verify: "cluster", store: "cluster",
    };
    const PUBLIC = new Set(["/", "/2", "/version", "/2/features", "/2/query/{resource}/fields"]);
    /** The opcode each write route submits, for opcode-limited grants (a read's job too). */
    const OPCODE: Record<string, string> = {
      "PUT /2/instances/{instance_name}/startup": "OP_INSTANCE_STARTUP",
      "PUT /2/instances/{instance_name}/shutdown": "OP_INSTANCE_SHUTDOWN",
    };
    const READ_JOBS = new Set(["GET /2/instances/{instance_name}/info", "GET /2/os"]);

    function model(t: ModelToken, method: string, path: string, params: Dict, routeAccess: string[]): "allowed" | 401 | 403 {
      if (!t.valid) return 401;
      if (PUBLIC.has(path)) return "allowed";
      if (routeAccess.length > 0 && !routeAccess.some((a) => t.owner.includes(a))) return 403;
      const [, api, segment] = /^\/(2|corral\/1)\/([^/]+)/.exec(path) ?? [];
      const param = PARAM_KIND.find(([p]) => params[p] !== undefined);
      let kind = param ? param[1] : api ? SEGMENT[segment] : undefined;
      if (path.startsWith("/2/query/")) kind = ["instance", "node", "job", "filter", "group", "network"].includes(params.resource as string) ? (params.resource as string) : "cluster";
      if (kind === undefined || path.startsWith("/corral/1/tokens") || path === "/corral/1/events" || path === "/corral/1/audit") return 403;
      const name = param ? String(params[param[0]]) : undefined;
      const write = (method !== "GET" && method !== "HEAD" && !path.startsWith("/2/query/")) || path.endsWith("/console");
      const opcode = OPCODE[`${method} ${path}`];
      const writeable = t.owner.includes("write");
      const ok = t.grants.some((g) => {
        if (g.kind !== "*" && g.kind !== kind) return false;
        if (write && (g.access !== "write" || !writeable)) return false;
        if (g.opcodes && (write || READ_JOBS.has(`${method} ${path}`)) && !(opcode && g.opcodes.includes(opcode))) return false;
        if (name === undefined) return (write && method === "POST" && api === "2") || (!g.names && !g.tags);
        return (!g.names || g.names.includes(name)) && (!g.tags || g.tags.every((tag) => (TAGS[name] ?? []).includes(tag)));
      });
      return ok ? "allowed" : 403;
    }

    before(async () => {
      const make = async (name: string, grants: Grant[], user: "writer" | "ops" | "gone" = "writer", expiresIn = 3600) => {
        const { token } = await createToken(grants, user, expiresIn);
        const owner = user === "writer" ? ["write"] : ["write"];
        tokens.push({ name, token, grants, owner, valid: true });
        return tokens[tokens.length - 1];
      };
      await make("read-all", [{ access: "read", kind: "*" }]);
      await make("web-writer", [{ access: "write", kind: "instance", tags: ["team:web"] }, { access: "read", kind: "node" }]);
      await make("one-instance", [{ access: "write", kind: "instance", names: [DB] }, { access: "read", kind: "node" }]);
      await make("nodes-only", [{ access: "write", kind: "node" }]);
      await make("start-stop", [{ access: "write", kind: "instance", opcodes: ["OP_INSTANCE_STARTUP", "OP_INSTANCE_SHUTDOWN"] }, { access: "read", kind: "node" }]);
      const expired = await make("expired", [{ access: "write", kind: "*" }], "writer", 1);
      const readOwner = await make("owner-without-write", [{ access: "write", kind: "*" }], "ops");
      const gone = await make("owner-removed", [{ access: "write", kind: "*" }], "gone");
      const revoked = await make("revoked", [{ access: "write", kind: "*" }]);
      tokenId = revoked.token.slice(7, 19);
      assert.equal((await asWriter("DELETE", `/corral/1/tokens/${tokenId}`)).status, 200);
      revoked.valid = false;
      gone.valid = false;
      expired.valid = false;
      // ops keeps its user but loses write; gone is no user any more.
      await c.setUsers(usersText("read", false), async () => (await call(c.port, "GET", "/corral/1/tokens", { user: as("ops") })).status === 403);
      readOwner.owner = ["read"];
      await new Promise((r) => setTimeout(r, 1100)); // the expired token's second
      // Every job from here on is held, so that an allowed request changes nothing before it is canceled.
      const rule = await asWriter("POST", "/2/filters", { priority: 0, action: "PAUSE", predicates: [] });
      assert.equal(rule.status, 200, rule.text);
      pauseRule = rule.json as string;
    });
    after(async () => {
      await asWriter("DELETE", `/2/filters/${pauseRule}`);
    });

    it("never lets a token do what its grants do not allow; a refusal leaves no job and no config change", async () => {
      const doc = (await call(c.port, "GET", "/corral/1/openapi.json")).json as { paths: Record<string, Record<string, { "x-corral-access"?: string[] }>> };
      const values: Record<string, string[]> = {
        instance_name: [WEB, DB], node_name: [NODE], group_name: ["default"], network_name: ["net1"], job_id: [String(webJob)],
        filter_uuid: [pauseRule], disk_index: ["0"], resource: ["instance", "node", "job", "lock", "filter"], token_id: [tokenId],
      };
      const counts = { requests: 0, allowed: 0, refused: 0, escapes: 0, overRefused: 0 };
      const escapes: string[] = [];
      const overRefused: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        if (path.startsWith("/api/v1")) continue; // the PVC API: its own X-Api-Key auth, no tokens
        const names = [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
        const fillings = names.reduce<Dict[]>((acc, p) => acc.flatMap((f) => (values[p] ?? ["x"]).map((v) => ({ ...f, [p]: v }))), [{}]);
        for (const [m, op] of Object.entries(ops)) {
          const method = m.toUpperCase();
          if (!["GET", "HEAD", "PUT", "POST", "DELETE"].includes(method)) continue;
          for (const params of fillings) {
            const url = path.replace(/\{([a-z_]+)\}/g, (_s, p: string) => encodeURIComponent(String(params[p])));
            for (const t of tokens) {
              const expected = model(t, method, path, params, op["x-corral-access"] ?? []);
              const jobsBefore = c.master.queue.highestJobId();
              const serialBefore = c.master.store.snapshot().serial;
              const body = path.endsWith("/wait") ? { fields: ["status"] } : path.startsWith("/2/query/") && method === "PUT" ? { fields: ["name"] } : method === "GET" || method === "HEAD" ? undefined : {};
              const pending = call(c.port, method, url, { ...bearer(t.token), body });
              // Held jobs of allowed requests are canceled (a synchronous one would wait for ever).
              let settled = false;
              void pending.finally(() => (settled = true));
              while (!settled) {
                for (let id = jobsBefore + 1; id <= c.master.queue.highestJobId(); id++) await c.master.queue.cancel(id);
                await new Promise((r) => setTimeout(r, 10));
              }
              const r = await pending;
              for (let id = jobsBefore + 1; id <= c.master.queue.highestJobId(); id++) await c.master.queue.cancel(id);
              counts.requests++;
              const what = `${t.name} ${method} ${url} → ${r.status} ${r.text.slice(0, 160)}`;
              const refused = r.status === 401 || r.status === 403;
              if (refused) {
                counts.refused++;
                if (method !== "HEAD") {
                  const e = r.json as Dict;
                  assert.ok(e && e.code === r.status && typeof e.message === "string" && typeof e.explain === "string", `Ganeti's error body: ${what}`);
                }
                assert.equal(c.master.queue.highestJobId(), jobsBefore, `no job after a refusal: ${what}`);
                assert.equal(c.master.store.snapshot().serial, serialBefore, `no config change after a refusal: ${what}`);
                if (expected === "allowed") overRefused.push(what);
              } else {
                counts.allowed++;
                if (expected !== "allowed") escapes.push(what);
              }
            }
          }
        }
      }
      counts.escapes = escapes.length;
      counts.overRefused = overRefused.length;
      console.log(`token matrix: ${JSON.stringify(counts)}`);
      if (overRefused.length > 0) console.log(`refused though the model allows:\n${overRefused.join("\n")}`);
      assert.deepEqual(escapes, [], "escapes");
      assert.ok(counts.requests > 800 && counts.allowed > 80 && counts.refused > 400, JSON.stringify(counts));
    });
  });

  describe("jobs a token submits: every object they lock must be covered", () => {
    let web = { id: "", token: "" };
    before(async () => {
      web = await createToken([{ access: "write", kind: "instance", tags: ["team:web"] }, { access: "read", kind: "node" }]);
    });
    const asWeb = (method: string, path: string, body?: unknown) => call(c.port, method, path, { ...bearer(web.token), body });

    it("starts, stops, migrates and tags its tagged instance, and touches nothing of the untagged one", async () => {
      assert.equal((await job(await asWeb("PUT", `/2/instances/${WEB}/startup`))).status, "success");
      assert.equal(instance(WEB)?.admin_state, "up");
      // One node: the migration fails in its prerequisites, but it was the cluster's to refuse, not the token's.
      const migrated = await job(await asWeb("PUT", `/2/instances/${WEB}/migrate`, {}));
      assert.doesNotMatch(JSON.stringify(migrated.opresult), /API token/);
      assert.equal((await job(await asWeb("PUT", `/2/instances/${WEB}/tags?tag=owner:web`))).status, "success");
      assert.equal((await job(await asWeb("PUT", `/2/instances/${WEB}/shutdown`, {}))).status, "success");
      assert.equal(instance(WEB)?.admin_state, "down");
      const jobs = c.master.queue.highestJobId();
      const serial = c.master.store.snapshot().serial;
      for (const [method, path] of [["PUT", `/2/instances/${DB}/startup`], ["PUT", `/2/instances/${DB}/tags?tag=team:web`], ["DELETE", `/2/instances/${DB}`], ["PUT", `/2/nodes/${NODE}/role`]]) {
        const r = await asWeb(method, path, method === "PUT" && path.endsWith("role") ? "drained" : undefined);
        assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      }
      assert.equal(c.master.queue.highestJobId(), jobs);
      assert.equal(c.master.store.snapshot().serial, serial);
    });

    it("refuses a submission whose body names an object it does not cover, before any job exists", async () => {
      const creator = await createToken([{ access: "write", kind: "instance", names: ["new1.corral.test"] }, { access: "read", kind: "node" }]);
      const spec = (name: string) => ({
        __version__: 1, mode: "create", name, disk_template: "diskless", disks: [], nics: [{}], os_type: "corral-marker+default",
        beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, ip_check: false, name_check: false, start: false,
      });
      const jobs = c.master.queue.highestJobId();
      const serial = c.master.store.snapshot().serial;
      const multi = await call(c.port, "POST", "/2/instances-multi-alloc", { ...bearer(creator.token), body: { instances: [spec("new1.corral.test"), spec("new2.corral.test")].map(({ __version__: _v, ...op }) => op) } });
      assert.equal(multi.status, 403, multi.text);
      assert.match((multi.json as Dict).message as string, /OP_INSTANCE_MULTI_ALLOC on instance new2\.corral\.test/);
      const other = await call(c.port, "POST", "/2/instances", { ...bearer(creator.token), body: spec("new2.corral.test") });
      assert.equal(other.status, 403, other.text);
      // A tag selector never covers an instance that does not exist yet.
      assert.equal((await asWeb("POST", "/2/instances", spec("web2.corral.test"))).status, 403);
      assert.equal(c.master.queue.highestJobId(), jobs, "no job");
      assert.equal(c.master.store.snapshot().serial, serial, "no change");
      const created = await job(await call(c.port, "POST", "/2/instances", { ...bearer(creator.token), body: spec("new1.corral.test") }));
      assert.equal(created.status, "success", JSON.stringify(created.opresult));
      assert.ok(instance("new1.corral.test"));
    });

    it("checks again under the job's locks: a tag removed while the job waited fails it, with nothing changed", async () => {
      const rule = await asWriter("POST", "/2/filters", { priority: 0, action: "PAUSE", predicates: [["opcode", ["=", "OP_ID", "OP_INSTANCE_STARTUP"]]] });
      assert.equal(rule.status, 200, rule.text);
      const held = await asWeb("PUT", `/2/instances/${WEB}/startup`);
      assert.equal(held.status, 200, held.text);
      const id = held.json as number;
      assert.equal(c.master.queue.get(id)?.token, web.id, "the job carries its token");
      assert.equal((await job(await asWriter("DELETE", `/2/instances/${WEB}/tags?tag=team:web`))).status, "success");
      const serial = instance(WEB)?.serial_no;
      assert.equal((await asWriter("DELETE", `/2/filters/${rule.json as string}`)).status, 200);
      const ended = await waitJob(c.port, id);
      assert.equal(ended.status, "error");
      assert.match(JSON.stringify(ended.opresult), /does not allow OP_INSTANCE_STARTUP on instance web1\.corral\.test/);
      assert.equal(instance(WEB)?.admin_state, "down");
      assert.equal(instance(WEB)?.serial_no, serial);
      assert.equal((await job(await asWriter("PUT", `/2/instances/${WEB}/tags?tag=team:web`))).status, "success");
    });

    it("lets an opcode-limited token run those opcodes only", async () => {
      const startStop = await createToken([{ access: "write", kind: "instance", opcodes: ["OP_INSTANCE_STARTUP", "OP_INSTANCE_SHUTDOWN"] }, { access: "read", kind: "node" }]);
      const asLimited = (method: string, path: string) => call(c.port, method, path, bearer(startStop.token));
      assert.equal((await job(await asLimited("PUT", `/2/instances/${DB}/startup`))).status, "success");
      assert.equal((await job(await asLimited("PUT", `/2/instances/${DB}/shutdown`))).status, "success");
      assert.equal((await asLimited("POST", `/2/instances/${DB}/reboot`)).status, 403);
      assert.equal((await asLimited("PUT", `/2/instances/${DB}/tags?tag=x`)).status, 403);
    });
  });

  describe("validity: expiry, revocation, owners, restarts", () => {
    const readInfo = (token: string) => call(c.port, "GET", "/2/info", bearer(token));

    it("refuses a token past its expiry, after revocation, and malformed or unknown ones (401)", async () => {
      const short = await createToken([{ access: "read", kind: "*" }], "writer", 1);
      assert.equal((await readInfo(short.token)).status, 200);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await readInfo(short.token)).status, 401);
      const revoked = await createToken([{ access: "read", kind: "*" }]);
      assert.equal((await readInfo(revoked.token)).status, 200);
      assert.equal((await asWriter("DELETE", `/corral/1/tokens/${revoked.id}`)).status, 200);
      assert.equal((await readInfo(revoked.token)).status, 401);
      assert.equal((await asWriter("DELETE", `/corral/1/tokens/${revoked.id}`)).status, 404);
      const wrongSecret = revoked.token.slice(0, -4) + "AAAA";
      for (const token of ["corral_", "corral_nope", wrongSecret, `${(await createToken([{ access: "read", kind: "*" }])).token.slice(0, -1)}`]) {
        const r = await readInfo(token);
        assert.equal(r.status, 401, token);
        assert.equal((r.json as Dict).code, 401);
      }
    });

    it("fails the queued jobs of a token revoked meanwhile", async () => {
      const t = await createToken([{ access: "write", kind: "instance" }, { access: "read", kind: "node" }]);
      const rule = await asWriter("POST", "/2/filters", { priority: 0, action: "PAUSE", predicates: [["opcode", ["=", "OP_ID", "OP_INSTANCE_STARTUP"]]] });
      const held = await call(c.port, "PUT", `/2/instances/${DB}/startup`, bearer(t.token));
      assert.equal(held.status, 200, held.text);
      assert.equal((await asWriter("DELETE", `/corral/1/tokens/${t.id}`)).status, 200);
      await asWriter("DELETE", `/2/filters/${rule.json as string}`);
      const ended = await waitJob(c.port, held.json as number);
      assert.equal(ended.status, "error");
      assert.match(JSON.stringify(ended.opresult), /no longer valid/);
      assert.equal(instance(DB)?.admin_state, "down");
    });

    it("binds a token to its owner's users-file rights, re-read on every request", async () => {
      await c.setUsers(usersText("write", false), async () => (await call(c.port, "GET", "/corral/1/tokens", { user: as("ops") })).status === 200);
      const t = await createToken([{ access: "write", kind: "instance" }, { access: "read", kind: "*" }], "ops");
      const start = () => call(c.port, "PUT", `/2/instances/${DB}/startup?dry-run=1`, bearer(t.token));
      assert.equal((await start()).status, 200);
      await c.setUsers(usersText("read", false), async () => (await call(c.port, "GET", "/corral/1/tokens", { user: as("ops") })).status === 403);
      assert.equal((await start()).status, 403, "an owner without write lends only read");
      assert.equal((await readInfo(t.token)).status, 200);
      await c.setUsers(usersFileText(), async () => (await readInfo(t.token)).status === 401);
      assert.equal((await readInfo(t.token)).status, 401, "an owner no longer in the users file");
      await c.setUsers(usersText("write", false), async () => (await readInfo(t.token)).status === 200);
    });

    it("never manages tokens with a token, and never shows a secret or its hash", async () => {
      const all = await createToken([{ access: "write", kind: "*" }]);
      for (const [method, path] of [["GET", "/corral/1/tokens"], ["POST", "/corral/1/tokens"], ["GET", `/corral/1/tokens/${all.id}`], ["DELETE", `/corral/1/tokens/${all.id}`]]) {
        const r = await call(c.port, method, path, { ...bearer(all.token), body: method === "POST" ? { grants: [{ access: "read", kind: "*" }], expires_in: 60 } : undefined });
        assert.equal(r.status, 403, `${method} ${path}`);
      }
      const listed = await call(c.port, "GET", "/corral/1/tokens", { user: "writer" });
      assert.equal(listed.status, 200);
      assert.ok((listed.json as Dict[]).some((t) => t.id === all.id));
      assert.ok(!listed.text.includes(secretOf(all.token)) && !/sha256|secret/.test(listed.text), "no secret, no hash");
      const shown = (await call(c.port, "GET", `/corral/1/tokens/${all.id}`, { user: "writer" })).json as Dict;
      assert.deepEqual(Object.keys(shown).sort(), ["created", "created_by", "description", "expires", "grants", "id", "owner"]);
      assert.equal((await call(c.port, "GET", "/corral/1/tokens", { user: "reader" })).status, 403, "read users do not manage tokens");
    });

    it("checks a new token's grants and expiry (400 in Ganeti's error body)", async () => {
      const post = (body: unknown) => call(c.port, "POST", "/corral/1/tokens", { user: "writer", body });
      for (const [body, message] of [
        [{ grants: [{ access: "read", kind: "vm" }], expires_in: 60 }, /'kind' must be one of/],
        [{ grants: [{ access: "read", kind: "node", colour: "red" }], expires_in: 60 }, /unknown field 'colour'/],
        [{ grants: [{ access: "read", kind: "node" }] }, /exactly one of 'expires'/],
        [{ grants: [{ access: "read", kind: "node" }], expires_in: 400 * 86400 }, /at most 366 days/],
        [{ grants: [{ access: "read", kind: "node" }], expires: 1000 }, /expires in the future/],
        [{ grants: [], expires_in: 60 }, /non-empty list/],
        [{ grants: [{ access: "read", kind: "node" }], expires_in: 60, owner: "admin" }, /Unknown field 'owner'/],
      ] as [Dict, RegExp][]) {
        const r = await post(body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.match(((r.json as Dict).message as string).replaceAll("&#x27;", "'"), message);
        assert.equal((r.json as Dict).explain, "Bad request syntax or unsupported method");
      }
    });

    it("names the token in the audit trail, filterable, and never logs a token", async () => {
      const t = await createToken([{ access: "write", kind: "instance" }, { access: "read", kind: "node" }]);
      assert.equal((await job(await call(c.port, "PUT", `/2/instances/${DB}/tags?tag=audited`, bearer(t.token)))).status, "success");
      assert.equal((await call(c.port, "PUT", `/2/nodes/${NODE}/role`, { ...bearer(t.token), body: "drained" })).status, 403);
      const user = `writer (token ${t.id})`;
      const records = (await call(c.port, "GET", `/corral/1/audit?user=${encodeURIComponent(user)}`, { user: "writer" })).json as Dict[];
      assert.deepEqual(records.map((r) => [r.method, r.route, r.status]), [
        ["PUT", "/2/nodes/[node_name]/role", 403],
        ["PUT", "/2/instances/[instance_name]/tags", 200],
      ]);
      const logged = c.lines.join("\n");
      assert.ok(logged.includes(user), "the log's audit lines name the token");
      assert.ok(issued.length > 0);
      for (const token of issued) assert.ok(!logged.includes(secretOf(token)), "no token secret in the log");
      // Should a token reach a log line (a client's message, an error), the master's log scrubs its secret.
      const seen: string[] = [];
      scrubbing((line) => void seen.push(line), new KnownSecrets())(`request failed: token=x Authorization: Bearer ${t.token}; echoed ${t.token}`);
      assert.ok(!seen[0].includes(secretOf(t.token)) && seen[0].includes(t.id), seen[0]);
    });

    it("keeps tokens, and the token a queued job acts for, across a restart", async () => {
      const t = await createToken([{ access: "write", kind: "instance" }, { access: "read", kind: "*" }]);
      const rule = await asWriter("POST", "/2/filters", { priority: 0, action: "PAUSE", predicates: [["opcode", ["=", "OP_ID", "OP_INSTANCE_STARTUP"]]] });
      const held = await call(c.port, "PUT", `/2/instances/${DB}/startup`, bearer(t.token));
      assert.equal(held.status, 200, held.text);
      await c.master.close();
      await c.start();
      assert.equal(c.master.queue.get(held.json as number)?.token, t.id);
      assert.equal((await readInfo(t.token)).status, 200);
      assert.equal((await asWriter("DELETE", `/2/filters/${rule.json as string}`)).status, 200);
      assert.equal((await waitJob(c.port, held.json as number)).status, "success");
      assert.equal(instance(DB)?.admin_state, "up");
      assert.equal((await job(await call(c.port, "PUT", `/2/instances/${DB}/shutdown`, bearer(t.token)))).status, "success");
    });
  });

  describe("the corral token command", () => {
    const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));
    const corral = (args: string[]): Promise<{ code: number; out: string; err: string }> =>
      new Promise((resolve) => {
        const env = { PATH: process.env.PATH ?? "", HOME: c.dir, CORRAL_RAPI_URL: `http://127.0.0.1:${c.port}`, CORRAL_RAPI_USER: "writer", CORRAL_RAPI_PASSWORD: USERS.writer };
        execFile(CORRAL, args, { timeout: 60_000, env }, (error, stdout, stderr) => {
          const code = error ? (error as { code?: number }).code : 0;
          resolve({ code: typeof code === "number" ? code : 1, out: stdout, err: stderr });
        });
      });

    it("creates a token from the compact grant syntax, lists, shows and revokes it", async () => {
      const made = await corral(["token", "create", "--grant", "write:instance:tag=team:web", "--grant", "read:node", "--expires", "2d", "--description", "web team"]);
      assert.equal(made.code, 0, made.err);
      const token = made.out.trim();
      assert.match(token, /^corral_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
      assert.match(made.err, /shown only this once/);
      const id = token.slice(7, 19);
      assert.equal((await call(c.port, "GET", `/2/instances/${WEB}`, bearer(token))).status, 200);
      assert.equal((await call(c.port, "GET", `/2/instances/${DB}`, bearer(token))).status, 403);
      const listed = await corral(["token", "list"]);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, new RegExp(`^${id}\\s+writer\\s+\\S+\\s+write:instance:tag=team:web read:node\\s+web team$`, "m"));
      assert.ok(!listed.out.includes(secretOf(token)));
      const shown = await corral(["token", "show", id, "--format", "json"]);
      const view = JSON.parse(shown.out) as Dict;
      assert.deepEqual(view.grants, [{ access: "write", kind: "instance", tags: ["team:web"] }, { access: "read", kind: "node" }]);
      assert.ok(Math.abs((view.expires as number) - (Date.now() / 1000 + 2 * 86400)) < 60);
      assert.equal((await corral(["token", "revoke", id])).code, 0);
      assert.equal((await call(c.port, "GET", `/2/instances/${WEB}`, bearer(token))).status, 401);
      assert.equal((await corral(["token", "revoke", id])).code, 1, "a second revoke: 404");
    });

    it("refuses a bad grant or duration as a usage error (exit 2), and documents the syntax", async () => {
      const bad = await corral(["token", "create", "--grant", "write:vm", "--expires", "1d"]);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /'kind' must be one of/);
      assert.equal((await corral(["token", "create", "--grant", "read:*", "--expires", "soon"])).code, 2);
      const help = await corral(["token", "create", "--help"]);
      assert.match(help.out, /access:kind\[:name=N1,N2\]\[:tag=T1,T2\]\[:op=OP_ID,OP_PREFIX_\*\]/);
    });
  });
});

// Test support for the hostile-input tests (bad-input sweep, fuzz): a two-node cluster serving
// RAPI and the PVC API with one existing object of every kind either API names in its paths,
// a fingerprint of everything a request could change, what a clean answer is in each API's
// format, and which requests were allowed to change anything at all.

import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corralNodeRoutes } from "../../src/api/corral/nodes.ts";
import { PvcAuth } from "../../src/api/pvc/auth.ts";
import { parsePvcConfig } from "../../src/api/pvc/config.ts";
import { pvcRoutes } from "../../src/api/pvc/index.ts";
import type { PvcServices } from "../../src/api/pvc/jobs.ts";
import { rapiRoutes } from "../../src/api/rapi/resources.ts";
import type { RapiServices } from "../../src/api/rapi/services.ts";
import { dataPaths } from "../../src/master/datadir.ts";
import { calcJobStatus, type Job } from "../../src/model/job.ts";
import type { ConfigSnapshot } from "../../src/store/store.ts";
import { pvcYaml } from "../pvc/support.ts";
import { call, type CallOptions, type Reply } from "./cluster.ts";
import { PVC_TOKENS } from "./secrets.ts";
import type { RouteShape } from "./fuzzgen.ts";

export type { RouteShape };
import { createBody, ok, startInstanceCluster, type InstanceCluster } from "./instances.ts";

/** The PVC API's token in the hostile cluster (authentication on, so anonymous calls are refused). */
export const PVC_TOKEN = PVC_TOKENS.hostile;

/** Every route of the RAPI listener (Ganeti's table and Corral's own) and of the PVC listener. */
export function allRoutes(): RouteShape[] {
  // The tables are read for their patterns only; no handler runs, so no services are needed.
  const noServices = {} as RapiServices & PvcServices;
  const rapi = [...rapiRoutes(noServices), ...corralNodeRoutes(noServices)];
  const pvc = pvcRoutes(noServices, new PvcAuth(parsePvcConfig(pvcYaml()), () => undefined));
  return [
    ...rapi.map((r) => ({ api: "rapi" as const, pattern: r.pattern, methods: Object.keys(r.methods) })),
    // PVC's Flask-style <name> parameters, written as RAPI's [name] so one substitution serves both.
    ...pvc.map((r) => ({ api: "pvc" as const, pattern: r.pattern.replace(/<([a-z_]+)>/g, "[$1]"), methods: Object.keys(r.methods) })),
  ];
}

/** Fills a pattern's parameters from `values` (a parameter it lacks gets `fallback`). */
export function fillPattern(pattern: string, values: Readonly<Record<string, string>>, fallback: string): string {
  return pattern.replace(/\[([a-z_]+)\]/g, (_, name: string) => values[name] ?? fallback);
}

/** Parameter values naming nothing that exists (digit parameters stay digits, so the route matches). */
export const MISSING_PARAMS: Readonly<Record<string, string>> = {
  job_id: "987654", disk_index: "7", osd: "99", network: "4095",
};

export interface HostileCluster {
  c: InstanceCluster;
  rapiPort: number;
  pvcPort: number;
  /** Path parameter values naming existing objects (kept current by repair()). */
  existing: Record<string, string>;
  /** Recreates fixtures that an accepted request removed; call before taking a fingerprint. */
  repair(): Promise<void>;
  /** Everything a request could change: the config, running instances, files on the nodes. */
  fingerprint(): Promise<string>;
  pvcCall(method: string, path: string, o?: CallOptions & { anonymous?: boolean }): Promise<Reply>;
  close(): Promise<void>;
}

const INSTANCE = "inst1.corral.test";
const RAPI_NETWORK = "net1";
const PVC_VNI = "100";

export async function startHostileCluster(): Promise<HostileCluster> {
  const c = await startInstanceCluster({ extraNodes: 1, master: { liveRefreshMs: 60_000, pvcConfigFile: pvcConfigFile() } });
  const rapiPort = c.master.port;
  const pvcPort = c.master.pvcPort!;
  const store = c.master.store;
  const pvcCall: HostileCluster["pvcCall"] = (method, path, o = {}) =>
    call(pvcPort, method, path, { ...o, headers: { ...(o.anonymous ? {} : { "X-Api-Key": PVC_TOKEN }), ...o.headers } });
  const pvcForm = async (method: string, path: string, form: Record<string, string>) => {
    const r = await pvcCall(method, `/api/v1${path}`, { rawBody: new URLSearchParams(form).toString(), contentType: "application/x-www-form-urlencoded" });
    if (r.status !== 200) throw new Error(`fixture ${method} ${path}: ${r.status} ${r.text}`);
  };
  const existing: Record<string, string> = {
    instance_name: INSTANCE, node_name: "node1.corral.test", group_name: "default", network_name: RAPI_NETWORK,
    job_id: "1", disk_index: "0", resource: "instance",
    node: "node1.corral.test", vm: INSTANCE, network: PVC_VNI, lease: "52:54:00:ab:cd:01", acl: "ssh-in",
    osd: "0", pool: "vms", volume: "vol1", snapshot: "snap1", filter_uuid: "",
  };
  const has = (snap: ConfigSnapshot, kind: "instances" | "networks" | "filters", test: (name: string, pvcVni?: number) => boolean) =>
    [...snap[kind].values()].some((o) => test("name" in o ? String(o.name) : o.uuid, "pvc" in o ? (o.pvc as { vni: number } | undefined)?.vni : undefined));
  const pvcJson = async (path: string): Promise<unknown> => (await pvcCall("GET", `/api/v1${path}`)).json;

  async function repair(): Promise<void> {
    await c.master.queue.idle();
    const snap = store.snapshot();
    if (!has(snap, "instances", (n) => n === INSTANCE)) await ok(rapiPort, "POST", "/2/instances", createBody(INSTANCE));
    const inst = [...store.snapshot().instances.values()].find((i) => i.name === INSTANCE);
    if (inst && inst.admin_state !== "up") await ok(rapiPort, "PUT", `/2/instances/${INSTANCE}/startup`);
    if (!has(snap, "networks", (n) => n === RAPI_NETWORK)) await ok(rapiPort, "POST", "/2/networks", { network_name: RAPI_NETWORK, network: "10.9.0.0/24", gateway: "10.9.0.1" });
    if (!snap.filters.has(existing.filter_uuid)) {
      const r = await call(rapiPort, "POST", "/2/filters", { user: "writer", body: { priority: 50, predicates: [], action: "CONTINUE" } });
      if (r.status !== 200 || typeof r.json !== "string") throw new Error(`fixture filter: ${r.status} ${r.text}`);
      existing.filter_uuid = r.json;
    }
    if (!has(snap, "networks", (_, vni) => vni === Number(PVC_VNI))) {
      await pvcForm("POST", "/network", {
        vni: PVC_VNI, description: "cust1", nettype: "managed", domain: "cust1.example.com",
        ip4_network: "10.100.0.0/24", ip4_gateway: "10.100.0.1", dhcp4: "", dhcp4_start: "10.100.0.100", dhcp4_end: "10.100.0.199",
      });
    }
    const leases = (await pvcCall("GET", `/api/v1/network/${PVC_VNI}/lease`, {})).json;
    if (!JSON.stringify(leases ?? null).includes(existing.lease)) {
      await pvcForm("POST", `/network/${PVC_VNI}/lease`, { macaddress: existing.lease, ipaddress: "10.100.0.10", hostname: "db1" });
    }
    if (!JSON.stringify(await pvcJson(`/network/${PVC_VNI}/acl`) ?? null).includes(existing.acl)) {
      await pvcForm("POST", `/network/${PVC_VNI}/acl`, { description: existing.acl, direction: "in", rule: "tcp dport 22 accept" });
    }
    if (!JSON.stringify(await pvcJson("/storage/ceph/pool") ?? null).includes('"vms"')) await pvcForm("POST", "/storage/ceph/pool", { pool: "vms", pgs: "32" });
    if (!JSON.stringify(await pvcJson("/storage/ceph/volume") ?? null).includes('"vol1"')) await pvcForm("POST", "/storage/ceph/volume", { pool: "vms", volume: "vol1", size: "1G" });
    if (!JSON.stringify(await pvcJson("/storage/ceph/snapshot") ?? null).includes('"snap1"')) await pvcForm("POST", "/storage/ceph/snapshot", { pool: "vms", volume: "vol1", snapshot: "snap1" });
    await c.master.queue.idle();
  }

  const agents = () => [c.master.connections.localAgent, ...c.extra.map((n) => n.agent.agent)];
  const fileRoots = () => [dataPaths(c.dataDir).nodeState, c.sharedDir, ...c.extra.map((n) => n.stateDir)];

  async function fingerprint(): Promise<string> {
    await c.master.queue.idle();
    const running = await Promise.all(agents().map(async (a) => (await a.instanceList({})).map((i) => `${a.nodeName}:${i.name}:${i.state}:${i.memory}:${i.vcpus}`)));
    return JSON.stringify({ config: configView(store.snapshot()), running: running.flat().sort(), files: fileRoots().flatMap((d) => listFiles(d)) }, null, 1);
  }

  try {
    await repair();
  } catch (err) {
    await c.close();
    throw err;
  }
  return { c, rapiPort, pvcPort, existing, repair, fingerprint, pvcCall, close: () => c.close() };
}

function pvcConfigFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), "corral-hostile-")), "pvc-api.yaml");
  writeFileSync(file, pvcYaml({ enabled: true, tokens: [PVC_TOKEN] }));
  return file;
}

/** The whole config, maps as sorted entries (a snapshot's Maps do not stringify). */
function configView(snap: ConfigSnapshot): unknown {
  const sorted = <T>(m: ReadonlyMap<string, T>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  return { serial: snap.serial, cluster: snap.cluster, nodes: sorted(snap.nodes), groups: sorted(snap.groups), instances: sorted(snap.instances), networks: sorted(snap.networks), filters: sorted(snap.filters) };
}

/** Files under a node's state and storage directories, with sizes; logs are left out (every job may write them). */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(d, name);
      if (name === "log") continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else out.push(`${p}:${st.size}`);
    }
  };
  walk(dir);
  return out;
}

/** Jobs submitted after job `lastId`. */
export function jobsAfter(c: InstanceCluster, lastId: number): Job[] {
  return [...c.master.queue.all()].filter((j) => j.id > lastId);
}

/** Whether any of the jobs did something (an opcode that succeeded); only then may state change. */
export const anyOpcodeSucceeded = (jobs: readonly Job[]) => jobs.some((j) => j.ops.some((o) => o.status === "success"));

/**
 * The 5xx answers real Ganeti gives for these cases (PROTOCOL.md's status codes, RESOURCES.md,
 * the golden captures): tags of a missing object and filter failures (500/502), a method the
 * resource lacks (501), the console of an instance that is not running (503). The PVC API
 * answers every failure 4xx.
 */
const GANETI_5XX = [
  /^GET \/2\/(groups|instances|networks|nodes)\/\[\w+\]\/tags 500 .*not found/,
  /^(PUT|DELETE) \/2\/filters\/\[filter_uuid\] 500 /,
  /^(POST|PUT) \/2\/filters(\/\[filter_uuid\])? 502 .*Failed to parse request/,
  /^GET \/2\/instances\/\[instance_name\]\/console 503 Instance console unavailable$/,
];

export function isGaneti5xx(route: RouteShape, method: string, r: Reply): boolean {
  if (route.api !== "rapi") return false;
  const message = (r.json as { message?: unknown } | undefined)?.message;
  if (r.status === 501 && !route.methods.includes(method)) return true;
  return GANETI_5XX.some((re) => re.test(`${method} ${route.pattern} ${r.status} ${typeof message === "string" ? message : ""}`));
}

/** Text that only a programming error or a leaked stack trace would put in an answer. */
export const JS_INTERNALS = /\.ts:\d+|node:internal|\n\s+at [\w.<>]+ \(|TypeError|ReferenceError|RangeError|Cannot read prop|is not a function|is not iterable|Maximum call stack|undefined is not|\[object Object\]/;

/** Problems with an answer's shape (empty when it is clean): error bodies in the API's own format, no JS internals. */
export function answerProblems(api: "rapi" | "pvc", r: Reply): string[] {
  const problems: string[] = [];
  if (JS_INTERNALS.test(r.text)) problems.push(`JS internals in the body: ${r.text.slice(0, 300)}`);
  if (r.status < 400) return problems;
  const body = r.json as Record<string, unknown> | undefined;
  if (api === "rapi") {
    if (typeof body !== "object" || body === null || body.code !== r.status || typeof body.message !== "string" || typeof body.explain !== "string") {
      problems.push(`not a RAPI error body {code,message,explain}: ${r.text.slice(0, 300)}`);
    }
  } else if (typeof body !== "object" || body === null || typeof body.message !== "string") {
    problems.push(`not a PVC error body {"message"}: ${r.text.slice(0, 300)}`);
  }
  return problems;
}

/** Problems with the failed jobs among `jobs`: each must fail with a Ganeti error class and no JS internals. */
export function jobProblems(jobs: readonly Job[]): string[] {
  const problems: string[] = [];
  for (const job of jobs) {
    if (calcJobStatus(job) !== "error") continue;
    for (const op of job.ops) {
      if (op.status !== "error") continue;
      const result = op.result as [unknown, unknown[]] | undefined;
      const [cls, args] = Array.isArray(result) ? result : [undefined, undefined];
      const text = `${String(op.input.OP_ID)}: ${String(cls)} ${JSON.stringify(args ?? result)}`;
      if (typeof cls !== "string" || !/^[A-Z]\w*Error$/.test(cls) || !Array.isArray(args)) problems.push(`job ${job.id} not a Ganeti-encoded error: ${text}`);
      else if (JS_INTERNALS.test(JSON.stringify(args)) || /\bundefined\b/.test(String(args[0]))) problems.push(`job ${job.id} fails with a programming error: ${text}`);
    }
  }
  return problems;
}

/** Where two fingerprints first differ, with a little context. */
export function firstDifference(before: string, after: string): string {
  const a = before.split("\n");
  const b = after.split("\n");
  const i = a.findIndex((line, k) => line !== b[k]);
  return `line ${i}: ${a.slice(Math.max(0, i - 2), i + 3).join(" ")} => ${b.slice(Math.max(0, i - 2), i + 3).join(" ")}`;
}

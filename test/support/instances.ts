// Test support for instance tests: a master whose cluster has more nodes than its own, each
// an agent served over HTTPS (runNodeAgent on 127.0.0.1, port 0, the master's cluster
// certificate) and added to the config directly by a store transaction. All agents share
// the master's sharedfile directory, as nodes share a cluster file system. (The
// `corral node add` way of joining nodes lives in multinode.ts; this one needs no join job
// and lets a test pick the memory of each node.)

import { randomUUID } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataPaths } from "../../src/master/datadir.ts";
import type { MasterOptions } from "../../src/master/master.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import type { Node } from "../../src/model/objects.ts";
import { runNodeAgent, type RunningNodeAgent } from "../../src/node/index.ts";
import { call, startTestMaster, waitJob, type TestMaster, type UserName } from "./cluster.ts";

export const DOMAIN = "corral.test";

export interface AgentNode {
  name: string;
  uuid: string;
  stateDir: string;
  agent: RunningNodeAgent;
}

export interface InstanceCluster extends TestMaster {
  port: number;
  /** node2, node3, ... (node1 is the master's own, in-process). */
  extra: AgentNode[];
  /** The master's own node's agent state directory. */
  localStateDir: string;
  sharedDir: string;
}

export interface InstanceClusterOptions {
  extraNodes?: number;
  /** Fake hypervisor memory per node, MiB (node1 first). */
  memoryMiB?: number[];
  /** Disk templates to enable (default: all Corral implements). */
  templates?: string[];
  master?: Partial<MasterOptions>;
}

export async function startInstanceCluster(o: InstanceClusterOptions = {}): Promise<InstanceCluster> {
  const t = await startTestMaster({ nodeName: `node1.${DOMAIN}`, localMemoryMiB: o.memoryMiB?.[0], ...o.master });
  const store = t.master.store;
  const templates = o.templates ?? ["diskless", "file", "sharedfile", "ext"];
  await store.transact((tx) =>
    tx.updateCluster((c) => {
      c.enabled_disk_templates = [...templates];
      c.ipolicy["disk-templates"] = [...templates];
    }));
  const sharedDir = dataPaths(t.dataDir).sharedFileStorage;
  const { cert, key } = clusterCertPaths(t.dataDir);
  const extra: AgentNode[] = [];
  const dirs: string[] = [];
  try {
    for (let i = 0; i < (o.extraNodes ?? 0); i++) {
      const index = i + 2;
      const name = `node${index}.${DOMAIN}`;
      const stateDir = mkdtempSync(join(tmpdir(), `corral-${name}-`));
      dirs.push(stateDir);
      const agent = await runNodeAgent({
        bind: "127.0.0.1", port: 0, certFile: cert, keyFile: key, stateDir, nodeName: name,
        memoryTotal: o.memoryMiB?.[index - 1], sharedFileStorageDir: sharedDir,
      });
      const uuid = randomUUID();
      await store.transact((tx) => {
        const group = [...tx.current.groups.values()][0];
        const node: Node = {
          uuid, serial_no: 1, ctime: 0, mtime: 0, tags: [], name,
          primary_ip: `127.0.1.${index}`, secondary_ip: `127.0.1.${index}`, group: group.uuid,
          offline: false, drained: false, master_candidate: true, master_capable: true, vm_capable: true,
          ndparams: {}, agent_endpoint: agent.endpoint, powered: true,
        };
        tx.add("node", node);
      });
      extra.push({ name, uuid, stateDir, agent });
    }
    await t.master.live.refresh();
  } catch (err) {
    await Promise.all(extra.map((n) => n.agent.close()));
    await t.close();
    throw err;
  }
  return {
    ...t,
    port: t.master.port,
    extra,
    localStateDir: dataPaths(t.dataDir).nodeState,
    sharedDir,
    async close() {
      await t.close();
      await Promise.all(extra.map((n) => n.agent.close()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Submits over RAPI and returns the job id (asserting the 200 and the integer id). */
export async function submit(port: number, method: string, path: string, body?: unknown, user: UserName = "writer"): Promise<number> {
  const r = await call(port, method, path, { user, body });
  if (r.status !== 200 || typeof r.json !== "number") throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

/** Submits and waits; the finished job. */
export async function run(port: number, method: string, path: string, body?: unknown, user: UserName = "writer"): Promise<Record<string, unknown>> {
  return waitJob(port, await submit(port, method, path, body, user), 60_000);
}

/** Submits, waits and requires success; the first opcode's result. */
export async function ok(port: number, method: string, path: string, body?: unknown): Promise<unknown> {
  const job = await run(port, method, path, body);
  if (job.status !== "success") throw new Error(`${method} ${path}: job ${String(job.id)} ${String(job.status)}: ${JSON.stringify(job.opresult)}`);
  return (job.opresult as unknown[])[0];
}

/** The error of the job's first failed opcode: [class, args]. */
export async function fails(port: number, method: string, path: string, body?: unknown): Promise<[string, unknown[]]> {
  const job = await run(port, method, path, body);
  if (job.status !== "error") throw new Error(`${method} ${path}: expected failure, got ${String(job.status)}: ${JSON.stringify(job.opresult)}`);
  return (job.opresult as unknown[]).find((r) => Array.isArray(r)) as [string, unknown[]];
}

/** An instance creation body (request version 1) with Corral's OS. */
export function createBody(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    __version__: 1,
    mode: "create",
    name: name.includes(".") ? name : `${name}.${DOMAIN}`,
    disk_template: "file",
    disks: [{ size: 1024 }],
    nics: [{}],
    os: "corral-marker+default",
    pnode: `node1.${DOMAIN}`,
    beparams: { maxmem: 128, minmem: 128, vcpus: 1 },
    ...over,
  };
}

export async function getInstance(port: number, name: string): Promise<Record<string, unknown>> {
  const r = await call(port, "GET", `/2/instances/${name}`);
  if (r.status !== 200) throw new Error(`GET instance ${name}: ${r.status} ${r.text}`);
  return r.json as Record<string, unknown>;
}

/** The first `bytes` of a file (disk images are large; reading them whole is slow). */
export function head(path: string, bytes = 200): string {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n).toString();
  } finally {
    closeSync(fd);
  }
}

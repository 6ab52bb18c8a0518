// Test support: a multi-node Corral cluster in this process. The master (with its local
// in-process agent, node1) plus N agents served over HTTPS on 127.0.0.1 with the master's
// cluster certificate, each joined the way an operator joins one: POST /corral/1/nodes
// through the client that `corral node add` uses, an OP_NODE_ADD job that checks the agent
// answers with the cluster certificate and the right protocol version before it commits.
// The agents share the master's sharedfile directory, as nodes share a cluster file system.

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { addNode } from "../../src/client/nodes.ts";
import { RapiClient } from "../../src/client/rapi.ts";
import { dataPaths } from "../../src/master/datadir.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { runNodeAgent, type RunningNodeAgent } from "../../src/node/index.ts";
import { startTestMaster, USERS, type TestMaster } from "./cluster.ts";
import type { MasterOptions } from "../../src/master/master.ts";
import type { Instance } from "../../src/model/objects.ts";
import type { ConfigStore } from "../../src/store/store.ts";

export const DOMAIN = "corral.test";

export interface ExtraNode {
  name: string;
  primaryIp: string;
  endpoint: string;
  stateDir: string;
  agent: RunningNodeAgent;
}

export interface MultiNodeCluster extends TestMaster {
  /** The nodes beyond the master (node2, node3, ...), joined in order. */
  nodes: ExtraNode[];
  /** A client for the master's RAPI as the test user "writer" (or another). */
  client(user?: keyof typeof USERS): RapiClient;
  /** Starts one more agent and, unless `join` is false, joins it. */
  addAgent(o?: { join?: boolean; memoryMiB?: number }): Promise<ExtraNode>;
}

export interface MultiNodeOptions {
  /** Agents to start and join besides the master's own (default 2: a three-node cluster). */
  extraNodes?: number;
  /** Fake hypervisor memory of each agent, MiB (default the agent's, 32768). */
  memoryMiB?: number;
  /** Disk templates to enable through PUT /2/modify (default: the new cluster's). */
  templates?: string[];
  master?: Partial<MasterOptions>;
}

export async function startMultiNodeCluster(o: MultiNodeOptions = {}): Promise<MultiNodeCluster> {
  const t = await startTestMaster({ nodeName: `node1.${DOMAIN}`, localMemoryMiB: o.memoryMiB, ...o.master });
  const { cert, key } = clusterCertPaths(t.dataDir);
  // Nodes share a cluster file system for sharedfile disks: the master's directory.
  const sharedDir = dataPaths(t.dataDir).sharedFileStorage;
  const scheme = t.ssl ? "https" : "http";
  const client = (user: keyof typeof USERS = "writer") =>
    new RapiClient({ url: `${scheme}://127.0.0.1:${t.master.port}`, user, password: USERS[user], insecure: true });
  const nodes: ExtraNode[] = [];
  const dirs: string[] = [];

  const addAgent = async (a: { join?: boolean; memoryMiB?: number } = {}): Promise<ExtraNode> => {
    const index = nodes.length + 2;
    const name = `node${index}.${DOMAIN}`;
    const stateDir = mkdtempSync(join(tmpdir(), `corral-${name}-`));
    dirs.push(stateDir);
    const agent = await runNodeAgent({
      bind: "127.0.0.1",
      port: 0,
      certFile: cert,
      keyFile: key,
      stateDir,
      nodeName: name,
      memoryTotal: a.memoryMiB ?? o.memoryMiB,
      sharedFileStorageDir: sharedDir,
    });
    // All agents listen on 127.0.0.1, but Ganeti refuses two nodes with one address: each
    // node gets its own loopback address as its identity.
    const node: ExtraNode = { name, primaryIp: `127.0.1.${index}`, endpoint: agent.endpoint, stateDir, agent };
    nodes.push(node);
    if (a.join !== false) await addNode(client(), { name, endpoint: agent.endpoint, primaryIp: node.primaryIp });
    return node;
  };

  try {
    if (o.templates) {
      const templates = o.templates;
      const job = await client().request("PUT", "/2/modify", { enabled_disk_templates: templates, ipolicy: { "disk-templates": templates } });
      const done = await client().waitForJob(job as number);
      if (done.status !== "success") throw new Error(`enabling ${templates.join(", ")}: ${JSON.stringify(done.opresult)}`);
    }
    for (let i = 0; i < (o.extraNodes ?? 2); i++) await addAgent();
  } catch (err) {
    await Promise.all(nodes.map((n) => n.agent.close()));
    await t.close();
    throw err;
  }

  return {
    ...t,
    // The master of the moment: restart() replaces it.
    get master() {
      return t.master;
    },
    nodes,
    client,
    addAgent,
    async close() {
      await t.close();
      await Promise.all(nodes.map((n) => n.agent.close()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** A multi-node cluster for the enclosing suite: started before its tests, closed after. */
export function suiteCluster(o: MultiNodeOptions = {}): { readonly c: MultiNodeCluster; readonly port: number } {
  let c: MultiNodeCluster | undefined;
  before(async () => {
    c = await startMultiNodeCluster(o);
  });
  after(() => c?.close());
  return {
    get c() {
      if (!c) throw new Error("the suite's cluster is not running");
      return c;
    },
    get port() {
      return this.c.master.port;
    },
  };
}

export interface FixtureInstance {
  name: string;
  /** Node names. */
  primary: string;
  secondaries?: string[];
  diskTemplate?: string;
  adminState?: "up" | "down";
}

/**
 * Puts an instance straight into the config (no disks are made and nothing starts): enough
 * for what node operations read — which instances a node holds, and their disk templates.
 */
export function injectInstance(store: ConfigStore, f: FixtureInstance): Promise<Instance> {
  return store.transact((tx) => {
    const byName = (name: string) => {
      const node = [...tx.current.nodes.values()].find((n) => n.name === name || n.name.startsWith(name + "."));
      if (!node) throw new Error(`no node ${name}`);
      return node.uuid;
    };
    const template = f.diskTemplate ?? "diskless";
    const nodes = [byName(f.primary), ...(f.secondaries ?? []).map(byName)];
    const disks = template === "diskless" ? [] : [{
      uuid: randomUUID(), name: null, size: 1024, mode: "rw" as const, dev_type: template, spindles: null,
      logical_id: [], params: {}, nodes, serial_no: 1, ctime: 0, mtime: 0,
    }];
    return tx.add("instance", {
      uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [],
      name: f.name.includes(".") ? f.name : `${f.name}.${DOMAIN}`,
      primary_node: nodes[0], secondary_nodes: nodes.slice(1),
      os: "corral-marker+default", hypervisor: "fake", hvparams: {}, beparams: {}, osparams: {}, osparams_private: {},
      admin_state: f.adminState ?? "down", admin_state_source: "admin", disk_template: template, disks,
      nics: [], network_port: null, disks_active: false,
    });
  });
}

/** Submits a job as "writer" and waits for it; a job that does not succeed throws with its result. */
export async function runJob(c: MultiNodeCluster, method: string, uri: string, body?: unknown): Promise<void> {
  const client = c.client();
  const job = await client.waitForJob((await client.request(method, uri, body)) as number);
  if (job.status !== "success") throw new Error(`${method} ${uri}: ${job.status} ${JSON.stringify(job.opresult)}`);
}

/** Creates `<name>.corral.test` on node `pnode` (short name): `memory` MiB, one 1 GiB disk (none when diskless). */
export function createTestInstance(c: MultiNodeCluster, name: string, pnode: string, template: string, memory: number, vcpus = 1): Promise<void> {
  return runJob(c, "POST", "/2/instances", {
    __version__: 1, mode: "create", name: `${name}.${DOMAIN}`, os: "corral-marker+default", pnode: `${pnode}.${DOMAIN}`,
    disk_template: template, disks: template === "diskless" ? [] : [{ size: 1024 }], nics: [{}],
    beparams: { maxmem: memory, minmem: memory, vcpus },
  });
}

/**
 * How far a balancing score term may drift between a plan and the cluster after it: every agent
 * of a test cluster reports the free space of the one host file system, which moves as other
 * tests write (an etcd member preallocates 64 MiB WAL files), so the free-disk terms follow the
 * host; every other term must be exactly what the plan said.
 */
export function scoreTermTolerance(term: string): number {
  return term.startsWith("free_disk") ? 1e-2 : 1e-9;
}

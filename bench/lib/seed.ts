// Seeds a Corral data directory with a generated cluster, written straight through the
// ConfigStore API (one transaction), before any master runs on it. The bench uses it while
// POST /2/instances does not exist yet, and always for the large (100,000-instance) case.
//
//   node bench/lib/seed.ts --data-dir DIR --nodes 2000 --instances 100000 [--disk-template file]
//
// Instances look like the ones the Ganeti reference's grow_instances.py creates: fake
// hypervisor, OS "noop", one routed NIC with an address, beparams 128 MiB / 1 VCPU, stopped.
// With --disk-template file each also gets one 1 GiB file disk.

import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dataPaths, ensureRapiCert } from "../../src/master/datadir.ts";
import type { Disk, Instance, Nic, Node } from "../../src/model/objects.ts";
import { initializeCluster } from "../../src/ops/init.ts";
import { openDatabase, SqliteConfigStore } from "../../src/store/sqlite.ts";

export const CLUSTER_NAME = "cluster.corral.bench";
export const MASTER_NODE = "node0001.corral.bench";

export interface SeedOptions {
  dataDir: string;
  /** Nodes in all, the master node included. */
  nodes: number;
  instances: number;
  diskTemplate: "diskless" | "file";
}

export interface SeedResult {
  nodes: number;
  instances: number;
  disk_template: string;
  seconds: number;
}

export const nodeName = (i: number) => `node${String(i + 1).padStart(4, "0")}.corral.bench`;
export const instanceName = (i: number) => `inst${String(i + 1).padStart(6, "0")}.corral.bench`;

function mac(i: number): string {
  const b = [(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff].map((x) => x.toString(16).padStart(2, "0"));
  return `aa:00:00:${b.join(":")}`;
}

function ip(i: number): string {
  return `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`;
}

export async function seedDataDir(o: SeedOptions): Promise<SeedResult> {
  const t0 = performance.now();
  const paths = dataPaths(o.dataDir);
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(paths.database);
  const store = new SqliteConfigStore(db);
  try {
    if (store.isInitialized()) throw new Error(`${o.dataDir} already holds a cluster; seed an empty directory`);
    // The same first config `corral master` writes on a fresh data directory.
    initializeCluster(store, {
      clusterName: CLUSTER_NAME,
      nodeName: MASTER_NODE,
      nodeIp: "127.0.0.1",
      enabledHypervisors: ["fake"],
      enabledDiskTemplates: ["diskless", "file"],
      fileStorageDir: paths.fileStorage,
      sharedFileStorageDir: paths.sharedFileStorage,
      agentEndpoint: "local",
    });
    const snap = store.snapshot();
    const master = snap.nodes.get(snap.cluster.master_node)!;
    await store.transact((tx) => {
      const nodeUuids = [master.uuid];
      for (let n = 1; n < o.nodes; n++) {
        const node: Node = {
          ...master,
          uuid: randomUUID(),
          name: nodeName(n),
          // Never contacted by the bench; port 9 (discard) refuses at once if anything tries.
          primary_ip: `127.1.${(n >> 8) & 0xff}.${n & 0xff}`,
          secondary_ip: `127.1.${(n >> 8) & 0xff}.${n & 0xff}`,
          master_candidate: n < 10,
          agent_endpoint: "https://127.0.0.1:9",
          ndparams: {},
          tags: [],
        };
        tx.add("node", node);
        nodeUuids.push(node.uuid);
      }
      for (let i = 0; i < o.instances; i++) {
        const pnode = nodeUuids[i % nodeUuids.length];
        const name = instanceName(i);
        const nic: Nic = { uuid: randomUUID(), name: null, mac: mac(i), ip: ip(i), network: null, nicparams: {} };
        const disks: Disk[] = [];
        if (o.diskTemplate === "file") {
          disks.push({
            uuid: randomUUID(), name: null, size: 1024, mode: "rw", dev_type: "file", spindles: null,
            logical_id: ["loop", join(paths.fileStorage, name, "disk0")], params: {}, nodes: [pnode],
            serial_no: 1, ctime: 0, mtime: 0,
          });
        }
        const inst: Instance = {
          uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [],
          name, primary_node: pnode, secondary_nodes: [], os: "noop", hypervisor: "fake",
          hvparams: {}, beparams: { minmem: 128, maxmem: 128, vcpus: 1 }, osparams: {}, osparams_private: {},
          admin_state: "down", admin_state_source: "admin", disk_template: o.diskTemplate,
          disks, nics: [nic], network_port: null, disks_active: false,
        };
        tx.add("instance", inst);
      }
    });
  } finally {
    await store.close();
  }
  return {
    nodes: o.nodes,
    instances: o.instances,
    disk_template: o.diskTemplate,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}

/** The certificate `corral master` would generate on first start, made ahead of time. */
export async function seedCertificate(dataDir: string): Promise<void> {
  await ensureRapiCert(dataPaths(dataDir).rapiPem, MASTER_NODE);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "data-dir": { type: "string" },
      nodes: { type: "string", default: "1" },
      instances: { type: "string", default: "0" },
      "disk-template": { type: "string", default: "diskless" },
    },
    strict: true,
  });
  if (!values["data-dir"]) throw new Error("--data-dir is required");
  const template = values["disk-template"];
  if (template !== "diskless" && template !== "file") throw new Error(`--disk-template: diskless or file, not ${template}`);
  const result = await seedDataDir({
    dataDir: values["data-dir"],
    nodes: Math.max(1, Number(values.nodes)),
    instances: Math.max(0, Number(values.instances)),
    diskTemplate: template,
  });
  await seedCertificate(values["data-dir"]);
  process.stdout.write(JSON.stringify(result) + "\n");
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`seed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}

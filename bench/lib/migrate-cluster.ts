// The migration measure's two-node cluster, as a process of its own (as the bench runs every
// master): Corral's master with its own node agent, whose QEMUs run in network namespace A,
// and a second node agent whose QEMUs run in namespace B; A and B are joined by a veth pair
// the bench made. `corral master` has no flag for the kvm driver's namespace (only the tests
// set it), so this process calls startMaster and runNodeAgent itself, as the e2e test does.
// Usage: node migrate-cluster.ts '<json ClusterSpec>'; prints "READY <port>" once node B has
// joined, and stops both on SIGTERM.

import { mkdirSync } from "node:fs";
import { addNode } from "../../src/client/nodes.ts";
import { RapiClient } from "../../src/client/rapi.ts";
import { dataPaths } from "../../src/master/datadir.ts";
import { startMaster } from "../../src/master/master.ts";
import { clusterCertPaths } from "../../src/master/nodes.ts";
import { runNodeAgent } from "../../src/node/index.ts";

export interface ClusterSpec {
  dataDir: string;
  usersFile: string;
  /** Node B's state directory. */
  nodeBDir: string;
  nodeA: { name: string; ip: string; netns: string };
  nodeB: { name: string; ip: string; netns: string };
  /** The agents' migrationDeadlineFloorMs (see the bench's README). */
  deadlineFloorMs: number;
  user: string;
  password: string;
}

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as ClusterSpec;
  const master = await startMaster({
    dataDir: spec.dataDir, port: 0, bind: "127.0.0.1", ssl: true, usersFile: spec.usersFile, requireAuthentication: false,
    maxClients: 20, clusterName: "cluster.corral.bench", nodeName: spec.nodeA.name, nodeIp: spec.nodeA.ip, log, announce: log,
    kvm: { netns: spec.nodeA.netns, defaultAccelerator: "tcg", migrationDeadlineFloorMs: spec.deadlineFloorMs },
  });
  mkdirSync(spec.nodeBDir, { recursive: true });
  const { cert, key } = clusterCertPaths(spec.dataDir);
  const nodeB = await runNodeAgent({
    bind: "127.0.0.1", port: 0, certFile: cert, keyFile: key, stateDir: spec.nodeBDir, nodeName: spec.nodeB.name,
    sharedFileStorageDir: dataPaths(spec.dataDir).sharedFileStorage,
    kvm: { netns: spec.nodeB.netns, defaultAccelerator: "tcg", migrationDeadlineFloorMs: spec.deadlineFloorMs },
  });
  const stop = async () => {
    await nodeB.close().catch(() => undefined);
    await master.close().catch(() => undefined);
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void stop());
  const client = new RapiClient({ url: `https://127.0.0.1:${master.port}`, user: spec.user, password: spec.password, insecure: true });
  await addNode(client, { name: spec.nodeB.name, endpoint: nodeB.endpoint, primaryIp: spec.nodeB.ip });
  process.stdout.write(`READY ${master.port}\n`);
}

main().catch((err: unknown) => {
  log(`migrate-cluster: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});

// runNodeAgent (src/node/main.ts) end to end: agents on 127.0.0.1 with ephemeral ports, the
// master side reaching them over HTTPS with the cluster certificate.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { generateClusterCert, saveClusterCert, type ClusterCert } from "../../rpc/certs.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import { httpsClient } from "../../rpc/https.ts";
import type { NodeRpcClient } from "../../rpc/client.ts";
import { runNodeAgent, type RunningNodeAgent } from "../main.ts";
import { SHARE_DIR } from "../paths.ts";
import { diskSpec, instanceSpec } from "../testkit.ts";

describe("node agents over HTTPS", () => {
  let root: string;
  let cluster: ClusterCert;
  const agents: RunningNodeAgent[] = [];
  const clients: NodeRpcClient[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "corral-agents-"));
    cluster = await generateClusterCert();
    await saveClusterCert(cluster, join(root, "cluster.pem"), join(root, "cluster.key"));
    for (const name of ["node1", "node2"]) {
      const running = await runNodeAgent({
        stateDir: join(root, name),
        nodeName: name,
        bind: "127.0.0.1",
        port: 0,
        certFile: join(root, "cluster.pem"),
        keyFile: join(root, "cluster.key"),
        memoryTotal: 4096,
        memoryDom0: 256,
        // One shared directory, as sharedfile storage is on a real cluster.
        sharedFileStorageDir: join(root, "shared"),
        osSearchPath: [join(SHARE_DIR, "os")],
        extStorageSearchPath: [join(SHARE_DIR, "extstorage")],
      });
      agents.push(running);
      clients.push(httpsClient({ endpoint: running.endpoint, tls: cluster, node: name }));
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const a of agents) await a.close();
    await rm(root, { recursive: true, force: true });
  });

  test("each agent answers as its node, on its own ephemeral port", async () => {
    assert.notEqual(agents[0].server.port, agents[1].server.port);
    assert.match(agents[0].endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await clients[0].version({})).node, "node1");
    assert.equal((await clients[1].version({})).node, "node2");
    assert.equal((await clients[1].nodeInfo({})).memory_free, 4096 - 256);
  });

  test("disks, OS install, start and migration work across the wire", async () => {
    const [n1, n2] = clients;
    const base = diskSpec({ dev_type: "sharedfile", size: 4 });
    const created = await n1.blockdevCreate({ instance: "wire.example.com", index: 0, disk: base });
    const inst = instanceSpec({ name: "wire.example.com", disks: [{ ...base, logical_id: created.logical_id }] });
    await n1.instanceOsAdd({ instance: inst, reinstall: false, debug: 0 });
    await n1.instanceStart({ instance: inst });
    const { info } = await n1.migrationInfo({ instance: inst });
    await n2.acceptInstance({ instance: inst, info, target: "127.0.0.1" });
    await n1.migrateInstance({ instance: inst, target: "127.0.0.1", live: true });
    await n2.finalizeMigrationDst({ instance: inst, info, success: true });
    await n1.finalizeMigrationSource({ instance: inst, success: true, live: true });
    assert.equal(await n1.instanceInfo({ name: inst.name, hypervisor: "fake" }), null);
    assert.equal((await n2.instanceInfo({ name: inst.name, hypervisor: "fake" }))?.memory, 1024);
    await assert.rejects(
      n2.instanceStart({ instance: instanceSpec({ name: "too-big", beparams: { maxmem: 4000, minmem: 4000, vcpus: 1 } }) }),
      (e: unknown) => e instanceof RpcCallError && e.errClass === "HypervisorError" && e.ecode === "insufficient_resources" && e.node === "node2",
    );
  });

  test("a master holding another certificate is refused", async () => {
    const other = await generateClusterCert({ commonName: "other-cluster" });
    const intruder = httpsClient({ endpoint: agents[0].endpoint, tls: other });
    try {
      await assert.rejects(intruder.nodeInfo({}), (e: unknown) => e instanceof RpcCallError && e.unreachable);
    } finally {
      intruder.close();
    }
  });
});

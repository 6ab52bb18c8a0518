import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { NodeGroup } from "../model/objects.ts";
import { initializeCluster } from "../ops/init.ts";
import { openDatabase, SqliteConfigStore } from "../store/sqlite.ts";
import { objectEvents } from "./objects.ts";

describe("object events", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-events-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteConfigStore(openDatabase(join(dir, "config.db")));
  initializeCluster(store, {
    clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
    enabledDiskTemplates: ["diskless"], fileStorageDir: join(dir, "f"), sharedFileStorageDir: join(dir, "s"), agentEndpoint: "local",
  });
  const published: Record<string, unknown>[] = [];
  store.onCommit(objectEvents({ publish: (_kind, _name, data) => published.push(data as Record<string, unknown>) }));
  const group = (name: string): NodeGroup => ({ ...[...store.snapshot().groups.values()][0], uuid: randomUUID(), name, tags: [] });

  it("says what a transaction created, changed and removed, with the new serials", async () => {
    const g = group("g1");
    await store.transact((tx) => tx.add("nodegroup", g));
    await store.transact((tx) => tx.update("nodegroup", g.uuid, (x) => void (x.tags = ["t"])));
    await store.transact((tx) => tx.remove("nodegroup", g.uuid));
    const serial = store.snapshot().serial;
    assert.deepEqual(published.splice(0), [
      { kind: "group", name: "g1", uuid: g.uuid, serial_no: 1, change: "created", config_serial: serial - 2 },
      { kind: "group", name: "g1", uuid: g.uuid, serial_no: 2, change: "changed", config_serial: serial - 1 },
      { kind: "group", name: "g1", uuid: g.uuid, serial_no: null, change: "removed", config_serial: serial },
    ]);
  });

  it("says nothing of an object added and removed in one transaction, and names the cluster when it changes", async () => {
    const g = group("g2");
    await store.transact((tx) => {
      tx.add("nodegroup", g);
      tx.remove("nodegroup", g.uuid);
      tx.updateCluster((c) => void (c.tags = ["x"]));
    });
    const snap = store.snapshot();
    assert.deepEqual(published.splice(0), [
      { kind: "cluster", name: "c", uuid: snap.cluster.uuid, serial_no: snap.cluster.serial_no, change: "changed", config_serial: snap.serial },
    ]);
  });
});

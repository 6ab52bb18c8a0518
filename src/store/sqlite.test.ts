import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { initializeCluster } from "../ops/init.ts";
import { openDatabase, SqliteConfigStore } from "./sqlite.ts";

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), "corral-store-"));
  const path = join(dir, "config.db");
  const store = new SqliteConfigStore(openDatabase(path));
  initializeCluster(store, {
    clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
    enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
  });
  return { dir, path, store };
}

describe("SqliteConfigStore", () => {
  it("gives readers an unchanging snapshot while a transaction commits", async () => {
    const { dir, store } = fresh();
    try {
      const before = store.snapshot();
      const group = [...before.groups.values()][0];
      await store.transact((tx) => tx.update("nodegroup", group.uuid, (g) => void (g.tags = ["x"])));
      assert.deepEqual(before.groups.get(group.uuid)!.tags, [], "the old snapshot is untouched");
      const after = store.snapshot();
      assert.deepEqual(after.groups.get(group.uuid)!.tags, ["x"]);
      assert.equal(after.groups.get(group.uuid)!.serial_no, group.serial_no + 1);
      assert.equal(after.serial, before.serial + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("commits all of a transaction or nothing", async () => {
    const { dir, path, store } = fresh();
    try {
      const before = store.snapshot();
      await assert.rejects(
        store.transact((tx) => {
          tx.updateCluster((c) => void (c.tags = ["half"]));
          throw new Error("failed midway");
        }),
        /failed midway/,
      );
      assert.deepEqual(store.snapshot().cluster.tags, []);
      assert.equal(store.snapshot().serial, before.serial);
      await store.close();
      const reopened = new SqliteConfigStore(openDatabase(path));
      assert.deepEqual(reopened.snapshot().cluster.tags, []);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("persists committed changes across reopening", async () => {
    const { dir, path, store } = fresh();
    try {
      await store.transact((tx) => tx.updateCluster((c) => void (c.tags = ["kept"])));
      const node = [...store.snapshot().nodes.values()][0];
      await store.transact((tx) => tx.remove("node", node.uuid));
      await store.close();
      const reopened = new SqliteConfigStore(openDatabase(path));
      assert.deepEqual(reopened.snapshot().cluster.tags, ["kept"]);
      assert.equal(reopened.snapshot().nodes.size, 0);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("database file", () => {
  it("is readable by its owner only, its journal too", async () => {
    const { statSync, existsSync } = await import("node:fs");
    const { dir, path, store } = fresh();
    try {
      await store.transact((tx) => tx.updateCluster((c) => void (c.tags = ["x"])));
      await store.flush();
      assert.equal(statSync(path).mode & 0o777, 0o600);
      if (existsSync(`${path}-wal`)) assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

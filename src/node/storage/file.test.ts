import assert from "node:assert/strict";
import { mkdir, readdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { AgentError } from "../../rpc/errors.ts";
import { diskSpec, tempDir } from "../testkit.ts";
import { FileBackend } from "./file.ts";

const MiB = 1024 * 1024;

test("a file disk is a sparse file of the requested size, at Ganeti's path", async (t) => {
  const dir = await tempDir(t);
  const backend = new FileBackend("file", dir);
  const disk = diskSpec({ size: 64 });
  const created = await backend.create(disk, { instance: "inst1.example.com", index: 0 });
  const path = join(dir, "inst1.example.com", `${disk.uuid}.file.disk0`);
  assert.deepEqual(created, { logical_id: ["loop", path], path });
  const st = await stat(path);
  assert.equal(st.size, 64 * MiB);
  assert.ok(st.blocks * 512 < MiB, `sparse: ${st.blocks} blocks allocated`);
  assert.deepEqual(await backend.find({ ...disk, logical_id: created.logical_id }), { exists: true, size: 64, path });
});

test("creating over an existing file is refused", async (t) => {
  const backend = new FileBackend("file", await tempDir(t));
  const disk = diskSpec();
  const { logical_id } = await backend.create(disk, { instance: "i", index: 0 });
  await assert.rejects(backend.create({ ...disk, logical_id }, { instance: "i", index: 0 }), (e: unknown) =>
    e instanceof AgentError && e.errClass === "BlockDeviceError" && /already existing/.test(e.message),
  );
});

test("grow extends the file by the amount; dry-run changes nothing", async (t) => {
  const backend = new FileBackend("file", await tempDir(t));
  const base = diskSpec({ size: 10 });
  const disk = { ...base, ...(await backend.create(base, { instance: "i", index: 0 })) };
  assert.equal(await backend.grow(disk, 5, true), 15);
  assert.equal((await stat(disk.path)).size, 10 * MiB);
  assert.equal(await backend.grow(disk, 5, false), 15);
  assert.equal((await stat(disk.path)).size, 15 * MiB);
  assert.ok((await stat(disk.path)).blocks * 512 < MiB, "still sparse");
});

test("rename moves the file; remove deletes it and the emptied instance directory", async (t) => {
  const dir = await tempDir(t);
  const backend = new FileBackend("sharedfile", dir);
  const base = diskSpec({ dev_type: "sharedfile" });
  const created = await backend.create(base, { instance: "old", index: 0 });
  assert.match(created.path, /\.sharedfile\.disk0$/);
  const newId = ["loop", join(dir, "new", "disk0")];
  const renamed = await backend.rename({ ...base, logical_id: created.logical_id }, newId);
  assert.deepEqual(renamed, newId);
  assert.deepEqual(await readdir(dir), ["new"]);
  await backend.remove({ ...base, logical_id: renamed });
  assert.deepEqual(await readdir(dir), []);
  // Removing what is already gone is fine.
  await backend.remove({ ...base, logical_id: renamed });
});

test("paths outside the storage directory are refused, symlinks included", async (t) => {
  const root = await tempDir(t);
  const dir = join(root, "storage");
  const backend = new FileBackend("file", dir);
  for (const path of ["/etc/passwd", join(dir, "..", "escape"), dir, "relative/../../x"]) {
    await assert.rejects(backend.create(diskSpec({ logical_id: ["loop", path] }), { instance: "i", index: 0 }), /outside|leads outside|Invalid/, path);
  }
  await mkdir(join(root, "elsewhere"));
  await mkdir(dir, { recursive: true });
  await symlink(join(root, "elsewhere"), join(dir, "link"));
  await assert.rejects(
    backend.create(diskSpec({ logical_id: ["loop", join(dir, "link", "disk")] }), { instance: "i", index: 0 }),
    /leads outside/,
  );
  await assert.rejects(backend.create(diskSpec({ logical_id: ["nbd", join(dir, "x")] }), { instance: "i", index: 0 }), /Unknown file driver/);
  await assert.rejects(backend.create(diskSpec(), { instance: "../evil", index: 0 }), /Invalid instance name/);
  await writeFile(join(root, "elsewhere", "victim"), "x");
  await assert.rejects(backend.remove(diskSpec({ logical_id: ["loop", join(root, "elsewhere", "victim")] })), /outside/);
});

test("space info reports the storage directory's file system in MiB", async (t) => {
  const dir = join(await tempDir(t), "fs");
  const info = await new FileBackend("file", dir).spaceInfo();
  assert.equal(info.type, "file");
  assert.equal(info.name, dir);
  assert.ok(Number.isInteger(info.storage_size) && info.storage_size! > 0);
  assert.ok(Number.isInteger(info.storage_free) && info.storage_free! <= info.storage_size!);
});

import assert from "node:assert/strict";
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { RpcCallError } from "../../rpc/errors.ts";
import { inProcessClient } from "../../rpc/inprocess.ts";
import { NodeAgent } from "../agent/agent.ts";
import { SHARE_DIR } from "../paths.ts";
import { diskSpec, instanceSpec, tempDir } from "../testkit.ts";

const MiB = 1024 * 1024;

async function agentAt(t: { after(fn: () => Promise<void> | void): void }, name = "node1.example.com") {
  const stateDir = await tempDir(t);
  const agent = new NodeAgent({ stateDir, nodeName: name, osSearchPath: [join(SHARE_DIR, "os")], extStorageSearchPath: [] });
  const client = inProcessClient(agent, { node: name });
  t.after(() => client.close());
  return { client, stateDir };
}

/** A file disk made on the agent, with a recognisable block written at 3 MiB. */
async function diskWithData(client: Awaited<ReturnType<typeof agentAt>>["client"], inst: string, size = 8) {
  const spec = diskSpec({ size });
  const created = await client.blockdevCreate({ instance: inst, index: 0, disk: spec });
  const disk = { ...spec, logical_id: created.logical_id };
  const fh = await open(created.path as string, "r+");
  await fh.write(Buffer.from("hello from disk 0"), 0, 17, 3 * MiB);
  await fh.close();
  return { disk, path: created.path as string };
}

test("an export dumps each disk through the OS export script, sparse, and import writes it back", async (t) => {
  const { client, stateDir } = await agentAt(t);
  const { disk, path } = await diskWithData(client, "src.example.com");
  const inst = instanceSpec({ name: "src.example.com", disks: [disk] });
  await client.exportPrepare({ name: inst.name });
  const dumped = await client.exportDisk({ instance: inst, index: 0, name: inst.name });
  assert.equal(dumped.file, disk.uuid);
  assert.equal(dumped.size, 8 * MiB);
  assert.deepEqual(await client.exportList({}), [], "a half-made export is not listed");
  const fin = await client.exportFinalize({ name: inst.name, config: "[export]\nversion = 0\n" });
  assert.equal(fin.path, join(stateDir, "export", inst.name));
  assert.deepEqual(await client.exportList({}), [inst.name]);
  const dump = await stat(join(fin.path, disk.uuid));
  assert.equal(dump.size, 8 * MiB);
  assert.ok(dump.blocks * 512 < 2 * MiB, `the dump stays sparse (${dump.blocks} blocks)`);
  assert.match((await client.exportInfo({ path: inst.name })).config, /version = 0/);
  assert.equal((await client.exportInfo({ path: fin.path })).path, fin.path);

  // Import into a new instance's fresh disk.
  const target = await client.blockdevCreate({ instance: "dst.example.com", index: 0, disk: diskSpec({ size: 8 }) });
  const dst = instanceSpec({ name: "dst.example.com", disks: [{ ...diskSpec({ size: 8 }), logical_id: target.logical_id }] });
  await client.importDisk({ instance: dst, index: 0, path: inst.name, file: disk.uuid });
  const back = await readFile(target.path as string);
  assert.equal(back.subarray(3 * MiB, 3 * MiB + 17).toString(), "hello from disk 0");
  assert.ok((await stat(target.path as string)).blocks * 512 < 2 * MiB, "the imported disk stays sparse");
  assert.ok((await stat(path)).size === 8 * MiB);

  await client.exportRemove({ name: inst.name });
  assert.deepEqual(await client.exportList({}), []);
  await assert.rejects(client.exportRemove({ name: inst.name }), (e) => e instanceof RpcCallError && /not found/.test(e.message));
});

test("an export copies to another node block by block, skipping holes", async (t) => {
  const a = await agentAt(t, "a.example.com");
  const b = await agentAt(t, "b.example.com");
  const { disk } = await diskWithData(a.client, "vm.example.com", 40);
  const inst = instanceSpec({ name: "vm.example.com", disks: [disk] });
  await a.client.exportPrepare({ name: inst.name });
  await a.client.exportDisk({ instance: inst, index: 0, name: inst.name });
  await b.client.exportPrepare({ name: inst.name });
  const WINDOW = 16 * MiB;
  for (let offset = 0; ; offset += WINDOW) {
    const chunk = await a.client.exportRead({ path: `${inst.name}.new`, file: disk.uuid, offset, length: WINDOW });
    assert.ok(chunk.extents.length <= 1, "only the written block travels");
    await b.client.exportWrite({ name: `${inst.name}.new`, file: disk.uuid, size: chunk.size, extents: chunk.extents });
    if (offset + WINDOW >= chunk.size) break;
  }
  await b.client.exportFinalize({ name: inst.name, config: "[export]\n" });
  const copy = await readFile(join(b.stateDir, "export", inst.name, disk.uuid));
  assert.equal(copy.length, 40 * MiB);
  assert.equal(copy.subarray(3 * MiB, 3 * MiB + 17).toString(), "hello from disk 0");
});

test("export names and paths cannot leave the export directory", async (t) => {
  const { client } = await agentAt(t);
  await assert.rejects(client.exportInfo({ path: "/etc" }), /not an export/);
  await assert.rejects(client.exportInfo({ path: "../x" }), /Invalid export name/);
  await assert.rejects(client.exportRead({ path: "x", file: "../../etc/passwd", offset: 0, length: 10 }), /Invalid dump file name/);
});

test("blockdevConvert copies a disk's data into another template's disk", async (t) => {
  const { client } = await agentAt(t);
  const { disk } = await diskWithData(client, "conv.example.com");
  const spec = diskSpec({ size: 8, dev_type: "sharedfile" });
  const created = await client.blockdevCreate({ instance: "conv.example.com", index: 0, disk: spec });
  await client.blockdevConvert({ src: disk, dst: { ...spec, logical_id: created.logical_id } });
  const copied = await readFile(created.path as string);
  assert.equal(copied.subarray(3 * MiB, 3 * MiB + 17).toString(), "hello from disk 0");
});

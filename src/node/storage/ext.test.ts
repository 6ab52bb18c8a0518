import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { AgentError } from "../../rpc/errors.ts";
import { SHARE_DIR } from "../paths.ts";
import { diskSpec, tempDir } from "../testkit.ts";
import { diagnoseExtStorage, ES_REQUIRED_SCRIPTS, ExtStorageBackend } from "./ext.ts";

const MiB = 1024 * 1024;
const SHIPPED = join(SHARE_DIR, "extstorage");

/** Writes a provider whose scripts run `body` (with $0's name as the action). */
async function provider(base: string, name: string, body: string, params = "out Where to dump\n"): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  for (const s of ES_REQUIRED_SCRIPTS) {
    await writeFile(join(dir, s), `#!/bin/sh\naction=$(basename "$0")\n${body}\n`);
    await chmod(join(dir, s), 0o755);
  }
  await writeFile(join(dir, "parameters.list"), params);
  return dir;
}

test("the shipped filestore provider is valid; broken providers say why", async (t) => {
  const base = await tempDir(t);
  await provider(base, "good", "exit 0");
  const noExec = await provider(base, "noexec", "exit 0");
  await chmod(join(noExec, "grow"), 0o644);
  await mkdir(join(base, "empty"));
  const rows = await diagnoseExtStorage([SHIPPED, base]);
  const byName = new Map(rows.map((r) => [r.name, r]));
  const filestore = byName.get("filestore")!;
  assert.equal(filestore.valid, true, filestore.diagnose);
  assert.equal(filestore.parameters[0][0], "dir");
  assert.equal(byName.get("good")?.valid, true);
  assert.match(byName.get("noexec")!.diagnose, /'grow' .* is not executable/);
  assert.match(byName.get("empty")!.diagnose, /'create' .* is missing/);
});

test("filestore volumes are created sparse, attached, tagged, grown and removed through the scripts", async (t) => {
  const root = await tempDir(t);
  const volumes = join(root, "volumes");
  const backend = new ExtStorageBackend({ searchPath: [SHIPPED], logDir: join(root, "log") });
  const base = diskSpec({ dev_type: "ext", size: 32, name: "data", params: { provider: "filestore", dir: volumes, access: "kernelspace" } });
  const created = await backend.create(base, { instance: "inst1", index: 0, info: "originstname+inst1" });
  const volume = `${base.uuid}.ext.disk0`;
  assert.deepEqual(created.logical_id, ["filestore", volume]);
  assert.equal(created.path, join(volumes, volume));
  const st = await stat(created.path!);
  assert.equal(st.size, 32 * MiB);
  assert.ok(st.blocks * 512 < MiB, "sparse");
  assert.equal(await readFile(join(volumes, `${volume}.meta`), "utf8"), "originstname+inst1\n");

  const disk = { ...base, logical_id: created.logical_id };
  assert.deepEqual(await backend.attach(disk), { path: created.path, uris: [] });
  assert.equal(await backend.grow(disk, 8, false), 40);
  assert.equal((await stat(created.path!)).size, 40 * MiB);
  assert.deepEqual(await backend.rename(disk), created.logical_id, "ext volumes keep their name");
  await backend.remove({ ...disk, size: 40 });
  await assert.rejects(stat(created.path!), /ENOENT/);

  const log = (await readFile(join(volumes, "filestore.log"), "utf8")).trim().split("\n");
  assert.deepEqual(log.map((l) => l.split(" ")[0]), ["create", "attach", "setinfo", "attach", "grow", "detach", "remove"]);
  assert.match(log[0], new RegExp(`^create ${volume} size=32 new_size= uuid=${base.uuid} cname=data$`));
  assert.match(log[4], /^grow \S+ size=32 new_size=40 /);
});

test("scripts get exactly the ExtStorage environment, nothing of the agent's", async (t) => {
  const root = await tempDir(t);
  const out = join(root, "env");
  await mkdir(out);
  await provider(root, "envdump", `env | sort > "$EXTP_OUT/$action.env"\n[ "$action" = attach ] && echo /dev/fake0 && echo kvm:fake://vol\nexit 0`);
  const backend = new ExtStorageBackend({ searchPath: [root], logDir: join(root, "log") });
  process.env.CORRAL_SECRET_TEST = "must-not-leak";
  t.after(() => delete process.env.CORRAL_SECRET_TEST);
  const disk = diskSpec({
    dev_type: "ext",
    size: 5,
    logical_id: ["envdump", "vol-1"],
    params: { out, some_param: "x y", access: "userspace", provider: "envdump" },
  });
  const created = await backend.create(disk, { instance: "i", index: 3 });
  assert.deepEqual(created, { logical_id: ["envdump", "vol-1"], path: "/dev/fake0" });
  assert.deepEqual(await backend.attach(disk), { path: "/dev/fake0", uris: ["kvm:fake://vol"] });
  await backend.grow(disk, 2, false);

  const env = async (action: string) =>
    Object.fromEntries(
      (await readFile(join(out, `${action}.env`), "utf8"))
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  const create = await env("create");
  assert.equal(create.VOL_NAME, "vol-1");
  assert.equal(create.VOL_SIZE, "5");
  assert.equal(create.VOL_UUID, disk.uuid);
  assert.equal(create.EXTP_OUT, out);
  assert.equal(create.EXTP_SOME_PARAM, "x y");
  assert.equal(create.EXTP_ACCESS, undefined, "access configures Ganeti, not the provider");
  assert.equal(create.EXTP_PROVIDER, undefined);
  assert.equal(create.CORRAL_SECRET_TEST, undefined);
  assert.equal(create.HOME, undefined);
  const grow = await env("grow");
  assert.equal(grow.VOL_SIZE, "5");
  assert.equal(grow.VOL_NEW_SIZE, "7");
});

test("a failing script is a BlockDeviceError quoting the end of its output", async (t) => {
  const root = await tempDir(t);
  await provider(root, "broken", `echo "first line"\necho "the array is on fire" >&2\nexit 3`);
  const backend = new ExtStorageBackend({ searchPath: [root], logDir: join(root, "log") });
  await assert.rejects(backend.create(diskSpec({ dev_type: "ext", params: { provider: "broken" } }), { instance: "i", index: 0 }), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.equal(e.errClass, "BlockDeviceError");
    assert.match(e.message, /External storage's create script failed \(exited with exit code 3\)/);
    assert.match(e.message, /the array is on fire/);
    return true;
  });
  await provider(root, "silent", "exit 0");
  const silent = new ExtStorageBackend({ searchPath: [root], logDir: join(root, "log") });
  await assert.rejects(silent.attach(diskSpec({ dev_type: "ext", logical_id: ["silent", "v"] })), /neither a device path nor a URI/);
  await assert.rejects(silent.attach(diskSpec({ dev_type: "ext", logical_id: ["nosuch", "v"] })), /not found in search path/);
  await assert.rejects(silent.attach(diskSpec({ dev_type: "ext", logical_id: ["silent", "../v"] })), /Invalid volume name/);
});

test("a script that hangs is killed at the time limit", async (t) => {
  const root = await tempDir(t);
  await provider(root, "hang", "sleep 30");
  const backend = new ExtStorageBackend({ searchPath: [root], logDir: join(root, "log"), timeoutMs: 300 });
  const started = Date.now();
  await assert.rejects(backend.detach(diskSpec({ dev_type: "ext", logical_id: ["hang", "v"] })), /timed out after 0.3s/);
  assert.ok(Date.now() - started < 5000);
});

import assert from "node:assert/strict";
import { chmod, mkdir, open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { InstanceSpec } from "../../rpc/calls.ts";
import { AgentError } from "../../rpc/errors.ts";
import { SHARE_DIR } from "../paths.ts";
import { FileBackend } from "../storage/file.ts";
import { diskSpec, instanceSpec, tempDir } from "../testkit.ts";
import { diagnoseOs } from "./definition.ts";
import { OsRunner } from "./runner.ts";

const SHIPPED = join(SHARE_DIR, "os");
const MiB = 1024 * 1024;

async function firstLine(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(512);
    await fh.read(buf, 0, 512, 0);
    return buf.toString("utf8").split("\n")[0];
  } finally {
    await fh.close();
  }
}

/** An instance with one real 8 MiB file disk, and the runner to use on it. */
async function setup(t: { after(fn: () => Promise<void> | void): void }, over: Partial<InstanceSpec> = {}, searchPath = [SHIPPED]) {
  const root = await tempDir(t);
  const files = new FileBackend("file", join(root, "files"));
  const base = diskSpec({ size: 8 });
  const name = over.name ?? "inst1.example.com";
  const created = await files.create(base, { instance: name, index: 0 });
  const inst = instanceSpec({ ...over, name, disks: [{ ...base, logical_id: created.logical_id }] });
  const runner = new OsRunner({ searchPath, logDir: join(root, "log"), timeoutMs: 20_000 });
  return { root, inst, runner, path: created.path, attached: [{ path: created.path, uris: [] }] };
}

async function writeOs(base: string, name: string, files: Record<string, string>, executable: string[]): Promise<void> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    await writeFile(join(dir, file), text);
    await chmod(join(dir, file), executable.includes(file) ? 0o755 : 0o644);
  }
}

const SCRIPTS = ["create", "import", "export", "rename", "verify"];

test("the shipped corral-marker OS is valid, with its variants and parameters", async () => {
  const rows = await diagnoseOs([SHIPPED]);
  const marker = rows.find((r) => r.name === "corral-marker");
  assert.ok(marker, JSON.stringify(rows));
  assert.deepEqual(
    { ...marker, path: undefined },
    {
      name: "corral-marker",
      path: undefined,
      valid: true,
      diagnose: "",
      variants: ["default", "minimal"],
      parameters: [
        ["marker_text", "Extra word written into the marker (letters, digits, ._:@,+=-)"],
        ["fail_create", "Make the create script fail (yes or no), to exercise failure handling"],
      ],
      api_versions: [20],
    },
  );
});

test("broken OS definitions are listed as invalid with the reason", async (t) => {
  const base = await tempDir(t);
  const all = Object.fromEntries(SCRIPTS.map((s) => [s, "#!/bin/sh\nexit 0\n"]));
  await writeOs(base, "ok", { ...all, ganeti_api_version: "20\n15\n", "parameters.list": "" }, SCRIPTS);
  await writeOs(base, "noapi", all, SCRIPTS);
  await writeOs(base, "tooold", { ...all, ganeti_api_version: "5\n" }, SCRIPTS);
  await writeOs(base, "noverify", { ...all, verify: "", ganeti_api_version: "20\n", "parameters.list": "" }, ["create", "import", "export", "rename"]);
  await writeOs(base, "nocreate", { ganeti_api_version: "15\n", import: "", export: "", rename: "" }, ["import", "export", "rename"]);
  const rows = new Map((await diagnoseOs([base])).map((r) => [r.name, r]));
  assert.equal(rows.get("ok")?.valid, true);
  assert.deepEqual(rows.get("ok")?.api_versions, [20, 15]);
  assert.match(rows.get("noapi")!.diagnose, /Required file 'ganeti_api_version' not found/);
  assert.match(rows.get("tooold")!.diagnose, /API version mismatch .* found \[5\], want \[10, 15, 20\]/);
  assert.match(rows.get("noverify")!.diagnose, /File 'verify' .* is not executable/);
  assert.match(rows.get("nocreate")!.diagnose, /A create script \(trusted or untrusted\) .* must exist/);
  assert.ok([...rows.values()].filter((r) => !r.valid).every((r) => r.variants.length === 0));
});

test("create writes the marker at the start of the first disk, keeping its size", async (t) => {
  const { inst, runner, path, attached } = await setup(t, { osparams: { marker_text: "hello" } });
  const log = await runner.create(inst, attached, false, 0);
  assert.equal(
    await firstLine(path),
    "CORRAL-MARKER v1 name=inst1.example.com os=corral-marker+default variant=default hypervisor=fake disks=1 nics=1 text=hello",
  );
  assert.equal((await stat(path)).size, 8 * MiB);
  assert.match(await readFile(log, "utf8"), /writing marker for inst1.example.com \(variant default, reinstall=0\)/);
  assert.match(log, /add-corral-marker\+default-inst1\.example\.com-.*\.log$/);
});

test("the variant comes from the OS name, defaulting to the first listed", async (t) => {
  const minimal = await setup(t, { os: "corral-marker+minimal" });
  await minimal.runner.create(minimal.inst, minimal.attached, true, 0);
  assert.equal(await firstLine(minimal.path), "CORRAL-MARKER v1 name=inst1.example.com os=corral-marker+minimal variant=minimal");
  const bare = await setup(t, { os: "corral-marker" });
  await bare.runner.create(bare.inst, bare.attached, false, 0);
  assert.match(await firstLine(bare.path), /os=corral-marker variant=default /);
});

test("rename rewrites the marker with the new name", async (t) => {
  const { inst, runner, path, attached } = await setup(t, { name: "a-rather-long-old-name.example.com" });
  await runner.create(inst, attached, false, 0);
  await runner.rename({ ...inst, name: "new.example.com" }, inst.name, attached, 0);
  assert.match(await firstLine(path), /^CORRAL-MARKER v1 name=new\.example\.com os=corral-marker\+default .* nics=1 *$/);
});

test("a failing create reports the end of its log", async (t) => {
  const { inst, runner, attached } = await setup(t, { osparams: { fail_create: "yes" } });
  await assert.rejects(runner.create(inst, attached, false, 0), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.equal(e.errClass, "OSScriptError");
    assert.match(e.message, /^OS create script failed \(exited with exit code 1\), last lines in the log file:\n.*failing on purpose/);
    return true;
  });
});

test("scripts run with Ganeti's OS environment and nothing else", async (t) => {
  const base = await tempDir(t);
  const dump = `#!/bin/sh\nenv | sort > "$OSP_OUT/$(basename "$0").env"\n`;
  await writeOs(
    base,
    "envdump",
    {
      ...Object.fromEntries(SCRIPTS.map((s) => [s, dump])),
      ganeti_api_version: "20\n15\n10\n",
      "variants.list": "# comment\nfirst\nsecond\n",
      "parameters.list": "out dump dir\nsome-thing a dashed param\n",
    },
    SCRIPTS,
  );
  const out = join(base, "out");
  await mkdir(out);
  const { inst, runner, path, attached } = await setup(
    t,
    { os: "envdump+second", osparams: { out }, osparams_private: { "some-thing": "secret" } },
    [base],
  );
  process.env.CORRAL_SECRET_TEST = "must-not-leak";
  t.after(() => delete process.env.CORRAL_SECRET_TEST);
  await runner.create(inst, attached, true, 1);
  const env = Object.fromEntries(
    (await readFile(join(out, "create.env"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const expected: Record<string, string> = {
    OS_API_VERSION: "20",
    OS_NAME: "envdump",
    OS_VARIANT: "second",
    DEBUG_LEVEL: "1",
    INSTANCE_NAME: "inst1.example.com",
    INSTANCE_OS: "envdump+second",
    INSTANCE_UUID: inst.uuid,
    INSTANCE_PRIMARY_NODE: "node1-uuid",
    INSTANCE_SECONDARY_NODES: "",
    INSTANCE_REINSTALL: "1",
    HYPERVISOR: "fake",
    DISK_COUNT: "1",
    DISK_0_PATH: path,
    DISK_0_ACCESS: "rw",
    DISK_0_SIZE: "8",
    DISK_0_UUID: inst.disks[0].uuid,
    DISK_0_BACKEND_TYPE: "file:loop",
    NIC_COUNT: "1",
    NIC_0_MAC: "aa:00:00:12:34:56",
    NIC_0_UUID: "nic-0",
    NIC_0_MODE: "bridged",
    NIC_0_BRIDGE: "br0",
    NIC_0_LINK: "br0",
    OSP_OUT: out,
    OSP_SOME_THING: "secret",
    INSTANCE_BE_maxmem: "1024",
    INSTANCE_BE_auto_balance: "True",
    INSTANCE_HV_migration_mode: "live",
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(env[k], v, k);
  assert.equal(env.HOME, undefined);
  assert.equal(env.CORRAL_SECRET_TEST, undefined);
  assert.equal(env.NIC_0_IP, undefined, "absent values are left out, not empty");
});

test("validation rejects unknown parameters and values the verify script refuses", async (t) => {
  const runner = new OsRunner({ searchPath: [SHIPPED], logDir: await tempDir(t) });
  await runner.validate("corral-marker", { marker_text: "fine", fail_create: "no" }, ["parameters"]);
  await assert.rejects(runner.validate("corral-marker", { colour: "red" }, ["parameters"]), (e: unknown) =>
    e instanceof AgentError && e.errClass === "InvalidOS" && /not supported by the OS corral-marker: colour/.test(e.message),
  );
  await assert.rejects(runner.validate("corral-marker", { fail_create: "maybe" }, ["parameters"]), (e: unknown) =>
    e instanceof AgentError && e.errClass === "OSScriptError" && /Invalid value 'maybe' for the fail_create parameter/.test(e.message),
  );
  await assert.rejects(runner.find("no-such-os+v"), (e: unknown) =>
    e instanceof AgentError && e.errClass === "InvalidOS" && /Directory for OS no-such-os not found/.test(e.message),
  );
});

// Instances over RAPI on a one-node cluster: creation (and its refusals, as Ganeti words
// them), listings shaped like Ganeti 3.0.2's, the power operations, info, console, rename,
// reinstall, disks, exports, multi-alloc, removal — checked against the captures where
// they exist and against the files on the node.

import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { call, waitJob } from "../support/cluster.ts";
import { OS_SECRET_MARKER } from "../support/secrets.ts";
import { createBody, fails, getInstance, head, ok, run, startInstanceCluster, submit, type InstanceCluster } from "../support/instances.ts";

const GOLDEN_DIR = fileURLToPath(new URL("../../../shared/golden/ganeti-3.0/", import.meta.url));
const haveGolden = existsSync(GOLDEN_DIR);

interface Exchange {
  request: { method: string; url: string; body_raw: string | null };
  response: { status: number; body_json: unknown };
}
const golden = (file: string) => JSON.parse(readFileSync(GOLDEN_DIR + file, "utf8")) as Exchange;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  return typeof v === "object" ? "dict" : typeof v;
}

const MiB = 1024 * 1024;

describe("instances", () => {
  let c: InstanceCluster;
  let port: number;
  before(async () => {
    c = await startInstanceCluster();
    port = c.port;
  });
  after(() => c.close());

  describe("creation requests refused before any job", { skip: !haveGolden && "no captures" }, () => {
    it("answers the malformed bodies of the captures 0072-0078 exactly", async () => {
      for (const file of [
        "0072-400-create-no-version.json", "0073-400-create-version-2.json", "0074-400-create-body-list.json",
        "0075-400-create-body-string.json", "0076-400-create-unknown-param.json", "0077-400-create-bad-type.json",
        "0078-400-create-missing-required.json",
      ]) {
        const ex = golden(file);
        const r = await call(port, "POST", "/2/instances", { user: "writer", rawBody: ex.request.body_raw ?? "" });
        assert.equal(r.status, ex.response.status, file);
        assert.deepEqual(r.json, ex.response.body_json, file);
      }
    });

    it("refuses dry_run in the body (it comes from the query) and unknown multi-alloc keys", async () => {
      let r = await call(port, "POST", "/2/instances", { user: "writer", body: createBody("x", { dry_run: true }) });
      assert.equal(r.status, 400);
      assert.match((r.json as { message: string }).message, /Can&#x27;t overwrite static parameters/);
      r = await call(port, "POST", "/2/instances-multi-alloc", { user: "writer", body: {} });
      assert.deepEqual([r.status, (r.json as { message: string }).message], [400, "Request is missing required &#x27;instances&#x27; field in body"]);
      r = await call(port, "POST", "/2/instances-multi-alloc", { user: "writer", body: { instances: [{ ...createBody("m"), }] } });
      assert.equal(r.status, 400, "__version__ is not an opcode parameter");
      assert.match((r.json as { message: string }).message, /doesn&#x27;t support the parameter &#x27;__version__&#x27;/);
    });
  });

  describe("creation prerequisites fail as Ganeti's do", () => {
    it("routed NIC without an address (capture 0096)", async () => {
      await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.nicparams.default = { mode: "routed", link: "lo", vlan: "" })));
      try {
        const err = await fails(port, "POST", "/2/instances", createBody("fail1", { disk_template: "diskless", disks: [], nics: [{}] }));
        assert.deepEqual(err, ["OpPrereqError", ["Routed nic mode requires an ip address if not attached to a network", "wrong_input"]]);
      } finally {
        await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.nicparams.default = { mode: "bridged", link: "br0", vlan: "" })));
      }
    });

    it("a disabled template (capture 0104, no classification) and unknown node (0102)", async () => {
      let err = await fails(port, "POST", "/2/instances", createBody("fail5", { disk_template: "plain" }));
      assert.deepEqual(err, ["OpPrereqError", [
        "Disk template 'plain' is not enabled in cluster. Enabled disk templates are: diskless,file,sharedfile,ext",
      ]]);
      err = await fails(port, "POST", "/2/instances", createBody("fail4", { pnode: "nosuch.corral.test" }));
      assert.deepEqual(err, ["OpPrereqError", ["Node 'nosuch.corral.test' not known", "unknown_entity"]]);
    });

    it("a disk below the policy's minimum (capture 0098), unless told to ignore the policy", async () => {
      const group = [...c.master.store.snapshot().groups.values()][0];
      const err = await fails(port, "POST", "/2/instances", createBody("fail2", { disks: [{ size: 128 }] }));
      assert.deepEqual(err, ["OpPrereqError", [
        `Instance allocation to group ${group.uuid} (default) violates policy: disk-size/0 value 128 is not in range [1024, 1048576]`,
        "wrong_input",
      ]]);
    });

    it("an unknown OS fails on the node (capture 0100) and leaves nothing behind", async () => {
      const err = await fails(port, "POST", "/2/instances", createBody("fail3", { os: "nosuchos" }));
      assert.deepEqual(err, ["OpExecError", ["OS Parameters validation failed on node node1.corral.test: Directory for OS nosuchos not found in search path"]]);
      const err2 = await fails(port, "POST", "/2/instances", createBody("fail3", { os: "corral-marker" }));
      assert.match(String(err2[1][0]), /OS name 'corral-marker' must include a variant/);
      assert.equal((await call(port, "GET", "/2/instances/fail3.corral.test")).status, 404);
    });

    it("an OS create script that fails removes the disks and the instance again", async () => {
      const err = await fails(port, "POST", "/2/instances", createBody("oops", { osparams: { fail_create: "yes" } }));
      assert.equal(err[0], "OpExecError");
      assert.match(String(err[1][0]), /^Could not add os for instance oops\.corral\.test on node node1\.corral\.test: OS create script failed/);
      assert.equal((await call(port, "GET", "/2/instances/oops")).status, 404);
      assert.equal(existsSync(join(c.localStateDir, "file-storage", "oops.corral.test")), false);
      const files = c.master.store.snapshot().cluster.file_storage_dir;
      assert.equal(existsSync(join(files, "oops.corral.test")), false);
    });

    it("memory the node does not have (insufficient_resources)", async () => {
      const err = await fails(port, "POST", "/2/instances", createBody("huge", { disk_template: "diskless", disks: [], beparams: { maxmem: 40000, minmem: 40000, vcpus: 1 }, ignore_ipolicy: true }));
      assert.equal(err[0], "OpPrereqError");
      assert.match(String(err[1][0]), /^Not enough memory on node node1\.corral\.test for creating instance huge\.corral\.test: needed 40000 MiB, available \d+ MiB$/);
      assert.equal(err[1][1], "insufficient_resources");
    });

    it("MAC, NIC and disk input errors", async () => {
      let err = await fails(port, "POST", "/2/instances", createBody("bad1", { nics: [{ mac: "zz:00" }] }));
      assert.deepEqual(err, ["OpPrereqError", ["Invalid MAC address 'zz:00'", "wrong_input"]]);
      err = await fails(port, "POST", "/2/instances", createBody("bad2", { disks: [{ size: 1024, mode: "rx" }] }));
      assert.deepEqual(err, ["OpPrereqError", ["Invalid disk access mode 'rx'", "wrong_input"]]);
      err = await fails(port, "POST", "/2/instances", createBody("bad3", { disks: [{ size: 1024, provider: "filestore" }] }));
      assert.deepEqual(err, ["OpPrereqError", ["The 'provider' option is only valid for the ext disk template, not file", "wrong_input"]]);
      err = await fails(port, "POST", "/2/instances", createBody("bad4", { disk_template: "ext" }));
      assert.deepEqual(err, ["OpPrereqError", ["Missing provider for template 'ext'", "wrong_input"]]);
      const dflt = c.master.store.snapshot().cluster.default_iallocator;
      await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.default_iallocator = "")));
      try {
        err = await fails(port, "POST", "/2/instances", createBody("bad5", { pnode: null }));
        assert.match(String(err[1][0]), /^No iallocator or node given and no cluster-wide default iallocator found/);
      } finally {
        await c.master.store.transact((tx) => tx.updateCluster((cl) => void (cl.default_iallocator = dflt)));
      }
      err = await fails(port, "POST", "/2/instances", createBody("bad6", { pnode: null, iallocator: "nosuch" }));
      assert.match(String(err[1][0]), /iallocator module 'nosuch' not found/);
    });
  });

  describe("a file instance's life on one node", () => {
    let uuid = "";
    const diskPath = () => {
      const inst = c.master.store.snapshot().instances.get(uuid);
      return String(inst?.disks[0].logical_id[1]);
    };

    it("creates it: the job result lists the node, the disk is a sparse file with the OS marker", async () => {
      const job = await run(port, "POST", "/2/instances", createBody("web1", { tags: ["kind:file"] }));
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      assert.deepEqual(job.opresult, [["node1.corral.test"]]);
      const op = (job.ops as Record<string, unknown>[])[0];
      assert.equal(op.instance_name, "web1.corral.test");
      assert.equal(op.pnode_uuid, [...c.master.store.snapshot().nodes.values()][0].uuid);
      assert.equal(op.file_driver, "loop");
      assert.deepEqual(op.osparams_private, {});
      const log = ((job.oplog as unknown[][])[0] as [number, unknown, string, string][]).map((e) => e[3]);
      assert.deepEqual(log, [
        "* disk 0, size 1.0G", "* creating instance disks...", "adding instance web1.corral.test to cluster config",
        "adding disks to cluster config", "* running the instance OS create scripts...", "* starting instance...",
      ]);
      const inst = await getInstance(port, "web1");
      uuid = inst.uuid as string;
      const path = diskPath();
      assert.match(path, /web1\.corral\.test\/[0-9a-f-]{36}\.file\.disk0$/);
      const st = statSync(path);
      assert.equal(st.size, 1024 * MiB);
      assert.ok(st.blocks * 512 < 4 * MiB, "sparse");
      assert.match(head(path, 200), /^CORRAL-MARKER v1 name=web1\.corral\.test os=corral-marker\+default variant=default/);
      assert.equal(inst.status, "running");
      assert.equal(inst.oper_state, true);
      assert.deepEqual(inst.tags, ["kind:file"]);
    });

    it("lists it, bulk with every I_FIELDS key of Ganeti 3.0.2 and the same JSON types (capture 0178)", { skip: !haveGolden && "no captures" }, async () => {
      const list = (await call(port, "GET", "/2/instances")).json as { id: string; uri: string }[];
      assert.deepEqual(list.find((e) => e.id === "web1.corral.test"), { id: "web1.corral.test", uri: "/2/instances/web1.corral.test" });
      const bulk = (await call(port, "GET", "/2/instances?bulk=1")).json as Record<string, unknown>[];
      const ours = bulk.find((i) => i.name === "web1.corral.test") as Record<string, unknown>;
      const theirs = (golden("0178-instances-bulk.json").response.body_json as Record<string, unknown>[])[0];
      for (const [key, value] of Object.entries(theirs)) {
        assert.ok(key in ours, `field ${key}`);
        const [a, b] = [typeOf(ours[key]), typeOf(value)];
        assert.ok(a === b || (a === "int" && b === "float") || value === null || ours[key] === null, `${key}: Corral ${a}, Ganeti ${b}`);
      }
      assert.deepEqual(Object.keys(ours).filter((k) => !(k in theirs)), ["custom_osparams"], "3.1's one extra field");
      const beKeys = Object.keys(theirs.beparams as object).sort();
      assert.deepEqual(Object.keys(ours.beparams as object).sort(), beKeys);
      assert.equal((await call(port, "GET", "/2/instances?bulk=1&lock=x")).status, 400);
    });

    it("finds it by short name and uuid, 404 otherwise", async () => {
      assert.equal((await getInstance(port, "web1")).name, "web1.corral.test");
      assert.equal((await getInstance(port, uuid)).name, "web1.corral.test");
      assert.equal((await call(port, "GET", "/2/instances/nosuch")).status, 404);
    });

    it("answers info jobs shaped like capture 0183/0185", { skip: !haveGolden && "no captures" }, async () => {
      for (const [q, file] of [["", "0183-instance-info-job.json"], ["?static=1", "0185-instance-info-static-job.json"]]) {
        const id = await submit(port, "GET", `/2/instances/web1/info${q}`, undefined, "reader");
        const job = await waitJob(port, id);
        assert.equal(job.status, "success");
        const ours = ((job.opresult as unknown[])[0] as Record<string, Record<string, unknown>>)["web1.corral.test"];
        const theirJob = golden(file).response.body_json as { opresult: Record<string, Record<string, unknown>>[]; ops: Record<string, unknown>[] };
        const theirs = Object.values(theirJob.opresult[0])[0];
        assert.deepEqual(Object.keys(ours), Object.keys(theirs), file);
        assert.equal(ours.run_state, q ? null : "up");
        assert.equal((ours.nics as unknown[][])[0].length, 9);
        const disk = (ours.disks as Record<string, unknown>[])[0];
        assert.deepEqual(Object.keys(disk), ["iv_name", "dev_type", "logical_id", "drbd_info", "pstatus", "sstatus", "children", "mode", "size", "spindles", "name", "uuid"]);
        assert.equal(disk.pstatus === null, q !== "");
        const op = (job.ops as Record<string, unknown>[])[0];
        assert.equal(op.use_locking, q === "");
        assert.equal("dry_run" in op, false);
      }
    });

    it("gives the console to readers of a running instance (capture 0186)", async () => {
      const r = await call(port, "GET", "/2/instances/web1/console", { user: "reader" });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { instance: "web1.corral.test", kind: "msg", message: "Console not available for fake hypervisor" });
      assert.equal((await call(port, "GET", "/2/instances/web1/console")).status, 401);
      assert.equal((await call(port, "GET", "/2/instances/web1/console", { user: "nobody" })).status, 403);
    });

    it("refuses to rename it while it is up (capture 0209)", async () => {
      const err = await fails(port, "PUT", "/2/instances/web1/rename", { new_name: "web2.corral.test", name_check: false, ip_check: false });
      assert.deepEqual(err, ["OpPrereqError", ["Instance 'web1.corral.test' is marked to be up, cannot rename", "wrong_state"]]);
    });

    it("modifies beparams, with the custom_* alias (captures 0211, 0213, 0215, 0217)", async () => {
      assert.deepEqual(await ok(port, "PUT", "/2/instances/web1/modify", { beparams: { maxmem: 256, minmem: 128 } }), [["be/maxmem", 256], ["be/minmem", 128]]);
      assert.deepEqual(await ok(port, "PUT", "/2/instances/web1/modify", { custom_beparams: { vcpus: 2 } }), [["be/vcpus", 2]]);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/web1/modify", { beparams: { maxmem: "lots" } }),
        ["TypeEnforcementError", ["'maxmem' (value lots) is not a valid size. error: Invalid format"]]);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/web1/modify", {}), ["OpPrereqError", ["No changes submitted", "wrong_input"]]);
      assert.equal((await call(port, "PUT", "/2/instances/web1/modify", { user: "writer" })).status, 400);
      const inst = await getInstance(port, "web1");
      assert.deepEqual(inst.custom_beparams, { maxmem: 256, minmem: 128, vcpus: 2 });
      assert.equal((inst.beparams as Record<string, unknown>).memory, 256);
      assert.equal(inst.oper_ram, 128, "running with the memory it started with");
    });

    it("reboots soft and hard, refuses a bad reboot type with 400 (captures 0204-0207)", async () => {
      const job = await run(port, "POST", "/2/instances/web1/reboot?type=soft");
      assert.equal(job.status, "success");
      assert.equal((job.ops as Record<string, unknown>[])[0].reboot_type, "soft");
      await ok(port, "POST", "/2/instances/web1/reboot");
      assert.equal((await getInstance(port, "web1")).oper_ram, 256, "a hard reboot starts with the new maxmem");
      const r = await call(port, "POST", "/2/instances/web1/reboot?type=sideways", { user: "writer" });
      assert.equal(r.status, 400);
      assert.match((r.json as { message: string }).message, /OP_INSTANCE_REBOOT\.reboot_type/);
    });

    it("shuts it down: admin state down, not running, console 503 (captures 0194-0198, 0188)", async () => {
      const job = await run(port, "PUT", "/2/instances/web1/shutdown", { timeout: 10 });
      assert.equal(job.status, "success");
      const op = (job.ops as Record<string, unknown>[])[0];
      assert.equal(op.admin_state_source, "admin");
      assert.equal(op.timeout, 10);
      const inst = await getInstance(port, "web1");
      assert.deepEqual([inst.admin_state, inst.status, inst.oper_state, inst.oper_ram], ["down", "ADMIN_down", false, null]);
      const con = await call(port, "GET", "/2/instances/web1/console", { user: "writer" });
      assert.deepEqual([con.status, (con.json as { message: string }).message], [503, "Instance console unavailable"]);
      assert.equal((await run(port, "PUT", "/2/instances/web1/shutdown")).status, "success", "shutting down again is fine");
    });

    it("dry-runs a startup without starting (capture 0200), then starts", async () => {
      const job = await run(port, "PUT", "/2/instances/web1/startup?dry-run=1");
      assert.equal(job.status, "success");
      assert.deepEqual((job.oplog as unknown[][])[0].map((e) => (e as unknown[])[3]), [" - INFO: dry-run mode requested, not actually executing the operation"]);
      assert.equal((await getInstance(port, "web1")).status, "ADMIN_down");
      await ok(port, "PUT", "/2/instances/web1/startup");
      assert.equal((await getInstance(port, "web1")).status, "running");
      await ok(port, "PUT", "/2/instances/web1/shutdown?no_remember=1");
      const inst = await getInstance(port, "web1");
      assert.deepEqual([inst.admin_state, inst.status], ["up", "ERROR_down"], "no_remember keeps the intent");
      await ok(port, "PUT", "/2/instances/web1/shutdown");
    });

    it("renames it: the disk file moves, the marker is rewritten, the old name is gone (captures 0222-0224)", async () => {
      const old = diskPath();
      assert.equal(await ok(port, "PUT", "/2/instances/web1/rename", { new_name: "web2.corral.test", name_check: false, ip_check: false }), "web2.corral.test");
      const path = diskPath();
      assert.match(path, /web2\.corral\.test\/[0-9a-f-]{36}\.file\.disk0$/);
      assert.equal(existsSync(old), false);
      assert.match(head(path, 200), /^CORRAL-MARKER v1 name=web2\.corral\.test/);
      assert.equal((await call(port, "GET", "/2/instances/web1")).status, 404);
      assert.equal((await getInstance(port, "web2")).uuid, uuid);
    });

    it("reinstalls it through one shutdown+reinstall(+startup) job (captures 0228-0233)", async () => {
      let job = await run(port, "POST", "/2/instances/web2/reinstall", { os: "corral-marker+minimal", start: false });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      assert.deepEqual(job.opresult, [null, null]);
      assert.deepEqual(job.summary, ["INSTANCE_SHUTDOWN(web2.corral.test)", "INSTANCE_REINSTALL(web2.corral.test)"]);
      assert.match(head(diskPath(), 200), /variant=minimal/);
      job = await run(port, "POST", "/2/instances/web2/reinstall", {});
      assert.deepEqual(job.opresult, [null, null, null]);
      assert.equal((await getInstance(port, "web2")).status, "running");
      job = await run(port, "POST", "/2/instances/web2/reinstall?os=corral-marker%2Bdefault&nostartup=1");
      assert.deepEqual([job.status, (job.ops as unknown[]).length], ["success", 2]);
      const r = await call(port, "POST", "/2/instances/web2/reinstall?os=corral-marker", { user: "writer", body: { os: "corral-marker" } });
      assert.deepEqual([r.status, (r.json as { message: string }).message], [400, "Can&#x27;t combine query and body parameters"]);
      const bad = await call(port, "POST", "/2/instances/web2/reinstall", { user: "writer", body: { start: 1 } });
      assert.deepEqual([bad.status, (bad.json as { message: string }).message], [400, "&#x27;start&#x27; parameter: Type is &#x27;int&#x27;, but &#x27;bool&#x27; is expected"]);
    });

    it("activates and deactivates its disks (captures 0235, 0237)", async () => {
      const result = await ok(port, "PUT", "/2/instances/web2/activate-disks");
      assert.deepEqual(result, [["node1.corral.test", "disk/0", diskPath()]]);
      assert.equal(await ok(port, "PUT", "/2/instances/web2/deactivate-disks"), null);
    });

    it("grows its disk: the file grows, the config records it (captures 0239, 0241)", async () => {
      const job = await run(port, "POST", "/2/instances/web2/disk/0/grow", { amount: 1024, wait_for_sync: false });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const log = ((job.oplog as unknown[][])[0] as unknown[][]).map((e) => e[3]);
      assert.deepEqual(log, [
        "Growing disk 0 of instance 'web2.corral.test' by 1.0G to 2.0G",
        " - WARNING: Not shutting down the disk even if the instance is not supposed to be running because no wait for sync mode was requested",
      ]);
      assert.equal(statSync(diskPath()).size, 2048 * MiB);
      assert.deepEqual((await getInstance(port, "web2"))["disk.sizes"], [2048]);
      assert.deepEqual(await fails(port, "POST", "/2/instances/web2/disk/5/grow", { amount: 1024 }),
        ["OpPrereqError", ["Invalid disk index: 5 (instace has disks 0 to 0", "wrong_input"]]);
      assert.deepEqual(await fails(port, "POST", "/2/instances/web2/disk/0/grow", { amount: 1024, absolute: true }),
        ["OpPrereqError", ["Requested size (1.0G) is smaller than current disk size (2.0G)", "wrong_state"]]);
    });

    it("refuses to recreate existing disks and to replace disks without a secondary (captures 0243, 0245)", async () => {
      const err = await fails(port, "POST", "/2/instances/web2/recreate-disks", {});
      assert.equal(err[0], "OpExecError");
      assert.match(String(err[1][0]), /^Can't create block device disk\/0 .* on node node1\.corral\.test for instance web2\.corral\.test: File already existing/);
      assert.deepEqual(await fails(port, "POST", "/2/instances/web2/replace-disks", { mode: "replace_auto" }),
        ["OpPrereqError", ["The instance has a strange layout, expected one secondary but found 0", "internal_error"]]);
      assert.equal((await call(port, "POST", "/2/instances/web2/replace-disks", { user: "writer", body: {} })).status, 400, "mode is required");
    });

    it("cannot migrate or fail over a file instance", async () => {
      assert.deepEqual(await fails(port, "PUT", "/2/instances/web2/migrate", { iallocator: "hail" }),
        ["OpPrereqError", ["Instance's disk layout 'file' does not allow migrations", "wrong_state"]]);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/web2/failover", { iallocator: "hail" }),
        ["OpPrereqError", ["Instance's disk layout 'file' does not allow failovers", "wrong_state"]]);
    });

    it("prepares a local export; the mode is required (captures 0251, 0252)", async () => {
      assert.equal(await ok(port, "PUT", "/2/instances/web2/prepare-export?mode=local"), null);
      const r = await call(port, "PUT", "/2/instances/web2/prepare-export", { user: "writer" });
      assert.equal(r.status, 400);
      assert.match((r.json as { message: string }).message, /OP_BACKUP_PREPARE\.mode/);
    });

    it("dry-runs the removal (capture 0264), then removes it and its disk file (0266, 0267)", async () => {
      const path = diskPath();
      assert.equal(await ok(port, "DELETE", "/2/instances/web2?dry-run=1"), null);
      assert.ok(existsSync(path));
      const r = await call(port, "DELETE", "/2/instances/web2", { user: "writer", body: { ignore_failures: true } });
      assert.equal(r.status, 400, "ignore_failures is static");
      const job = await run(port, "DELETE", "/2/instances/web2", {});
      assert.equal(job.status, "success");
      assert.equal((job.ops as Record<string, unknown>[])[0].ignore_failures, false);
      assert.equal(existsSync(path), false);
      assert.equal((await call(port, "GET", "/2/instances/web2")).status, 404);
    });
  });

  describe("jobs as Ganeti shows them", { skip: !haveGolden && "no captures" }, () => {
    it("each opcode has the captured jobs' keys in their order, and the same summaries", async () => {
      const cases: [string, string, string, unknown][] = [
        ["0149-instance-create-01-job.json", "POST", "/2/instances", createBody("gk1", { disk_template: "diskless", disks: [], nics: [{ ip: "192.0.2.11" }], hypervisor: "fake" })],
        ["0170-instance-create-file-01-job.json", "POST", "/2/instances", createBody("gk2", { start: false, tags: ["kind:file"] })],
        ["0195-instance-shutdown-job.json", "PUT", "/2/instances/gk1/shutdown", { timeout: 10 }],
        ["0202-instance-startup-job.json", "PUT", "/2/instances/gk1/startup", undefined],
        ["0204-instance-reboot-soft-job.json", "POST", "/2/instances/gk1/reboot?type=soft", undefined],
        ["0235-instance-activate-disks-job.json", "PUT", "/2/instances/gk2/activate-disks", undefined],
        ["0237-instance-deactivate-disks-job.json", "PUT", "/2/instances/gk2/deactivate-disks", undefined],
        ["0239-instance-grow-disk-job.json", "POST", "/2/instances/gk2/disk/0/grow", { amount: 1024, wait_for_sync: false }],
        ["0247-instance-migrate-job.json", "PUT", "/2/instances/gk1/migrate", { iallocator: "hail" }],
        ["0249-instance-failover-job.json", "PUT", "/2/instances/gk1/failover", { iallocator: "hail" }],
        ["0183-instance-info-job.json", "GET", "/2/instances/gk1/info", undefined],
        ["0251-instance-prepare-export-job.json", "PUT", "/2/instances/gk2/prepare-export?mode=local", undefined],
        ["0254-instance-export-diskless-job.json", "PUT", "/2/instances/gk1/export", { mode: "local", destination: "node1.corral.test", shutdown: false }],
        ["0228-instance-reinstall-job.json", "POST", "/2/instances/gk2/reinstall", { os: "corral-marker+default", start: false }],
        ["0230-instance-reinstall-and-start-job.json", "POST", "/2/instances/gk2/reinstall", {}],
        ["0220-instance-shutdown2-job.json", "PUT", "/2/instances/gk2/shutdown", undefined],
        ["0222-instance-rename-job.json", "PUT", "/2/instances/gk2/rename", { new_name: "gk3.corral.test", name_check: false, ip_check: false }],
        ["0266-instance-delete-job.json", "DELETE", "/2/instances/gk3", undefined],
      ];
      for (const [file, method, path, body] of cases) {
        const job = await run(port, method, path, body);
        // Ganeti 3.0 fails to finalize the export of a diskless instance (it writes config.ini
        // into a directory no disk export made); Corral's export of one succeeds.
        const wanted = file.startsWith("0254") ? "success" : (golden(file).response.body_json as { status: string }).status;
        assert.equal(job.status, wanted, `${file}: ${JSON.stringify(job.opresult)}`);
        const theirs = golden(file).response.body_json as { ops: Record<string, unknown>[]; summary: string[] };
        const ours = job.ops as Record<string, unknown>[];
        assert.equal(ours.length, theirs.ops.length, file);
        theirs.ops.forEach((op, i) => {
          // 3.0's hotplug_if_possible is gone from the opcode since (RESOURCES.md's master parameters).
          const want = Object.keys(op).filter((k) => k !== "hotplug_if_possible");
          assert.deepEqual(Object.keys(ours[i]), want, `${file} opcode ${i}`);
        });
        const strip = (xs: string[]) => xs.map((x) => x.replace(/\(.*\)$/, "()"));
        assert.deepEqual(strip(job.summary as string[]), strip(theirs.summary), file);
      }
    });
  });

  describe("diskless instances and batches", () => {
    it("dry-runs a creation: the job result is the chosen node's uuid (capture 0174)", async () => {
      const job = await run(port, "POST", "/2/instances?dry-run=1", createBody("dry", { disk_template: "diskless", disks: [] }));
      const node = [...c.master.store.snapshot().nodes.values()][0];
      assert.deepEqual([job.status, job.opresult], ["success", [[node.uuid]]]);
      assert.equal((await call(port, "GET", "/2/instances/dry")).status, 404);
    });

    it("refuses a duplicate name (capture 0176) and reinstalling a diskless instance (0226)", async () => {
      await ok(port, "POST", "/2/instances", createBody("dl1", { disk_template: "diskless", disks: [], start: false }));
      assert.deepEqual(await fails(port, "POST", "/2/instances", createBody("dl1", { disk_template: "diskless", disks: [] })),
        ["OpPrereqError", ["Instance 'dl1.corral.test' is already in the cluster", "already_exists"]]);
      const job = await run(port, "POST", "/2/instances/dl1/reinstall", { os: "corral-marker+default", start: false });
      assert.deepEqual([job.opstatus, job.opresult], [["success", "error"], [null, ["OpPrereqError", ["Instance 'dl1.corral.test' has no disks", "wrong_input"]]]]);
    });

    it("migrate and failover need another node (captures 0247, 0249)", async () => {
      const want = ["OpPrereqError", ["Can't compute nodes using iallocator 'hail': Request failed: Can't find any good node: ", "insufficient_resources"]];
      assert.deepEqual(await fails(port, "PUT", "/2/instances/dl1/migrate", { iallocator: "hail", allow_failover: true }), want);
      assert.deepEqual(await fails(port, "PUT", "/2/instances/dl1/failover", { iallocator: "hail" }), want);
    });

    it("allocates several instances as sub-jobs (captures 0255-0258)", async () => {
      const inst = (n: string) => {
        const { __version__: _v, ...rest } = createBody(n, { disk_template: "diskless", disks: [], start: false });
        return rest;
      };
      const job = await run(port, "POST", "/2/instances-multi-alloc", { instances: [inst("multi01"), inst("multi02")] });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const result = (job.opresult as Record<string, unknown>[])[0];
      assert.deepEqual(result.allocatable, ["multi01.corral.test", "multi02.corral.test"]);
      assert.deepEqual(result.failed, []);
      const subs = result.jobs as [boolean, number][];
      assert.equal(subs.length, 2);
      for (const [success, id] of subs) {
        assert.equal(success, true);
        const sub = await waitJob(port, id);
        assert.deepEqual([sub.status, sub.opresult], ["success", [["node1.corral.test"]]]);
        assert.equal((sub.ops as Record<string, unknown>[])[0].comment, "Submitted by OP_INSTANCE_MULTI_ALLOC");
      }
      // With the allocator, and one that cannot fit (capture 0260's wording).
      const big = { ...inst("multi09"), pnode: null, beparams: { maxmem: 64000, minmem: 64000, vcpus: 1 }, start: true, ignore_ipolicy: true };
      const err = await fails(port, "POST", "/2/instances-multi-alloc", { iallocator: "hail", instances: [big] });
      assert.deepEqual(err, ["OpPrereqError", [
        "Can't compute nodes using iallocator 'hail': Request failed: Group default (preferred): No valid allocation solutions, failure reasons: FailMem: 1",
        "insufficient_resources",
      ]]);
    });

    it("refuses to start an instance the node has no memory for (insufficient_resources)", async () => {
      await ok(port, "POST", "/2/instances", createBody("fat", { disk_template: "diskless", disks: [], start: false, ignore_ipolicy: true, beparams: { maxmem: 40000, minmem: 40000, vcpus: 1 } }));
      const err = await fails(port, "PUT", "/2/instances/fat/startup");
      assert.equal(err[0], "OpPrereqError");
      assert.match(String(err[1][0]), /^Not enough memory on node node1\.corral\.test for starting instance fat\.corral\.test: needed 40000 MiB, available \d+ MiB$/);
      assert.equal(err[1][1], "insufficient_resources");
      assert.equal((await getInstance(port, "fat")).admin_state, "down", "nothing changed");
      await ok(port, "DELETE", "/2/instances/fat", {});
    });

    it("exports and removes an instance, then imports it back under its name with its MAC", async () => {
      await ok(port, "POST", "/2/instances", createBody("round", { disks: [{ size: "64M" }], ignore_ipolicy: true, start: false }));
      const before = await getInstance(port, "round");
      assert.deepEqual(before["disk.sizes"], [64], "sizes may carry units");
      const result = await ok(port, "PUT", "/2/instances/round/export", { destination: "node1", mode: "local", remove_instance: true });
      assert.deepEqual(result, [true, [true]]);
      assert.equal((await call(port, "GET", "/2/instances/round")).status, 404, "removed after the export");
      const job = await run(port, "POST", "/2/instances", {
        __version__: 1, mode: "import", name: "round.corral.test", disk_template: "file", disks: [], nics: [], pnode: "node1",
        ignore_ipolicy: true, start: false,
      });
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const op = (job.ops as Record<string, unknown>[])[0];
      assert.equal(op.src_node, "node1.corral.test", "found by searching the nodes' exports");
      const after = await getInstance(port, "round");
      assert.deepEqual([after["nic.macs"], after["disk.sizes"], after.os], [before["nic.macs"], [64], "corral-marker+default"]);
      assert.match(head(String([...c.master.store.snapshot().instances.values()].find((i) => i.name === "round.corral.test")!.disks[0].logical_id[1]), 60),
        /^CORRAL-MARKER v1 name=round\.corral\.test/);
      const missing = await fails(port, "POST", "/2/instances", {
        __version__: 1, mode: "import", name: "other.corral.test", disk_template: "file", disks: [], nics: [], pnode: "node1",
      });
      assert.deepEqual(missing, ["OpPrereqError", ["No export found for relative path other.corral.test", "wrong_input"]]);
      await ok(port, "DELETE", "/2/instances/round", {});
      await ok(port, "DELETE", "/2/instances/round.corral.test/export", {});
    });

    it("gives secret OS parameters to the create script only; jobs show private values as null", async () => {
      const job = await run(port, "POST", "/2/instances", createBody("secret1", {
        disks: [{ size: 16 }], ignore_ipolicy: true, start: false, osparams_secret: { marker_text: OS_SECRET_MARKER }, osparams_private: { fail_create: "no" },
      }));
      assert.equal(job.status, "success", JSON.stringify(job.opresult));
      const op = (job.ops as Record<string, unknown>[])[0];
      assert.deepEqual([op.osparams_secret, op.osparams_private], [{ marker_text: null }, { fail_create: null }]);
      assert.ok(!JSON.stringify((await call(port, "GET", `/2/jobs/${String(job.id)}`)).json).includes(OS_SECRET_MARKER));
      const inst = [...c.master.store.snapshot().instances.values()].find((i) => i.name === "secret1.corral.test")!;
      assert.match(head(String(inst.disks[0].logical_id[1]), 200), new RegExp(`text=${OS_SECRET_MARKER}`));
      assert.deepEqual([inst.osparams, inst.osparams_private], [{}, { fail_create: "no" }], "the secret is not kept");
      const mod = await ok(port, "PUT", "/2/instances/secret1/modify", { osparams_private: { fail_create: "no" }, ignore_ipolicy: true });
      assert.deepEqual(mod, [["os_private/fail_create", "Private(?, descr='fail_create')"]]);
      await ok(port, "DELETE", "/2/instances/secret1", {});
    });

    it("fails an info job for an unknown instance as Ganeti's name expansion does", async () => {
      const job = await waitJob(port, await submit(port, "GET", "/2/instances/nosuch/info", undefined, "reader"));
      assert.deepEqual(job.opresult, [["OpPrereqError", ["Instance 'nosuch' not known", "unknown_entity"]]]);
    });

    it("lists the OSes as name+variant (capture 0006's shape)", async () => {
      const r = await call(port, "GET", "/2/os");
      assert.deepEqual(r.json, ["corral-image+default", "corral-marker+default", "corral-marker+minimal"]);
      const bulk = (await call(port, "GET", "/2/os?bulk=1")).json as Record<string, unknown>[];
      assert.deepEqual(Object.keys(bulk[0]), ["name", "valid", "variants", "parameters", "api_versions", "blacklisted", "hidden", "trusted"]);
      assert.deepEqual(bulk[0].api_versions, [20]);
      const marker = bulk.find((os) => os.name === "corral-marker");
      assert.deepEqual((marker?.parameters as { name: string }[]).map((p) => p.name), ["fail_create", "marker_text"]);
    });
  });
});

// The /2/nodes resources over RAPI: listings and single GETs shaped like Ganeti 3.0.2's,
// role/modify/powercycle/evacuate/migrate/storage jobs with Ganeti's results, error classes
// and messages (compared with the captures), and the node rules that need several nodes
// (candidate pool, offline nodes, instances on a node) on a three-node cluster.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, runJob, suiteMaster, waitJob } from "../support/cluster.ts";
import { golden, goldenJob, haveGolden, replay } from "../support/golden.ts";
import { injectInstance, suiteCluster } from "../support/multinode.ts";

type Job = Record<string, unknown>;
type Dict = Record<string, unknown>;

const opOf = (job: Job) => (job.ops as Dict[])[0];
const errorOf = (job: Job) => (job.opresult as unknown[])[0];
const logOf = (job: Job) => (job.oplog as [number, unknown, string, string][][])[0].map((e) => e[3]);

/** The same job, as the capture shows it: status, result, summary and opcode keys in order. */
function assertLikeGolden(job: Job, file: string, { result = true } = {}): void {
  if (!haveGolden) return;
  const theirs = goldenJob(file);
  assert.equal(job.status, theirs.status, `${file} status`);
  if (result) assert.deepEqual(errorOf(job), (theirs.opresult as unknown[])[0], `${file} opresult`);
  assert.deepEqual(Object.keys(opOf(job)), Object.keys((theirs.ops as Dict[])[0]), `${file} opcode keys`);
}

/** Replays a capture's request with the cluster's node name, and waits for its job. */
async function replayJob(port: number, file: string, from = "node1.ganeti.test", to = "node1.corral.test"): Promise<Job> {
  const ex = golden(file);
  const r = await replay(port, ex, ex.request.url.replace(from, to));
  assert.equal(r.status, 200, `${file}: ${r.text}`);
  assert.equal(typeof r.json, "number", file);
  return waitJob(port, r.json as number);
}

describe("node resources, compared with Ganeti 3.0.2", () => {
  const m = suiteMaster({ nodeName: "node1.corral.test" });

  it("lists nodes as {id, uri} and in bulk with every N_FIELDS key", async () => {
    const list = await call(m.port, "GET", "/2/nodes");
    assert.deepEqual(list.json, [{ id: "node1.corral.test", uri: "/2/nodes/node1.corral.test" }]);
    const bulk = (await call(m.port, "GET", "/2/nodes?bulk=1")).json as Dict[];
    assert.equal(bulk.length, 1);
    if (haveGolden) {
      const theirs = (golden("0009-anon-nodes-bulk.json").response.body_json as Dict[])[0];
      assert.deepEqual(Object.keys(bulk[0]), Object.keys(theirs));
      for (const k of Object.keys(theirs)) {
        if (theirs[k] === null) continue; // sptotal/spfree: no LVM, null on both
        assert.equal(typeof bulk[0][k], typeof theirs[k], `bulk ${k}`);
      }
    }
    assert.equal(bulk[0].role, "M");
    assert.equal(typeof bulk[0].mtotal, "number", "live values come from the agent");
    assert.equal(typeof bulk[0].dfree, "number");
  });

  it("answers a single GET by short name with the full name, secondary_ip, or 404", async () => {
    const r = await call(m.port, "GET", "/2/nodes/node1");
    assert.equal(r.status, 200);
    const node = r.json as Dict;
    assert.equal(node.name, "node1.corral.test");
    assert.equal(node.secondary_ip, node.sip);
    if (haveGolden) assert.deepEqual(Object.keys(node), Object.keys(golden("0010-anon-node.json").response.body_json as Dict));
    const byUuid = await call(m.port, "GET", `/2/nodes/${String(node.uuid)}`);
    assert.equal((byUuid.json as Dict).name, "node1.corral.test");
    assert.equal((await call(m.port, "GET", "/2/nodes/nosuch")).status, 404);
    assert.equal((await call(m.port, "GET", "/2/nodes/nosuch/role")).status, 404, "Ganeti says 500 here; Corral 404");
  });

  it("has no node creation under /2: POST and PUT on /2/nodes are 501", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const r = await call(m.port, method, "/2/nodes", { user: "writer", body: {} });
      assert.equal(r.status, 501, method);
    }
  });

  it("gives the role as a long name", async () => {
    const r = await call(m.port, "GET", "/2/nodes/node1.corral.test/role");
    assert.equal(r.text, '"master"\n');
  });

  it("refuses role bodies that are not a role string, with Ganeti's 400s", { skip: !haveGolden && "no captures" }, async () => {
    for (const file of ["0079-400-role-not-string.json", "0080-400-role-invalid.json", "0081-400-role-master.json"]) {
      const r = await replay(m.port, golden(file));
      assert.equal(r.status, 400, file);
      assert.deepEqual(r.json, golden(file).response.body_json, file);
    }
    const empty = await call(m.port, "PUT", "/2/nodes/node1/role", { user: "writer" });
    assert.equal(empty.status, 400);
    assert.equal((empty.json as Dict).message, "Body contents: Type is &#x27;NoneType&#x27;, but &#x27;str&#x27; is expected");
    assert.equal((await call(m.port, "PUT", "/2/nodes/node1/role", { user: "reader", body: "drained" })).status, 403);
    assert.equal((await call(m.port, "PUT", "/2/nodes/node1/role", { body: "drained" })).status, 401);
  });

  it("never changes the master's role", { skip: !haveGolden && "no captures" }, async () => {
    for (const [submit, jobFile] of [
      ["0309-node-role-drained-on-master.json", "0310-node-role-drained-on-master-job.json"],
      ["0311-node-role-regular-on-master.json", "0312-node-role-regular-on-master-job.json"],
      ["0313-node-role-offline-on-master.json", "0314-node-role-offline-on-master-job.json"],
      ["0315-node-role-candidate.json", "0316-node-role-candidate-job.json"],
    ]) {
      const job = await replayJob(m.port, submit);
      assertLikeGolden(job, jobFile);
      assert.equal(opOf(job).node_uuid, m.t.master.store.snapshot().cluster.master_node);
    }
    assert.equal((await call(m.port, "GET", "/2/nodes/node1/role")).json, "master");
  });

  it("fails a job naming an unknown node with unknown_entity", { skip: !haveGolden && "no captures" }, async () => {
    assertLikeGolden(await replayJob(m.port, "0317-node-role-unknown-node.json", "nosuch.ganeti.test", "nosuch.corral.test"), "0318-node-role-unknown-node-job.json", { result: false });
    const job = await runJob(m.port, "PUT", "/2/nodes/nosuch/role", "drained");
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Node 'nosuch' not known", "unknown_entity"]]);
    assertLikeGolden(await replayJob(m.port, "0351-node-powercycle-unknown.json", "nosuch.ganeti.test", "nosuch.corral.test"), "0352-node-powercycle-unknown-job.json", { result: false });
  });

  it("modifies node parameters, resets them with \"default\", and wants a modification", { skip: !haveGolden && "no captures" }, async () => {
    assertLikeGolden(await replayJob(m.port, "0319-node-modify.json"), "0320-node-modify-job.json");
    let node = (await call(m.port, "GET", "/2/nodes/node1")).json as Dict;
    assert.equal((node.ndparams as Dict).spindle_count, 2);
    assert.ok(node.serial_no as number > 1);
    assertLikeGolden(await replayJob(m.port, "0321-node-modify-reset.json"), "0322-node-modify-reset-job.json");
    node = (await call(m.port, "GET", "/2/nodes/node1")).json as Dict;
    assert.equal((node.ndparams as Dict).spindle_count, 1);
    assertLikeGolden(await replayJob(m.port, "0323-node-modify-nothing.json"), "0324-node-modify-nothing-job.json");
  });

  it("checks modify bodies: opcode parameters only, typed node parameters, no global ones", async () => {
    let r = await call(m.port, "POST", "/2/nodes/node1/modify", { user: "writer", body: { bogus: 1 } });
    assert.equal(r.status, 400);
    assert.match((r.json as Dict).message as string, /Object OpNodeSetParams doesn&#x27;t support the parameter &#x27;bogus&#x27;/);
    r = await call(m.port, "POST", "/2/nodes/node1/modify", { user: "writer", body: { node_name: "x" } });
    assert.equal(r.status, 400);
    assert.match((r.json as Dict).message as string, /Can&#x27;t overwrite static parameters/);
    r = await call(m.port, "POST", "/2/nodes/node1/modify", { user: "writer", body: { offline: "yes" } });
    assert.equal(r.status, 400);
    let job = await runJob(m.port, "POST", "/2/nodes/node1/modify", { ndparams: { nonsense: 1 } });
    assert.deepEqual(errorOf(job), ["TypeEnforcementError", ["Unknown parameter 'nonsense'"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node1/modify", { ndparams: { exclusive_storage: true } });
    assert.equal((errorOf(job) as [string, string[]])[1][0],
      "The following node parameters are global and cannot be customized at node level, please modify them at cluster or group level: exclusive_storage");
    job = await runJob(m.port, "POST", "/2/nodes/node1/modify", { master_capable: true, vm_capable: true });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Can't set the node into more than one state at the same time", "wrong_input"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node1/modify", { powered: false, ndparams: {} });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Unable to change powered state for node node1.corral.test as it does not support out-of-band handling", "wrong_state"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node1/modify", { secondary_ip: "300.1.1.1" });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Secondary IP (300.1.1.1) needs to be a valid IPv4 address", "wrong_input"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node1/modify", { ndparams: { ssh_port: "2222" } });
    assert.equal(job.status, "success", "values are converted to their type");
    assert.equal(((await call(m.port, "GET", "/2/nodes/node1")).json as Dict as { ndparams: Dict }).ndparams.ssh_port, 2222);
  });

  it("refuses to powercycle the master without force", { skip: !haveGolden && "no captures" }, async () => {
    assertLikeGolden(await replayJob(m.port, "0349-node-powercycle-master-noforce.json"), "0350-node-powercycle-master-noforce-job.json");
  });

  it("queries file storage and refuses to modify or repair it", { skip: !haveGolden && "no captures" }, async () => {
    const job = await replayJob(m.port, "0331-node-storage-file.json");
    assertLikeGolden(job, "0332-node-storage-file-job.json", { result: false });
    const [[row]] = job.opresult as unknown[][][];
    assert.equal(row.length, 4);
    assert.equal(typeof row[0], "string");
    assert.ok((row as number[]).slice(1).every((v) => Number.isInteger(v)), "size, used, free in MiB");
    assert.equal(row[0], m.t.master.store.snapshot().cluster.file_storage_dir);

    const missing = await replay(m.port, golden("0333-node-storage-missing-fields.json"));
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.json, golden("0333-node-storage-missing-fields.json").response.body_json);

    assertLikeGolden(await replayJob(m.port, "0334-node-storage-modify.json"), "0335-node-storage-modify-job.json");
    assertLikeGolden(await replayJob(m.port, "0336-node-storage-repair.json"), "0337-node-storage-repair-job.json");
  });

  it("checks storage requests: write access, fields, enabled storage types", async () => {
    assert.equal((await call(m.port, "GET", "/2/nodes/node1/storage?output_fields=name", { user: "reader" })).status, 403);
    assert.equal((await call(m.port, "GET", "/2/nodes/node1/storage?output_fields=name")).status, 401);
    let job = await runJob(m.port, "GET", "/2/nodes/node1/storage?storage_type=file&output_fields=name,bogus,nope");
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Unknown output fields selected: bogus,nope", "wrong_input"]]);
    job = await runJob(m.port, "GET", "/2/nodes/node1/storage?storage_type=lvm-vg&output_fields=name");
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["No disk template of storage type 'lvm-vg' is enabled in this cluster. Enabled disk templates are: diskless,file"]]);
    job = await runJob(m.port, "GET", "/2/nodes/node1/storage?output_fields=name");
    assert.match((errorOf(job) as [string, string[]])[1][0], /^Storage reporting for storage type 'diskless' is not supported/);
    job = await runJob(m.port, "GET", "/2/nodes/node1/storage?storage_type=file&output_fields=node,type,allocatable");
    assert.deepEqual(job.opresult, [[["node1.corral.test", "file", true]]]);
    const noName = await call(m.port, "PUT", "/2/nodes/node1/storage/repair?storage_type=lvm-vg", { user: "writer" });
    assert.equal(noName.status, 400);
    assert.equal((noName.json as Dict).message, "Missing the required &#x27;name&#x27; parameter");
    job = await runJob(m.port, "PUT", "/2/nodes/node1/storage/modify?storage_type=lvm-pv&name=/dev/sda&allocatable=0");
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["No disk template of storage type 'lvm-vg' is enabled in this cluster. Enabled disk templates are: diskless,file"]]);
    assert.deepEqual(opOf(job).changes, { allocatable: false });
    const noType = await call(m.port, "PUT", "/2/nodes/node1/storage/repair?name=x", { user: "writer" });
    assert.equal(noType.status, 400, "storage_type is required by the opcode");
  });

  it("evacuates: refuses \"all\", dry-runs, returns the jobs it started", { skip: !haveGolden && "no captures" }, async () => {
    // The captured cluster has hail as its default iallocator; the dry run relies on it.
    await m.t.master.store.transact((tx) => void tx.updateCluster((c) => void (c.default_iallocator = "hail")));
    assertLikeGolden(await replayJob(m.port, "0338-node-evacuate.json"), "0339-node-evacuate-job.json");
    const dry = await replayJob(m.port, "0340-node-evacuate-dryrun.json");
    assert.equal(dry.status, "success");
    assert.deepEqual(dry.opresult, [null]);
    assert.deepEqual(logOf(dry), logOf(goldenJob("0341-node-evacuate-dryrun-job.json")).map((l) => l.replace("node1.ganeti.test", "node1.corral.test")));
    const sec = await replayJob(m.port, "0342-node-evacuate-secondary.json");
    assertLikeGolden(sec, "0343-node-evacuate-secondary-job.json");
    assert.deepEqual(sec.opresult, [{ jobs: [] }]);
  });

  it("checks evacuation targets like Ganeti's CheckIAllocatorOrNode", async () => {
    await m.t.master.store.transact((tx) => void tx.updateCluster((c) => void (c.default_iallocator = "")));
    let job = await runJob(m.port, "POST", "/2/nodes/node1/evacuate", { mode: "secondary-only" });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["No iallocator or node given and no cluster-wide default iallocator found; please specify either an iallocator or a node, or set a cluster-wide default iallocator", "wrong_input"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node1/evacuate", { mode: "secondary-only", iallocator: "hail", remote_node: "node1" });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Do not specify both, iallocator and node", "wrong_input"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node1/evacuate", { mode: "secondary-only", remote_node: "node1" });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Can not use evacuated node as a new secondary node", "wrong_input"]]);
    const r = await call(m.port, "POST", "/2/nodes/node1/evacuate", { user: "writer", body: {} });
    assert.equal(r.status, 400, "mode is required");
    const body = await call(m.port, "POST", "/2/nodes/node1/evacuate", { user: "writer", body: { mode: "primary-only", dry_run: true } });
    assert.equal(body.status, 400, "dry-run only comes from the query here");
  });

  it("migrates with the body, or the legacy query form that ignores the body", { skip: !haveGolden && "no captures" }, async () => {
    const job = await replayJob(m.port, "0344-node-migrate.json");
    assertLikeGolden(job, "0345-node-migrate-job.json", { result: false });
    assert.deepEqual(job.opresult, [{ jobs: [] }]);
    const legacy = await replayJob(m.port, "0347-node-migrate-legacy-dryrun.json");
    assert.equal(opOf(legacy).mode, "live");
    assert.equal(opOf(legacy).dry_run, undefined, "dry-run is not read here");
    const both = await replay(m.port, golden("0348-node-migrate-live-and-mode.json"));
    assert.equal(both.status, 400);
    assert.deepEqual(both.json, golden("0348-node-migrate-live-and-mode.json").response.body_json);
    const withReason = await runJob(m.port, "POST", "/2/nodes/node1/migrate?reason=maintenance", { mode: "non-live" });
    assert.equal(opOf(withReason).mode, undefined, "any query argument selects the legacy form");
    const bodyForm = await runJob(m.port, "POST", "/2/nodes/node1/migrate", { mode: "non-live", iallocator: "hail" });
    assert.equal(opOf(bodyForm).mode, "non-live");
    assert.equal(opOf(bodyForm).iallocator, "hail");
  });
});

describe("nodes on a three-node cluster", () => {
  const m = suiteCluster();
  const role = async (name: string) => (await call(m.port, "GET", `/2/nodes/${name}/role`)).json;
  const setRole = (name: string, r: string, query = "") => runJob(m.port, "PUT", `/2/nodes/${name}/role${query}`, r);

  it("lists the joined nodes with their own live data", async () => {
    const bulk = (await call(m.port, "GET", "/2/nodes?bulk=1")).json as Dict[];
    assert.deepEqual(bulk.map((n) => [n.name, n.role, n.pip]), [
      ["node1.corral.test", "M", "127.0.0.1"],
      ["node2.corral.test", "C", "127.0.1.2"],
      ["node3.corral.test", "C", "127.0.1.3"],
    ]);
    for (const n of bulk) assert.equal(typeof n.mfree, "number", `${String(n.name)} answered`);
  });

  it("moves a node through the roles, with Ganeti's result pairs", async () => {
    let job = await setRole("node2", "drained");
    assert.deepEqual(job.opresult, [[["master_candidate", "False"], ["drained", "True"]]]);
    assert.equal(await role("node2"), "drained");
    job = await setRole("node2", "offline");
    assert.deepEqual(job.opresult, [[["drained", "False"], ["offline", "True"]]]);
    assert.equal(await role("node2"), "offline");
    const offline = (await call(m.port, "GET", "/2/nodes/node2")).json as Dict;
    assert.equal(offline.mtotal, null, "an offline node is not asked for live data");
    job = await setRole("node2", "master-candidate");
    assert.deepEqual(job.opresult, [[["master_candidate", "True"], ["offline", "False"]]]);
    assert.ok(logOf(job).some((l) => /Transitioning node from offline to online state/.test(l)));
    assert.equal(await role("node2"), "master-candidate");
    assert.equal(typeof ((await call(m.port, "GET", "/2/nodes/node2")).json as Dict).mtotal, "number", "answering again");
  });

  it("keeps the candidate pool full unless auto-promote lets another node step in", async () => {
    let job = await setRole("node3", "regular");
    assert.equal(job.status, "success");
    assert.equal(await role("node3"), "regular");
    job = await setRole("node2", "drained");
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Not enough master candidates, please pass auto promote option to allow promotion (--auto-promote or RAPI auto_promote=True)", "wrong_state"]]);
    job = await setRole("node2", "drained", "?auto-promote=1");
    assert.equal(job.status, "success");
    assert.ok(logOf(job).includes(" - INFO: Promoted nodes to master candidate role: node3.corral.test"), JSON.stringify(logOf(job)));
    assert.equal(await role("node3"), "master-candidate");
    job = await setRole("node2", "regular");
    assert.ok(logOf(job).includes(" - INFO: Auto-promoting node to master candidate"));
    assert.equal(await role("node2"), "master-candidate");
  });

  it("demotes a node that stops being master capable, and will not promote it", async () => {
    let job = await runJob(m.port, "POST", "/2/nodes/node3/modify", { master_capable: false, auto_promote: true });
    assert.deepEqual(job.opresult, [[["master_capable", "False"], ["master_candidate", "False"]]]);
    assert.ok(logOf(job).includes(" - INFO: Demoting from master candidate"));
    job = await setRole("node3", "master-candidate");
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Node node3.corral.test is not master capable, cannot make it a master candidate", "wrong_state"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node3/modify", { master_capable: true });
    assert.deepEqual(job.opresult, [[["master_capable", "True"], ["master_candidate", "True"]]]);
  });

  it("refuses to change a secondary IP on a single-homed cluster", async () => {
    const job = await runJob(m.port, "POST", "/2/nodes/node2/modify", { secondary_ip: "192.0.2.10" });
    assert.equal((errorOf(job) as [string, string[]])[1][1], "wrong_input");
    assert.match((errorOf(job) as [string, string[]])[1][0], /single-homed cluster requires the --force option/);
  });

  it("power-cycles a non-master node (simulated: the agent gets a new boot id)", async () => {
    const bootid = async () => {
      const r = await call(m.port, "GET", "/2/query/node?fields=name,bootid", { user: "reader" });
      const rows = (r.json as { data: [number, string][][] }).data;
      return rows.find((row) => row[0][1] === "node3.corral.test")?.[1];
    };
    const before = await bootid();
    assert.equal(before?.[0], 0, "the agent reports a boot id");
    const job = await runJob(m.port, "POST", "/2/nodes/node3/powercycle");
    assert.equal(job.status, "success");
    assert.match(errorOf(job) as string, /^Simulated power-cycle done/);
    assert.notDeepEqual(await bootid(), before);
  });

  it("keeps instances' nodes: vm_capable stays, evacuation and migration start one job per instance", async () => {
    await injectInstance(m.c.master.store, { name: "shared1", primary: "node2", diskTemplate: "sharedfile" });
    await injectInstance(m.c.master.store, { name: "file1", primary: "node2", diskTemplate: "file" });
    await injectInstance(m.c.master.store, { name: "drbd1", primary: "node3", secondaries: ["node2"], diskTemplate: "drbd" });

    let job = await runJob(m.port, "POST", "/2/nodes/node2/modify", { vm_capable: false });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Node node2.corral.test hosts instances, cannot unset the vm_capable flag", "wrong_state"]]);

    job = await runJob(m.port, "POST", "/2/nodes/node2/migrate", { mode: "live" });
    assert.equal(job.status, "success");
    const { jobs } = (job.opresult as { jobs: [boolean, number][] }[])[0];
    assert.equal(jobs.length, 2);
    assert.ok(jobs.every(([ok, id]) => ok === true && Number.isInteger(id)));
    const sub = (await call(m.port, "GET", `/2/jobs/${jobs[0][1]}`)).json as Job;
    const subOp = opOf(sub);
    assert.equal(subOp.OP_ID, "OP_INSTANCE_MIGRATE");
    assert.equal(subOp.instance_name, "file1.corral.test");
    assert.equal(subOp.mode, "live");
    assert.equal(subOp.comment, "Submitted by OP_NODE_MIGRATE");
    const reasons = (subOp.reason as [string, string, number][]).map((r) => r[0]);
    assert.deepEqual(reasons, ["gnt:library:rlib2:nodes_name_migrate", "gnt:opcode:node_migrate", "gnt:opcode:instance_migrate"]);
    if (haveGolden) assert.deepEqual(Object.keys(subOp).slice(0, 6), Object.keys((goldenJob("0346-node-migrate-subjob.json").ops as Dict[])[0]).slice(0, 6));

    job = await runJob(m.port, "POST", "/2/nodes/node2/evacuate", { mode: "primary-only", iallocator: "hail" });
    assert.deepEqual(errorOf(job), ["OpExecError", ["Unable to evacuate instances file1.corral.test (Instances of type file cannot be relocated)"]]);
    assert.ok(logOf(job).includes(" - INFO: Evacuating instances from node 'node2.corral.test': file1.corral.test, shared1.corral.test"));

    job = await runJob(m.port, "POST", "/2/nodes/node2/evacuate", { mode: "secondary-only", remote_node: "node1" });
    const evac = (job.opresult as { jobs: [boolean, number][] }[])[0].jobs;
    assert.equal(evac.length, 1);
    const replace = opOf((await call(m.port, "GET", `/2/jobs/${evac[0][1]}`)).json as Job);
    assert.deepEqual([replace.OP_ID, replace.instance_name, replace.mode, replace.remote_node], ["OP_INSTANCE_REPLACE_DISKS", "drbd1.corral.test", "replace_new_secondary", "node1.corral.test"]);
    job = await runJob(m.port, "POST", "/2/nodes/node2/evacuate", { mode: "secondary-only", remote_node: "node3" });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Node node3.corral.test is the primary node of instance drbd1.corral.test, cannot use it as secondary", "wrong_input"]]);
    job = await runJob(m.port, "POST", "/2/nodes/node2/evacuate", { mode: "primary-only", remote_node: "node1" });
    assert.deepEqual(errorOf(job), ["OpPrereqError", ["Without the use of an iallocator only secondary instances can be evacuated", "wrong_input"]]);

    const bulk = (await call(m.port, "GET", "/2/nodes/node2")).json as Dict;
    assert.deepEqual([bulk.pinst_cnt, bulk.sinst_cnt, bulk.pinst_list], [2, 1, ["file1.corral.test", "shared1.corral.test"]]);
    const storage = await runJob(m.port, "GET", "/2/nodes/node2/storage?storage_type=file&output_fields=used");
    assert.deepEqual(storage.opresult, [[[1024]]], "used counts the node's file disks");
  });
});

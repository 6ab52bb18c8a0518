// Node groups over RAPI: the group jobs run the way Ganeti's do, with the same results,
// error classes and messages as the Ganeti 3.0.2 captures.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, runJob, suiteMaster } from "../support/cluster.ts";
import { golden, goldenJob, haveGolden } from "../support/golden.ts";

type Job = Record<string, unknown>;

/** UUIDs differ between clusters; compare messages with them blanked. */
const blankUuids = (v: unknown) => JSON.parse(JSON.stringify(v).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "UUID"));

describe("node groups", () => {
  const m = suiteMaster();

  const submit = (method: string, path: string, body?: unknown): Promise<Job> => runJob(m.port, method, path, body);
  const groupNamed = (name: string) => [...m.t.master.store.snapshot().groups.values()].find((g) => g.name === name);
  const node1 = () => [...m.t.master.store.snapshot().nodes.values()][0];
  const prereq = (job: Job) => (job.opresult as [string, unknown[]][])[0];

  it("adds a group under its legacy name `name`, and refuses a second one", async () => {
    let job = await submit("POST", "/2/groups", { name: "group2", alloc_policy: "preferred" });
    assert.equal(job.status, "success");
    assert.deepEqual(job.opresult, [null]);
    assert.deepEqual(job.summary, ["GROUP_ADD(group2)"]);
    const op = (job.ops as Job[])[0];
    assert.equal(op.group_name, "group2");
    assert.equal(op.dry_run, false);
    if (haveGolden) assert.deepEqual(Object.keys(op), Object.keys((goldenJob("0271-group-add-job.json").ops as Job[])[0]));
    const group = groupNamed("group2");
    assert.ok(group);
    assert.equal(group.alloc_policy, "preferred");

    job = await submit("POST", "/2/groups", { name: "group2" });
    assert.equal(job.status, "error");
    assert.deepEqual(job.opresult, [["OpPrereqError", [`Desired group name 'group2' already exists as a node group (UUID: ${group.uuid})`, "already_exists"]]]);
    if (haveGolden) assert.deepEqual(blankUuids(job.opresult), blankUuids(goldenJob("0275-group-add-duplicate-job.json").opresult));
  });

  it("checks a dry-run add without adding", async () => {
    const job = await submit("POST", "/2/groups?dry-run=1", { group_name: "dry-group" });
    assert.equal(job.status, "success");
    assert.equal(groupNamed("dry-group"), undefined);
  });

  it("answers bad bodies with Ganeti's 400s", { skip: !haveGolden && "no captures" }, async () => {
    for (const file of ["0276-group-add-missing-name.json", "0281-group-modify-bad-policy.json"]) {
      const ex = golden(file);
      const r = await call(m.port, ex.request.method, ex.request.url, { user: "writer", rawBody: ex.request.body_raw ?? undefined });
      assert.equal(r.status, 400, file);
      assert.deepEqual(r.json, ex.response.body_json, file);
    }
    const both = await call(m.port, "PUT", "/2/groups/group2/modify", { user: "writer", body: { ndparams: {}, custom_ndparams: {} } });
    assert.equal(both.status, 400);
    assert.match((both.json as { message: string }).message, /Parameter &#x27;custom_ndparams&#x27; was renamed to &#x27;ndparams&#x27;, but both are specified/);
    const readerTry = await call(m.port, "POST", "/2/groups", { user: "reader", body: { name: "x" } });
    assert.equal(readerTry.status, 403);
  });

  it("modifies alloc_policy and ndparams (custom_ndparams alias), returning the changes as Ganeti does", async () => {
    const job = await submit("PUT", "/2/groups/group2/modify", { alloc_policy: "last_resort", custom_ndparams: { spindle_count: 2 } });
    assert.equal(job.status, "success");
    assert.deepEqual(job.opresult, [[["ndparams", "{'spindle_count': 2}"]]]);
    if (haveGolden) assert.deepEqual(job.opresult, goldenJob("0280-group-modify-job.json").opresult);
    const group = groupNamed("group2");
    assert.equal(group?.alloc_policy, "last_resort");
    assert.deepEqual(group?.ndparams, { spindle_count: 2 });
    // "default" resets a key; strings are converted to the parameter's type.
    const reset = await submit("PUT", "/2/groups/group2/modify", { ndparams: { spindle_count: "default", ssh_port: "2222" } });
    assert.deepEqual(reset.opresult, [[["ndparams", "{'ssh_port': 2222}"]]]);
    assert.deepEqual(groupNamed("group2")?.ndparams, { ssh_port: 2222 });
  });

  it("shows groups in lists, bulk and alone, with the keys and merged values Ganeti shows", async () => {
    const list = (await call(m.port, "GET", "/2/groups")).json;
    assert.deepEqual(list, [{ name: "default", uri: "/2/groups/default" }, { name: "group2", uri: "/2/groups/group2" }]);
    const bulk = (await call(m.port, "GET", "/2/groups?bulk=1")).json as Job[];
    const one = (await call(m.port, "GET", "/2/groups/group2")).json as Job;
    assert.deepEqual(bulk[1], one);
    assert.deepEqual((await call(m.port, "GET", `/2/groups/${String(one.uuid)}`)).json, one, "a group's uuid names it too");
    assert.deepEqual([one.alloc_policy, one.custom_ndparams, one.node_cnt, one.node_list], ["last_resort", { ssh_port: 2222 }, 0, []]);
    assert.equal((one.ndparams as Job).ssh_port, 2222);
    assert.equal((bulk[0].node_list as string[])[0], node1().name);
    if (haveGolden) {
      const theirs = golden("0291-group-get-renamed.json").response.body_json as Job;
      assert.deepEqual(Object.keys(one), Object.keys(theirs));
      assert.deepEqual(one.diskparams, theirs.diskparams);
      assert.deepEqual([one.custom_ipolicy, one.custom_diskparams], [theirs.custom_ipolicy, theirs.custom_diskparams]);
      const missing = await call(m.port, "GET", "/2/groups/nosuchgroup");
      assert.deepEqual([missing.status, missing.json], [404, golden("0057-404-unknown-group.json").response.body_json]);
    }
  });

  it("refuses wrong group parameters with Ganeti's error classes", async () => {
    const cases: [unknown, unknown][] = [
      [{}, ["OpPrereqError", ["Please pass at least one modification", "wrong_input"]]],
      [{ ndparams: { bogus: 1 } }, ["TypeEnforcementError", ["Unknown parameter 'bogus'"]]],
      [{ ndparams: { spindle_count: "many" } }, ["TypeEnforcementError", ["'spindle_count' (value many) is not a valid integer"]]],
      [{ diskparams: { plain: { pool: "x" } } },
        ["OpPrereqError", ["While verify diskparams options: ('Provided option keys not supported: plain/pool', 'wrong_input')", "wrong_input"]]],
      [{ diskparams: { rbd: { access: "pink" } } },
        ["OpPrereqError", ["Invalid value of 'rbd:access': 'pink' (expected one of kernelspace, userspace)"]]],
      [{ ipolicy: { std: { "cpu-count": 2 } } }, ["OpPrereqError", ["std cannot appear in group instance specs", "wrong_input"]]],
      [{ ipolicy: { bogus: 1 } }, ["OpPrereqError", ["Invalid key in new ipolicy: bogus", "wrong_input"]]],
      [{ ipolicy: { "disk-templates": ["file", "ext"] } },
        ["OpPrereqError", ["The following disk templates are allowed by the ipolicy, but not enabled on the cluster: ext", "wrong_input"]]],
      [{ ipolicy: { "vcpu-ratio": "lots" } },
        ["OpPrereqError", ["Invalid value for attribute 'vcpu-ratio': 'lots', error: could not convert to float", "wrong_input"]]],
      [{ hv_state: { vmware: { mem_total: 1 } } }, ["OpPrereqError", ["Invalid hypervisor(s) in hypervisor state: vmware", "wrong_input"]]],
      [{ disk_state: { file: {} } }, ["OpPrereqError", ["Invalid storage type(s) in disk state: file", "wrong_input"]]],
    ];
    for (const [body, error] of cases) {
      const job = await submit("PUT", "/2/groups/group2/modify", body);
      assert.equal(job.status, "error", JSON.stringify(body));
      assert.deepEqual(prereq(job), error, JSON.stringify(body));
    }
  });

  it("keeps ipolicy, diskparams and state overrides per group", async () => {
    const job = await submit("PUT", "/2/groups/group2/modify", {
      custom_ipolicy: { "vcpu-ratio": 2, "disk-templates": ["file"] },
      custom_diskparams: { plain: { stripes: "2" } },
      hv_state: { fake: { mem_total: 1024 } },
      disk_state: { plain: { xenvg: { disk_total: 10 } } },
    });
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    assert.deepEqual(job.opresult, [[["diskparams", "{'plain': {'stripes': 2}}"]]]);
    const group = groupNamed("group2");
    assert.deepEqual(group?.ipolicy, { "vcpu-ratio": 2, "disk-templates": ["file"] });
    assert.deepEqual(group?.hv_state_static, { fake: { mem_total: 1024 } });
    assert.deepEqual(group?.disk_state_static, { plain: { xenvg: { disk_total: 10 } } });
    // An empty value removes a group override again.
    await submit("PUT", "/2/groups/group2/modify", { ipolicy: { "disk-templates": [] } });
    assert.deepEqual(groupNamed("group2")?.ipolicy, { "vcpu-ratio": 2 });
  });

  it("renames, and fails on unknown or clashing names", async () => {
    let job = await submit("PUT", "/2/groups/group2/rename", { new_name: "group3" });
    assert.deepEqual(job.opresult, ["group3"]);
    assert.deepEqual(job.summary, ["GROUP_RENAME"]);
    if (haveGolden) assert.deepEqual(job.opresult, goldenJob("0283-group-rename-job.json").opresult);
    job = await submit("PUT", "/2/groups/nosuchgroup/rename", { new_name: "group4" });
    assert.deepEqual(job.opresult, [["OpPrereqError", ["Node group 'nosuchgroup' not found", "unknown_entity"]]]);
    if (haveGolden) assert.deepEqual(job.opresult, goldenJob("0285-group-rename-unknown-job.json").opresult);
    job = await submit("PUT", "/2/groups/group3/rename", { new_name: "default" });
    assert.deepEqual(prereq(job), ["OpPrereqError", [`Desired new name 'default' clashes with existing node group (UUID: ${groupNamed("default")?.uuid})`, "already_exists"]]);
  });

  it("assigns nodes, records them in the opcode, and a group with nodes cannot be removed", async () => {
    const node = node1();
    const dry = await submit("PUT", "/2/groups/group3/assign-nodes?dry-run=1", { nodes: ["node1"] });
    assert.equal(dry.status, "success");
    const dryOp = (dry.ops as Job[])[0];
    assert.deepEqual(dryOp.node_uuids, [node.uuid]);
    assert.deepEqual(dryOp.nodes, [node.name]);
    assert.equal(node1().group, groupNamed("default")?.uuid);
    if (haveGolden) assert.deepEqual(Object.keys(dryOp), Object.keys((goldenJob("0293-group-assign-nodes-dryrun-job.json").ops as Job[])[0]));

    const job = await submit("PUT", "/2/groups/group3/assign-nodes", { nodes: [node.name] });
    assert.equal(job.status, "success");
    assert.equal(node1().group, groupNamed("group3")?.uuid);

    const busy = await submit("DELETE", "/2/groups/group3");
    assert.deepEqual(busy.opresult, [["OpPrereqError", [`Group 'group3' not empty, has the following nodes: ${node.uuid}`, "wrong_state"]]]);
    if (haveGolden) assert.deepEqual(blankUuids(busy.opresult), blankUuids(goldenJob("0298-group-delete-nonempty-job.json").opresult));

    const unknown = await submit("PUT", "/2/groups/group3/assign-nodes", { nodes: ["nosuch.corral.test"] });
    assert.deepEqual(prereq(unknown), ["OpPrereqError", ["Node 'nosuch.corral.test' not known", "unknown_entity"]]);
    await submit("PUT", "/2/groups/default/assign-nodes", { nodes: [node.name] });
    assert.equal(node1().group, groupNamed("default")?.uuid);
  });

  it("removes an empty group (dry-run first), and never one with nodes", async () => {
    const dry = await submit("DELETE", "/2/groups/group3?dry-run=1");
    assert.equal(dry.status, "success");
    assert.ok(groupNamed("group3"));
    const job = await submit("DELETE", "/2/groups/group3");
    assert.deepEqual(job.opresult, [null]);
    assert.deepEqual(job.summary, ["GROUP_REMOVE(group3)"]);
    assert.equal(groupNamed("group3"), undefined);
    const unknown = await submit("DELETE", "/2/groups/nosuchgroup");
    assert.deepEqual(unknown.opresult, [["OpPrereqError", ["Node group 'nosuchgroup' not found", "unknown_entity"]]]);
    if (haveGolden) assert.deepEqual(unknown.opresult, goldenJob("0307-group-delete-unknown-job.json").opresult);

    // Moving the node out empties "default", which can then go; its last group stays.
    await submit("POST", "/2/groups", { group_name: "solo" });
    await submit("PUT", "/2/groups/solo/assign-nodes", { nodes: [node1().name] });
    assert.equal((await submit("DELETE", "/2/groups/default")).status, "success");
    const only = await submit("DELETE", "/2/groups/solo");
    assert.deepEqual(prereq(only), ["OpPrereqError", [`Group 'solo' not empty, has the following nodes: ${node1().uuid}`, "wrong_state"]]);
  });
});

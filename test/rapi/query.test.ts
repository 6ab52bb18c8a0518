// /2/query over RAPI: who may ask, how fields and filters arrive (query string, body,
// the legacy `filter` key), what the answers look like next to Ganeti 3.0.2's captures,
// and Corral's plainer errors where Ganeti's are daemon accidents (404 for a resource that
// cannot be queried, 400 for a bad filter: Ganeti answers 502 or 500).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { call, runJob, suiteMaster } from "../support/cluster.ts";
import { golden, haveGolden, replay } from "../support/golden.ts";

type Dict = Record<string, unknown>;
interface QueryAnswer {
  fields: { name: string; title: string; kind: string; doc: string }[];
  data: [number, unknown][][];
}

describe("/2/query", () => {
  const m = suiteMaster({ nodeName: "node1.corral.test" });
  const get = (path: string, user: "reader" | "writer" | "admin" | "nobody" | undefined = "reader") => call(m.port, "GET", path, { user });
  const put = (path: string, body: unknown, user: "reader" | "writer" = "reader") => call(m.port, "PUT", path, { user, body });
  const answer = (r: { json: unknown }) => r.json as QueryAnswer;

  it("needs a read or write user for queries, none for field lists", async () => {
    assert.equal((await call(m.port, "GET", "/2/query/node?fields=name")).status, 401);
    assert.equal((await get("/2/query/node?fields=name", "nobody")).status, 403);
    assert.equal((await get("/2/query/node?fields=name", "reader")).status, 200);
    assert.equal((await get("/2/query/node?fields=name", "writer")).status, 200, "write users may query too");
    assert.equal((await put("/2/query/node", { fields: ["name"] }, "reader")).status, 200, "PUT needs only read");
    assert.equal((await call(m.port, "GET", "/2/query/node/fields")).status, 200);
  });

  it("requires fields, as capture 0082", { skip: !haveGolden && "no captures" }, async () => {
    const ex = golden("0082-400-query-missing-fields.json");
    const r = await replay(m.port, ex);
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, ex.response.body_json);
    assert.equal((await put("/2/query/node", {})).status, 400, "PUT without fields in body or query");
  });

  it("answers node fields as capture 0424, with the master's live data", { skip: !haveGolden && "no captures" }, async () => {
    const ex = golden("0424-query-node.json");
    const r = await replay(m.port, ex);
    assert.equal(r.status, 200);
    const theirs = ex.response.body_json as QueryAnswer;
    assert.deepEqual(answer(r).fields, theirs.fields);
    const row = answer(r).data[0];
    assert.deepEqual(row.map(([status]) => status), theirs.data[0].map(([status]) => status));
    assert.deepEqual(row.slice(0, 4), [[0, "node1.corral.test"], [0, "127.0.0.1"], [0, "127.0.0.1"], [0, "M"]]);
  });

  it("marks unknown fields, as capture 0084, and splits fields like Ganeti", { skip: !haveGolden && "no captures" }, async () => {
    const r = await replay(m.port, golden("0084-query-unknown-field.json"));
    const theirs = golden("0084-query-unknown-field.json").response.body_json as QueryAnswer;
    assert.deepEqual(answer(r).fields, theirs.fields);
    assert.deepEqual(answer(r).data, [[[0, "node1.corral.test"], [1, null]]]);
    const spaced = answer(await get("/2/query/node?fields=name,%20name%09,name%20"));
    assert.deepEqual(spaced.fields.map((f) => f.name), ["name", "name", "name"]);
  });

  it("takes fields and filters from the body, qfilter before the legacy filter key", async () => {
    const both = answer(await put("/2/query/node", { fields: ["name"], qfilter: ["=~", "name", "^nomatch"], filter: ["=~", "name", "^node1"] }));
    assert.equal(both.data.length, 0);
    const legacy = answer(await put("/2/query/node", { fields: ["name"], filter: ["=~", "name", "^node1"] }));
    assert.deepEqual(legacy.data, [[[0, "node1.corral.test"]]]);
    const fromQuery = answer(await put("/2/query/node?fields=name,role", {}));
    assert.deepEqual(fromQuery.data, [[[0, "node1.corral.test"], [0, "M"]]]);
    const master = answer(await put("/2/query/node", { fields: ["name", "master"], qfilter: ["?", "master"] }));
    assert.deepEqual(master.data, [[[0, "node1.corral.test"], [0, true]]]);
    assert.equal((await put("/2/query/node", ["name"])).status, 400, "the body must be a dict");
    assert.equal((await put("/2/query/node", { fields: "name" })).status, 400, "fields must be a list");
  });

  it("answers bad filters with 400 and Ganeti's message (Ganeti: 502 or 500)", async () => {
    let r = await put("/2/query/instance", { fields: ["name"], qfilter: ["bogus-op", 1] });
    assert.equal(r.status, 400);
    assert.equal((r.json as Dict).message, "Invalid query filter: Unknown filter operand &#x27;bogus-op&#x27;");
    r = await put("/2/query/node", { fields: ["name"], qfilter: ["=", "nosuch_field", 1] });
    assert.equal(r.status, 400);
    assert.match((r.json as Dict).message as string, /Can&#x27;t find field named &#x27;nosuch_field&#x27;/);
    r = await put("/2/query/node", { fields: ["name"], qfilter: ["|", ["==", "name", "nosuch"]] });
    assert.equal(r.status, 400);
    assert.equal((r.json as Dict).message, "Node name nosuch not found");
  });

  it("answers 404 for resources that cannot be queried (Ganeti: 502, or 500 for os)", { skip: !haveGolden && "no captures" }, async () => {
    for (const file of ["0083-query-unknown-resource.json", "0427-query-os.json", "0433-query-fields-unknown-res.json"]) {
      const r = await replay(m.port, golden(file));
      assert.equal(r.status, 404, file);
      assert.match((r.json as Dict).message as string, /cannot be queried; the resources are instance, node, group, network, job, export, lock, filter/);
    }
  });

  it("queries groups, networks, jobs, locks and exports like captures 0425-0430", { skip: !haveGolden && "no captures" }, async () => {
    await runJob(m.port, "PUT", "/2/tags?tag=for-the-job-query");
    for (const file of ["0425-query-group.json", "0426-query-job.json", "0428-query-network.json", "0429-query-export.json", "0430-query-lock.json"]) {
      const ex = golden(file);
      const r = await replay(m.port, ex);
      assert.equal(r.status, 200, file);
      const theirs = ex.response.body_json as QueryAnswer;
      assert.deepEqual(answer(r).fields, theirs.fields, file);
      if (theirs.data.length > 0 && answer(r).data.length > 0) {
        assert.deepEqual(answer(r).data[0].map(([s]) => s), theirs.data[0].map(([s]) => s), `${file} statuses`);
      }
    }
    const jobs = answer(await get("/2/query/job?fields=id,status,summary"));
    assert.ok(jobs.data.some((row) => JSON.stringify(row[2]) === JSON.stringify([0, ["TAGS_SET"]])));
    const exports = answer(await get("/2/query/export?fields=node,export"));
    assert.deepEqual(exports.data, [], "node1 answers that it holds no exports: no rows");
  });

  it("lists an export on its node, shaped as capture 0429; a node that does not answer has no data, an offline one shows offline", { skip: !haveGolden && "no captures" }, async () => {
    const name = "exp1.corral.test";
    const created = await runJob(m.port, "POST", "/2/instances", {
      __version__: 1, mode: "create", name, disk_template: "diskless", disks: [], nics: [{}], os: "corral-marker+default",
      pnode: "node1.corral.test", beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, start: false,
    });
    assert.equal(created.status, "success", JSON.stringify(created.opresult));
    const exported = await runJob(m.port, "PUT", `/2/instances/${name}/export`, { mode: "local", destination: "node1.corral.test", shutdown: false });
    assert.equal(exported.status, "success", JSON.stringify(exported.opresult));

    const theirs = golden("0429-query-export.json").response.body_json as QueryAnswer;
    const ours = answer(await get("/2/query/export?fields=node,export"));
    assert.deepEqual(ours.fields, theirs.fields);
    assert.deepEqual(ours.data, [[[0, "node1.corral.test"], [0, name]]]);
    const shape = (rows: [number, unknown][][]) => rows.map((row) => row.map(([status, value]) => [typeof status, status === 0 ? typeof value : value]));
    assert.deepEqual(shape(ours.data), [[["number", "string"], ["number", "string"]]]);
    assert.deepEqual(shape(theirs.data)[0][0], shape(ours.data)[0][0], "the node cell as Ganeti's");

    // node2's agent cannot be reached; node3 is marked offline and not asked.
    const store = m.t.master.store;
    const node1 = [...store.snapshot().nodes.values()][0];
    const extra = [
      { ...node1, uuid: "00000000-0000-4000-8000-0000000e0002", name: "node2.corral.test", primary_ip: "127.0.1.2", secondary_ip: "127.0.1.2", agent_endpoint: "https://127.0.0.1:1" },
      { ...node1, uuid: "00000000-0000-4000-8000-0000000e0003", name: "node3.corral.test", primary_ip: "127.0.1.3", secondary_ip: "127.0.1.3", agent_endpoint: "https://127.0.0.1:1", offline: true },
    ];
    await store.transact((tx) => extra.forEach((n) => tx.add("node", n)));
    try {
      assert.deepEqual(answer(await get("/2/query/export?fields=node,export")).data, [
        [[0, "node1.corral.test"], [0, name]],
        [[0, "node2.corral.test"], [2, null]],
        [[0, "node3.corral.test"], [4, null]],
      ]);
      const filtered = answer(await put("/2/query/export", { fields: ["export"], qfilter: ["=", "node", "node1.corral.test"] }));
      assert.deepEqual(filtered.data, [[[0, name]]]);
    } finally {
      await store.transact((tx) => extra.forEach((n) => tx.remove("node", n.uuid)));
    }
  });

  it("lists field definitions: all nice-sorted (as capture 0431), or the ones asked for", { skip: !haveGolden && "no captures" }, async () => {
    const all = (await call(m.port, "GET", "/2/query/node/fields")).json as { fields: Dict[] };
    const theirs = golden("0431-query-fields-node.json").response.body_json as { fields: Dict[] };
    assert.deepEqual(all.fields.map((f) => f.name), theirs.fields.map((f) => f.name));
    assert.equal(all.fields.length, 46);
    const subset = await replay(m.port, golden("0432-query-fields-instance-subset.json"));
    assert.deepEqual(subset.json, golden("0432-query-fields-instance-subset.json").response.body_json);
    const unknown = (await call(m.port, "GET", "/2/query/group/fields?fields=name,_unknown!")).json as { fields: Dict[] };
    assert.deepEqual(unknown.fields[1], { name: "_unknown!", title: "_unknown!", kind: "unknown", doc: "Unknown field '_unknown!'" });
  });
});

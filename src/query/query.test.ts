// Query2 execution: response shapes against the Ganeti 3.0.2 captures, name selection,
// live-data statuses, and the job, export and lock resources.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Job } from "../model/job.ts";
import type { Opcode } from "../model/opcode.ts";
import { OpPrereqError } from "../model/errors.ts";
import { golden, makeLive, makeSnapshot, U } from "./fixture.ts";
import { NO_LIVE } from "./live.ts";
import { luxiParseFailure, QueryFilterError } from "./qlang.ts";
import { queryFields, QueryResourceError, runQuery, type QueryContext, type QueryResult } from "./query.ts";

const snap = makeSnapshot();
const ctx: QueryContext = { snap, live: makeLive() };

const column = (r: QueryResult, i: number) => r.data.map((row) => row[i]);

describe("query shapes", () => {
  it("answers fields and rows as capture 0420 (instance)", (t) => {
    const fields = ["name", "status", "oper_ram", "admin_state", "pnode", "tags"];
    const r = runQuery("instance", fields, null, ctx);
    const theirs = golden("0420-query-instance.json") as QueryResult | undefined;
    if (theirs) assert.deepEqual(r.fields, theirs.fields);
    assert.deepEqual(r.data[0], [[0, "file2.example.test"], [0, "ADMIN_down"], [3, null], [0, "down"], [0, "node1.example.test"], [0, ["kind:file"]]]);
    assert.deepEqual(r.data[1], [[0, "inst1.example.test"], [0, "running"], [0, 128], [0, "up"], [0, "node1.example.test"], [0, []]]);
    if (!theirs) t.skip("golden captures not present");
  });

  it("filters with = on the name and reads be/ fields as capture 0421", (t) => {
    const r = runQuery("instance", ["name", "status", "be/maxmem"], ["=", "name", "inst10.example.test"], ctx);
    assert.deepEqual(r.data, [[[0, "inst10.example.test"], [0, "running"], [0, 512]]]);
    const theirs = golden("0421-query-instance-put-filter.json") as QueryResult | undefined;
    if (!theirs) return t.skip("golden captures not present");
    assert.deepEqual(r.fields, theirs.fields);
  });

  it("filters with a regular expression (0422)", () => {
    const r = runQuery("instance", ["name"], ["=~", "name", "^inst1"], ctx);
    assert.deepEqual(r.data, [[[0, "inst1.example.test"]], [[0, "inst10.example.test"]]]);
  });

  for (const [file, kind, fields] of [
    ["0424-query-node.json", "node", ["name", "pip", "sip", "role", "mfree", "mtotal", "dtotal", "dfree"]],
    ["0425-query-group.json", "group", ["name", "uuid", "node_cnt", "pinst_cnt"]],
    ["0426-query-job.json", "job", ["id", "status", "summary"]],
    ["0428-query-network.json", "network", ["name"]],
    ["0429-query-export.json", "export", ["node", "export"]],
    ["0430-query-lock.json", "lock", ["name", "mode", "owner"]],
  ] as const) {
    it(`defines ${kind} fields as capture ${file.slice(0, 4)}`, (t) => {
      const theirs = golden(file) as QueryResult | undefined;
      if (!theirs) return t.skip("golden captures not present");
      assert.deepEqual(runQuery(kind, fields, null, ctx).fields, theirs.fields);
    });
  }

  it("answers a node query like 0424", () => {
    const r = runQuery("node", ["name", "pip", "sip", "role", "mfree", "mtotal", "dtotal", "dfree"], null, ctx);
    assert.deepEqual(r.data[0], [[0, "node1.example.test"], [0, "127.0.0.2"], [0, "127.0.0.2"], [0, "M"], [0, 23501], [0, 24105], [0, 258019], [0, 81112]]);
    assert.deepEqual(r.data[1].slice(6), [[2, null], [2, null]], "node2 reports no storage");
    assert.deepEqual(r.data[2].slice(3), [[0, "O"], [4, null], [4, null], [4, null], [4, null]], "node10 is offline");
  });

  it("gives an unknown field kind unknown and status 1, not an error (0084)", (t) => {
    const r = runQuery("node", ["name", "bogus_field"], null, ctx);
    assert.deepEqual(r.data[0], [[0, "node1.example.test"], [1, null]]);
    assert.deepEqual(r.fields[1], { name: "bogus_field", title: "bogus_field", kind: "unknown", doc: "Unknown field 'bogus_field'" });
    const theirs = golden("0084-query-unknown-field.json") as QueryResult | undefined;
    if (!theirs) return t.skip("golden captures not present");
    assert.deepEqual(r.fields, theirs.fields);
  });

  it("keeps requested fields in order, duplicates too", () => {
    const r = runQuery("group", ["name", "name", "node_cnt"], null, ctx);
    assert.deepEqual(r.fields.map((f) => f.name), ["name", "name", "node_cnt"]);
    assert.deepEqual(r.data[0], [[0, "default"], [0, "default"], [0, 2]]);
  });
});

describe("query fields", () => {
  it("lists every node field nice-sorted, as capture 0431", (t) => {
    const theirs = golden("0431-query-fields-node.json") as { fields: unknown[] } | undefined;
    if (!theirs) return t.skip("golden captures not present");
    assert.deepEqual(queryFields("node"), theirs);
  });

  it("lists requested fields in order, as capture 0432", (t) => {
    const theirs = golden("0432-query-fields-instance-subset.json") as { fields: unknown[] } | undefined;
    if (!theirs) return t.skip("golden captures not present");
    assert.deepEqual(queryFields("instance", ["name", "status"]), theirs);
  });

  it("gives unknown names an unknown definition", () => {
    assert.deepEqual(queryFields("lock", ["nope"]).fields, [{ name: "nope", title: "nope", kind: "unknown", doc: "Unknown field 'nope'" }]);
    assert.equal(queryFields("instance").fields.length, 292);
  });
});

describe("resources", () => {
  it("refuses unknown resources with Ganeti's message (0083, 0433)", (t) => {
    let message = "";
    assert.throws(() => runQuery("bogus", ["name"], null, ctx), (e: unknown) => {
      message = (e as Error).message;
      return e instanceof QueryResourceError && e.parseFailure;
    });
    assert.throws(() => queryFields("bogus"), QueryResourceError);
    const cap = golden("0083-query-unknown-resource.json") as { message: string } | undefined;
    if (!cap) return t.skip("golden captures not present");
    assert.equal(luxiParseFailure(["bogus", ["name"], null], message), cap.message.replace(/&#x27;/g, "'").replace(/&quot;/g, '"'));
  });

  it("refuses os and cluster as Ganeti 3.0's luxid does (0427)", () => {
    assert.throws(() => runQuery("os", ["name"], null, ctx), (e: unknown) =>
      e instanceof QueryResourceError && !e.parseFailure && e.message === "Query 'ItemTypeOpCode QROs' not supported");
    assert.throws(() => queryFields("cluster"), (e: unknown) =>
      e instanceof QueryResourceError && e.message === "QueryFields 'ItemTypeOpCode QRCluster' not supported");
  });
});

describe("selection by name", () => {
  it("looks up names of a name == filter, in the order given, short names too", () => {
    const r = runQuery("instance", ["name"], ["|", ["==", "name", "inst10"], ["==", "name", "inst1"]], ctx);
    assert.deepEqual(r.data, [[[0, "inst10.example.test"]], [[0, "inst1.example.test"]]]);
  });

  it("fails on a name that does not exist, as Ganeti's lookup does", () => {
    assert.throws(() => runQuery("instance", ["name"], ["==", "name", "nosuch"], ctx), (e: unknown) =>
      e instanceof OpPrereqError && e.args[0] === "Instance name nosuch not found" && e.args[1] === "unknown_entity");
    assert.throws(() => runQuery("node", ["name"], ["==", "name", "node"], ctx), OpPrereqError);
  });

  it("scans everything for other filters", () => {
    const r = runQuery("instance", ["name"], ["|", ["==", "name", "nosuch"], ["==", "uuid", U.inst1]], ctx);
    assert.deepEqual(r.data, [[[0, "inst1.example.test"]]]);
  });

  it("reports filter errors as QueryFilterError", () => {
    assert.throws(() => runQuery("instance", ["name"], ["==", "nosuchfield", 1], ctx), (e: unknown) =>
      e instanceof QueryFilterError && e.stage === "compile");
    assert.throws(() => runQuery("filter", ["uuid"], ["==", "name", "x"], ctx), (e: unknown) =>
      e instanceof QueryFilterError && e.message === "Can't find field named 'name'");
  });

  it("selects nodes with ? master (QA's example)", () => {
    assert.deepEqual(runQuery("node", ["name"], ["?", "master"], ctx).data, [[[0, "node1.example.test"]]]);
  });
});

describe("instance live state", () => {
  const status = (live: QueryContext["live"], s = snap) =>
    Object.fromEntries(runQuery("instance", ["name", "status", "oper_state", "oper_ram"], null, { snap: s, live }).data
      .map((row) => [String(row[0][1]).split(".")[0], row.slice(1)]));

  it("follows Ganeti's determineInstanceStatus", () => {
    const s = status(makeLive());
    assert.deepEqual(s["inst1"], [[0, "running"], [0, true], [0, 128]]);
    assert.deepEqual(s["file2"], [[0, "ADMIN_down"], [0, false], [3, null]]);
    assert.deepEqual(s["instoff"], [[0, "ERROR_nodeoffline"], [2, null], [4, null]]);
  });

  it("reports ERROR_down, ERROR_up, ERROR_wrongnode and ERROR_nodedown", () => {
    const live = makeLive({ instances: [[U.inst2, { running: true, node: U.node1, memory: 64, vcpus: 1 }]] });
    (live.instances as Map<string, unknown>).delete(U.inst1);
    (live.instances as Map<string, unknown>).set(U.inst10, { running: true, node: U.node2, memory: 512, vcpus: 1 });
    const s = status(live);
    assert.equal(s["inst1"][0][1], "ERROR_down");
    assert.equal(s["file2"][0][1], "ERROR_up");
    assert.equal(s["inst10"][0][1], "ERROR_wrongnode");
    const down = status(NO_LIVE);
    assert.deepEqual(down["inst1"], [[0, "ERROR_nodedown"], [2, null], [2, null]]);
  });

  it("reports USER_down only where user shutdown is enabled", () => {
    const live = makeLive({ instances: [[U.inst1, { running: false, node: U.node1, memory: 0, vcpus: 1 }]] });
    assert.equal(status(live)["inst1"][0][1], "ERROR_down");
    const s = makeSnapshot();
    const enabled = { ...s, cluster: { ...s.cluster, enabled_user_shutdown: true } };
    assert.equal(status(live, enabled)["inst1"][0][1], "USER_down");
  });

  it("reports ADMIN_offline for an offline instance", () => {
    const s = makeSnapshot();
    const instances = new Map(s.instances);
    instances.set(U.inst2, { ...s.instances.get(U.inst2)!, admin_state: "offline" });
    assert.equal(status(makeLive(), { ...s, instances })["file2"][0][1], "ADMIN_offline");
  });
});

describe("instance parameters", () => {
  const one = (fields: string[]) => runQuery("instance", fields, ["==", "name", "inst10"], ctx).data[0];

  it("fills hv, be, os and NIC parameters from the cluster", () => {
    const [hv, be, os, hvKernel, beVcpus, memory] = one(["hvparams", "beparams", "osparams", "hv/kernel_path", "vcpus", "be/memory"]);
    assert.deepEqual(hv, [0, { acpi: false, boot_order: "disk", kernel_path: "/boot/big", user_shutdown: false, vnc_bind_address: "" }]);
    assert.deepEqual(be, [0, { minmem: 128, maxmem: 512, vcpus: 1, auto_balance: true, always_failover: false, spindle_use: 1 }]);
    assert.deepEqual(os, [0, { dhcp: "yes", extra: "1" }], "the cluster osparams of the OS without its variant");
    assert.deepEqual(hvKernel, [0, "/boot/big"]);
    assert.deepEqual(beVcpus, [0, 1]);
    assert.deepEqual(memory, [0, 512]);
  });

  it("answers NIC and disk fields, per index and as lists", () => {
    const row = one(["nic.modes", "nic.links", "nic.bridges", "nic.vlans", "nic.networks.names", "nic.ip/1", "nic.mode/1",
      "nic.vlan/1", "nic.bridge/0", "nic.name/5", "disk_usage", "disk.size/1", "disk.name/1", "disk.spindles", "snodes",
      "disk_template", "network_port", "hv/pae", "snodes.group", "pnode.group"]);
    assert.deepEqual(row, [
      [0, ["bridged", "openvswitch"]], [0, ["br0", "switch1"]], [0, ["br0", null]], [0, [null, ".100"]], [0, ["net1", null]],
      [3, null], [0, "openvswitch"], [0, ".100"], [0, "br0"], [3, null], [0, 2048 + 1024 + 2 * 128], [0, 1024], [3, null],
      [0, [1, null]], [0, ["node2.example.test"]], [0, "drbd"], [0, 11000], [3, null], [0, ["group2"]], [0, "default"],
    ]);
  });
});

describe("jobs, exports and locks", () => {
  const op = (OP_ID: string, extra: Record<string, unknown> = {}) => ({
    OP_ID, dry_run: null, debug_level: 0, priority: 0, depends: null, comment: null, reason: [], ...extra,
  }) as unknown as Opcode;
  const job = (id: number, archived = false): Job => ({
    id, archived, log_serial: 0, received_ts: [1000 + id, 0], start_ts: null, end_ts: null,
    ops: [{ input: op("OP_TAGS_SET", { kind: "cluster", name: null, tags: ["a"] }), status: "queued", result: null, log: [], priority: 0,
      start_timestamp: null, exec_timestamp: null, end_timestamp: null }],
  });
  const jctx: QueryContext = { snap, jobs: [job(3), job(1), job(2, true)] };

  it("lists jobs by id, archived ones only when asked for", () => {
    assert.deepEqual(column(runQuery("job", ["id"], null, jctx), 0), [[0, 1], [0, 3]]);
    assert.deepEqual(column(runQuery("job", ["id", "archived"], null, jctx), 0), [[0, 1], [0, 2], [0, 3]]);
  });

  it("answers requested ids in order, a missing one with only its id", () => {
    const r = runQuery("job", ["id", "status", "start_ts"], ["|", ["==", "id", 3], ["==", "id", 7], ["==", "id", 1]], jctx);
    assert.deepEqual(r.data, [
      [[0, 3], [0, "queued"], [3, null]],
      [[0, 7], [3, null], [3, null]],
      [[0, 1], [0, "queued"], [3, null]],
    ]);
  });

  it("compares job timestamps by seconds", () => {
    assert.deepEqual(column(runQuery("job", ["id"], [">", "received_ts", 1001], jctx), 0), [[0, 3]]);
  });

  it("lists exports per node; an offline or silent node gets one row without export", () => {
    const exports = [{ node: "node2.example.test", export: "inst9.example.test" }, { node: "node1.example.test", export: "inst1.example.test" }];
    assert.deepEqual(runQuery("export", ["node", "export"], null, { snap, exports }).data, [
      [[0, "node1.example.test"], [0, "inst1.example.test"]],
      [[0, "node2.example.test"], [0, "inst9.example.test"]],
      [[0, "node10.example.test"], [4, null]],
    ]);
    assert.deepEqual(runQuery("export", ["node", "export"], ["==", "node", "node1"], { snap }).data, [[[0, "node1.example.test"], [2, null]]]);
  });

  it("lists locks nice-sorted by name", () => {
    const locks = [
      { name: "instance/inst10", mode: "exclusive", owner: ["job/5"], pending: [] },
      { name: "instance/inst2", mode: null, owner: [], pending: [["shared", ["job/6"]]] },
    ];
    assert.deepEqual(runQuery("lock", ["name", "mode", "pending"], null, { snap, locks }).data, [
      [[0, "instance/inst2"], [0, null], [0, [["shared", ["job/6"]]]]],
      [[0, "instance/inst10"], [0, "exclusive"], [0, []]],
    ]);
  });
});

// RAPI's bulk and single-object dicts against Ganeti 3.0.2 captures: the same keys, and
// values of the same JSON types, for objects in the same situation.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clusterInfo } from "./cluster.ts";
import { golden, makeLive, makeSnapshot, U } from "./fixture.ts";
import { NO_LIVE } from "./live.ts";
import { bulkDicts, bulkJson, findOne, oneDict } from "./rapi.ts";

type Dict = Record<string, unknown>;

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "number";
  return typeof v;
}

/** Same keys in the same order, and per key the same JSON type (ints may stand for floats). */
function assertSameShape(ours: Dict, theirs: Dict, what: string): void {
  assert.deepEqual(Object.keys(ours), Object.keys(theirs), `${what}: keys`);
  for (const k of Object.keys(theirs)) {
    const a = jsonType(ours[k]);
    const b = jsonType(theirs[k]);
    const compatible = a === b || (b === "number" && a === "int") || (a === "number" && b === "int");
    assert.ok(compatible, `${what}.${k}: ours ${a} ${JSON.stringify(ours[k])}, Ganeti ${b} ${JSON.stringify(theirs[k])}`);
  }
}

const snap = makeSnapshot();
const live = makeLive();

describe("bulk dicts", () => {
  it("instances: a stopped file instance and a running one look like Ganeti's (0178, 0180)", (t) => {
    const bulk = golden("0178-instances-bulk.json") as Dict[] | undefined;
    const single = golden("0180-instance-get.json") as Dict | undefined;
    if (!bulk || !single) return t.skip("golden captures not present");
    const ours = bulkDicts("instance", snap, live);
    const file2 = ours.find((d) => d["name"] === "file2.example.test") as Dict;
    const inst1 = oneDict("instance", snap, live, snap.instances.get(U.inst1)!);
    // Ganeti 3.0 has no custom_osparams; it is the one key Corral adds (3.1's I_FIELDS).
    const without = (d: Dict) => Object.fromEntries(Object.entries(d).filter(([k]) => k !== "custom_osparams"));
    assertSameShape(without(file2), bulk[0], "file instance");
    assertSameShape(without(inst1), single, "running instance");
    assert.deepEqual(inst1["beparams"], single["beparams"]);
    assert.equal(file2["status"], "ADMIN_down");
    assert.equal(file2["oper_state"], false);
    assert.equal(file2["oper_ram"], null);
    assert.deepEqual(file2["disk.sizes"], [1024]);
    assert.equal(file2["disk_usage"], 1024);
    assert.deepEqual(file2["custom_nicparams"], [{}]);
    assert.deepEqual(inst1["hvparams"], {}, "the fake hypervisor's only parameter is a global one");
    assert.equal(inst1["status"], "running");
  });

  it("instances come nice-sorted by name", () => {
    assert.deepEqual(bulkDicts("instance", snap, live).map((d) => d["name"]),
      ["file2.example.test", "inst1.example.test", "inst10.example.test", "instoff.example.test"]);
  });

  it("nodes: the master with live facts looks like Ganeti's (0009, 0010)", (t) => {
    const bulk = golden("0009-anon-nodes-bulk.json") as Dict[] | undefined;
    const single = golden("0010-anon-node.json") as Dict | undefined;
    if (!bulk || !single) return t.skip("golden captures not present");
    const node1 = bulkDicts("node", snap, live).find((d) => d["name"] === "node1.example.test") as Dict;
    assertSameShape(node1, bulk[0], "node");
    assertSameShape(oneDict("node", snap, live, snap.nodes.get(U.node1)!), single, "single node");
    assert.deepEqual(node1["ndparams"], bulk[0]["ndparams"]);
    assert.equal(node1["role"], "M");
  });

  it("nodes are nice-sorted (node2 before node10); offline and silent nodes have nulls", () => {
    const nodes = bulkDicts("node", snap, NO_LIVE);
    assert.deepEqual(nodes.map((d) => d["name"]), ["node1.example.test", "node2.example.test", "node10.example.test"]);
    for (const n of nodes) {
      for (const k of ["dtotal", "dfree", "mtotal", "mnode", "mfree", "ctotal", "cnos", "cnodes", "csockets"]) {
        assert.equal(n[k], null, `${n["name"]}.${k}`);
      }
    }
    assert.equal(nodes[2]["role"], "O");
    assert.deepEqual(nodes[0]["pinst_list"], ["file2.example.test", "inst1.example.test", "inst10.example.test"]);
    assert.deepEqual(nodes[1]["sinst_list"], ["inst10.example.test"]);
    assert.deepEqual(nodes[1]["ndparams"], { ...snap.cluster.ndparams, oob_program: "/bin/oob", ssh_port: 2222 });
  });

  it("groups look like Ganeti's (0014, 0015)", (t) => {
    const bulk = golden("0014-anon-groups-bulk.json") as Dict[] | undefined;
    if (!bulk) return t.skip("golden captures not present");
    const groups = bulkDicts("group", snap, live);
    assert.deepEqual(groups.map((g) => g["name"]), ["default", "group2"]);
    assertSameShape(groups[0], bulk[0], "group");
    assert.deepEqual(groups[0]["ipolicy"], bulk[0]["ipolicy"]);
    assert.deepEqual(groups[0]["custom_ipolicy"], {});
    assert.deepEqual(groups[0]["node_list"], ["node1.example.test", "node10.example.test"]);
  });

  it("groups fill ipolicy, diskparams and ndparams from the cluster", () => {
    const g2 = bulkDicts("group", snap, live)[1];
    const ip = g2["ipolicy"] as Dict;
    assert.equal(ip["vcpu-ratio"], 8);
    assert.equal(ip["spindle-ratio"], 32);
    assert.deepEqual(ip["std"], { "memory-size": 256, "disk-size": 1024, "disk-count": 1, "cpu-count": 1, "nic-count": 1, "spindle-use": 1 });
    assert.deepEqual((g2["diskparams"] as Dict)["drbd"], { "resync-rate": 1000, metavg: "xenvg", protocol: "C" });
    assert.equal((g2["ndparams"] as Dict)["oob_program"], "/bin/oob");
  });

  it("networks look like Ganeti's (0361), with the same pool map", (t) => {
    const bulk = golden("0361-networks-bulk.json") as Dict[] | undefined;
    if (!bulk) return t.skip("golden captures not present");
    const [net1] = bulkDicts("network", snap, live);
    assertSameShape({ ...net1, group_list: [], inst_list: [] }, bulk[0], "network");
    for (const k of ["map", "free_count", "reserved_count", "external_reservations", "network", "gateway"]) {
      assert.deepEqual(net1[k], bulk[0][k], k);
    }
    assert.deepEqual(net1["group_list"], [["group2", "bridged", "br0", "-"]]);
    assert.deepEqual(net1["inst_list"], ["inst10.example.test"]);
  });

  it("filters look like Ganeti's (0388)", (t) => {
    const bulk = golden("0388-filters-bulk.json") as Dict[] | undefined;
    if (!bulk) return t.skip("golden captures not present");
    assert.deepEqual(bulkDicts("filter", snap, live), bulk);
  });
});

describe("bulk JSON", () => {
  const same = (s: typeof snap, l = live) => assert.equal(bulkJson("instance", s, l), JSON.stringify(bulkDicts("instance", s, l)));

  it("is the bulk dicts, encoded", () => {
    for (const kind of ["instance", "node", "group", "network", "filter"] as const) {
      assert.equal(bulkJson(kind, snap, live), JSON.stringify(bulkDicts(kind, snap, live)), kind);
    }
    same(snap, NO_LIVE);
  });

  it("follows changes of the nodes, networks and cluster defaults an instance uses", () => {
    same(snap);
    const nodes = new Map(snap.nodes);
    nodes.set(U.node1, { ...snap.nodes.get(U.node1)!, name: "renamed.example.test" });
    const renamed = { ...snap, nodes };
    same(renamed);
    assert.match(bulkJson("instance", renamed, live), /"pnode":"renamed.example.test"/);
    const networks = new Map([[U.net1, { ...snap.networks.get(U.net1)!, name: "net9" }]]);
    assert.match(bulkJson("instance", { ...snap, networks }, live), /"nic.networks.names":\["net9",null\]/);
    const cluster = { ...snap.cluster, nicparams: { default: { mode: "bridged", link: "br9", vlan: "" } } };
    const bridged = { ...snap, cluster };
    same(bridged);
    assert.match(bulkJson("instance", bridged, live), /"nic.bridges":\["br9"\]/);
  });

  it("copes with config text that looks like its internal marker", () => {
    const instances = new Map(snap.instances);
    instances.set(U.inst1, { ...snap.instances.get(U.inst1)!, tags: ["\u0000live"] });
    same({ ...snap, instances });
  });
});

describe("single-object lookup", () => {
  it("finds by full name, short name or uuid", () => {
    assert.equal(findOne("instance", snap, "inst1.example.test")?.uuid, U.inst1);
    assert.equal(findOne("instance", snap, "inst1")?.uuid, U.inst1);
    assert.equal(findOne("instance", snap, U.inst10)?.uuid, U.inst10);
    assert.equal(findOne("node", snap, "node10")?.uuid, U.node10);
    assert.equal(findOne("group", snap, "group2")?.uuid, U.group2);
    assert.equal(findOne("network", snap, "net1")?.uuid, U.net1);
    assert.equal(findOne("filter", snap, U.filter)?.uuid, U.filter);
  });

  it("answers a lookup repeated in the same snapshot without a second scan, and any other with its own", () => {
    let scans = 0;
    class CountingMap<K, V> extends Map<K, V> {
      override values(): MapIterator<V> {
        scans++;
        return super.values();
      }
    }
    const counted = { ...snap, instances: new CountingMap(snap.instances) };
    assert.equal(findOne("instance", counted, "inst1")?.uuid, U.inst1);
    assert.equal(findOne("instance", counted, "inst1")?.uuid, U.inst1);
    assert.equal(scans, 1);
    assert.equal(findOne("instance", counted, "inst10")?.uuid, U.inst10);
    assert.equal(findOne("instance", counted, "inst1")?.uuid, U.inst1);
    assert.equal(findOne("node", counted, "inst1"), undefined, "another kind is looked up in its own map");
    assert.equal(scans, 3);
  });

  it("does not find partial words or unknown names", () => {
    assert.equal(findOne("instance", snap, "inst"), undefined);
    assert.equal(findOne("instance", snap, "nosuch"), undefined);
    assert.equal(findOne("node", snap, "node1.exam"), undefined);
    assert.equal(findOne("group", snap, "group"), undefined);
    assert.equal(findOne("node", snap, "node1.example")?.uuid, U.node1, "every whole-component prefix is a short form");
  });

  it("matches group and network names exactly (they are not host names)", () => {
    const s = makeSnapshot();
    const g = { ...s.groups.get(U.group2)!, uuid: "22222222-0000-4000-8000-000000000000", name: "group2.x" };
    const groups = new Map(s.groups);
    groups.set(g.uuid, g);
    assert.equal(findOne("group", { ...s, groups }, "group2")?.uuid, U.group2);
    groups.delete(U.group2);
    assert.equal(findOne("group", { ...s, groups }, "group2"), undefined);
  });

  it("takes the first in nice order when a short name is ambiguous", () => {
    const s = makeSnapshot();
    const dup = { ...s.instances.get(U.inst1)!, uuid: "11111111-0000-4000-8000-000000000000", name: "inst1.other.test" };
    const instances = new Map(s.instances);
    instances.set(dup.uuid, dup);
    assert.equal(findOne("instance", { ...s, instances }, "inst1")?.name, "inst1.example.test");
  });

  it("adds secondary_ip to a single node", () => {
    const d = oneDict("node", snap, live, snap.nodes.get(U.node2)!);
    assert.equal(d["secondary_ip"], "127.0.0.3");
    assert.equal(Object.keys(d).length, 32);
  });
});

describe("cluster info", () => {
  it("has /2/info's 57 keys with Ganeti's JSON types (0005)", (t) => {
    const info = clusterInfo(snap);
    assert.equal(Object.keys(info).length, 57);
    assert.equal(info["master"], "node1.example.test");
    assert.deepEqual(info["architecture"]?.constructor, Array);
    const theirs = golden("0005-anon-info.json") as Dict | undefined;
    if (!theirs) return t.skip("golden captures not present");
    assertSameShape(info, theirs, "info");
    for (const k of ["software_version", "protocol_version", "config_version", "os_api_version", "export_version", "ipolicy"]) {
      assert.deepEqual(info[k], theirs[k], k);
    }
  });
});

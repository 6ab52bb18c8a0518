// Networks over RAPI: address pools, connections to node groups and the network jobs'
// results and errors, compared with the Ganeti 3.0.2 captures where they apply.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { AddressPool } from "../../src/model/addresspool.ts";
import type { Instance, Network } from "../../src/model/objects.ts";
import { call, runJob, suiteMaster } from "../support/cluster.ts";
import { golden, goldenJob, haveGolden } from "../support/golden.ts";

type Job = Record<string, unknown>;

describe("networks", () => {
  const m = suiteMaster();

  const submit = (method: string, path: string, body?: unknown): Promise<Job> => runJob(m.port, method, path, body);
  const network = (name: string): Network | undefined => [...m.t.master.store.snapshot().networks.values()].find((n) => n.name === name);
  const pool = (name: string) => new AddressPool(network(name) as Network);
  const defaultGroup = () => [...m.t.master.store.snapshot().groups.values()].find((g) => g.name === "default");
  const messages = (job: Job) => (job.oplog as [number, unknown, string, string][][])[0].map((e) => e[3]);
  const result = (job: Job) => (job.opresult as unknown[])[0];

  it("adds a network with its address pool, as Ganeti's capture shows it", async () => {
    const body = { network_name: "net1", network: "127.100.8.0/24", gateway: "127.100.8.1", mac_prefix: "aa:00:01", add_reserved_ips: ["127.100.8.5"], tags: ["golden"] };
    const job = await submit("POST", "/2/networks", body);
    assert.equal(job.status, "success", JSON.stringify(job.opresult));
    assert.deepEqual(job.summary, ["NETWORK_ADD(net1)"]);
    if (haveGolden) {
      assert.deepEqual(Object.keys((job.ops as Job[])[0]), Object.keys((goldenJob("0354-network-add-job.json").ops as Job[])[0]));
    }
    const net = network("net1") as Network;
    assert.deepEqual(
      [net.network, net.gateway, net.network6, net.gateway6, net.mac_prefix, net.tags],
      ["127.100.8.0/24", "127.100.8.1", null, null, "aa:00:01", ["golden"]],
    );
    const p = pool("net1");
    assert.deepEqual([p.freeCount(), p.reservedCount()], [252, 4]);
    assert.equal(p.externalReservations().join(", "), "127.100.8.0, 127.100.8.1, 127.100.8.5, 127.100.8.255");
    if (haveGolden) {
      const theirs = golden("0362-network-get.json").response.body_json as Record<string, unknown>;
      assert.equal(p.map(), theirs.map);
      assert.equal(p.externalReservations().join(", "), theirs.external_reservations);
    }
  });

  it("shows networks in lists, bulk and alone", async () => {
    await submit("POST", "/2/networks", { name: "net0", network: "127.100.7.0/24" });
    assert.deepEqual((await call(m.port, "GET", "/2/networks")).json, [
      { name: "net0", uri: "/2/networks/net0" }, { name: "net1", uri: "/2/networks/net1" },
    ]);
    const bulk = (await call(m.port, "GET", "/2/networks?bulk=1")).json as Job[];
    const one = (await call(m.port, "GET", "/2/networks/net1")).json as Job;
    assert.deepEqual(bulk[1], one);
    if (haveGolden) {
      const theirs = golden("0362-network-get.json").response.body_json as Job;
      const keep = ["name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count", "reserved_count", "map", "group_list", "inst_list", "external_reservations", "serial_no", "tags"];
      assert.deepEqual(Object.keys(one), Object.keys(theirs));
      assert.deepEqual(keep.map((k) => one[k]), keep.map((k) => theirs[k]));
      const missing = await call(m.port, "GET", "/2/networks/nosuchnet");
      assert.deepEqual([missing.status, missing.json], [404, golden("0058-404-unknown-network.json").response.body_json]);
    }
    await submit("DELETE", "/2/networks/net0");
  });

  it("adds under the legacy key `name`, checks a dry run, and refuses a bad subnet with 400", async () => {
    assert.equal((await submit("POST", "/2/networks", { name: "net2", network: "127.100.9.0/24" })).status, "success");
    assert.equal(network("net2")?.mac_prefix, null);
    const dry = await submit("POST", "/2/networks?dry-run=1", { network_name: "dry-net", network: "127.100.10.0/24" });
    assert.equal(dry.status, "success");
    assert.equal(network("dry-net"), undefined);
    if (haveGolden) {
      const ex = golden("0359-network-add-bad-cidr.json");
      const r = await call(m.port, "POST", "/2/networks", { user: "writer", rawBody: ex.request.body_raw ?? undefined });
      assert.equal(r.status, 400);
      assert.deepEqual(r.json, ex.response.body_json);
    }
    const nullTags = await call(m.port, "POST", "/2/networks", { user: "writer", body: { name: "n", network: "10.9.0.0/24", tags: null } });
    assert.equal(nullTags.status, 400, "tags must be a list, as in Ganeti");
  });

  it("refuses duplicate names, unusable subnets, bad MAC prefixes and outside gateways", async () => {
    const cases: [Record<string, unknown>, unknown][] = [
      [{ network_name: "net1", network: "10.1.0.0/24" },
        ["OpPrereqError", [`Desired network name 'net1' already exists as a network (UUID: ${network("net1")?.uuid})`, "already_exists"]]],
      [{ network_name: "huge", network: "10.0.0.0/8" },
        ["OpExecError", ["Cannot create IP address pool for network 'huge': A big network with 16777216 host(s) is currently not supported. please specify at most a /16 network"]]],
      [{ network_name: "tiny", network: "10.0.0.0/31" },
        ["OpExecError", ["Cannot create IP address pool for network 'tiny': A network with only 2 host(s) is too small, please specify at least a /30 network"]]],
      [{ network_name: "gw", network: "10.2.0.0/24", gateway: "10.3.0.1" },
        ["OpExecError", ["Cannot create IP address pool for network 'gw': 10.2.0.0/24 does not contain 10.3.0.1"]]],
      [{ network_name: "dup", network: "10.2.0.0/24", gateway: "10.2.0.1", add_reserved_ips: ["10.2.0.1"] },
        ["OpExecError", ["Cannot reserve IP address '10.2.0.1': IP 10.2.0.1 is already externally reserved"]]],
      [{ network_name: "mac", network: "10.2.0.0/24", mac_prefix: "aa:bb" }, ["OpPrereqError", ["Invalid MAC address prefix 'aa:bb'", "wrong_input"]]],
      [{ network_name: "tag", network: "10.2.0.0/24", tags: ["bad tag"] }, ["TagError", ["Tag contains invalid characters"]]],
    ];
    for (const [body, error] of cases) {
      const job = await submit("POST", "/2/networks", body);
      assert.deepEqual(result(job), error, JSON.stringify(body));
    }
  });

  it("reserves the nodes' and master's addresses when they fall in the network", async () => {
    const job = await submit("POST", "/2/networks", { network_name: "local", network: "127.0.0.0/24", mac_prefix: "AA:00:0F" });
    assert.equal(job.status, "success");
    assert.equal(network("local")?.mac_prefix, "aa:00:0f");
    assert.deepEqual(messages(job), [
      " - INFO: Reserved IP address of node 'node1.corral.test' (127.0.0.1)",
      " - WARNING: Cannot reserve IP address '127.0.0.1' of node 'node1.corral.test': IP 127.0.0.1 is already externally reserved",
      " - WARNING: Cannot reserve cluster master IP address (127.0.0.1): IP 127.0.0.1 is already externally reserved",
    ]);
    assert.equal(pool("local").isReserved("127.0.0.1", true), true);
    const unchecked = await submit("POST", "/2/networks", { network_name: "local2", network: "127.0.1.0/24", conflicts_check: false });
    assert.deepEqual(messages(unchecked), []);
  });

  it("changes the gateway or reservations, never both at once", async () => {
    let job = await submit("PUT", "/2/networks/net1/modify", { gateway: "127.100.8.254", add_reserved_ips: ["127.100.8.6"] });
    assert.deepEqual(job.opresult, [["OpPrereqError", ["Cannot modify gateway and reserved ips at once", "wrong_input"]]]);
    if (haveGolden) assert.deepEqual(job.opresult, goldenJob("0364-network-modify-gateway-and-ips-job.json").opresult);
    job = await submit("PUT", "/2/networks/net1/modify", { gateway: "127.100.8.254" });
    assert.equal(job.status, "success");
    job = await submit("PUT", "/2/networks/net1/modify", { add_reserved_ips: ["127.100.8.6", "127.100.8.7"] });
    assert.equal(job.status, "success");
    assert.equal(network("net1")?.gateway, "127.100.8.254");
    assert.equal(pool("net1").externalReservations().join(", "), "127.100.8.0, 127.100.8.5, 127.100.8.6, 127.100.8.7, 127.100.8.254, 127.100.8.255");
    if (haveGolden) {
      const theirs = golden("0371-network-get-connected.json").response.body_json as Record<string, unknown>;
      assert.equal(pool("net1").map(), theirs.map);
      assert.equal(pool("net1").freeCount(), theirs.free_count);
    }
  });

  it("warns about reservations it cannot change, and sets the other fields", async () => {
    const job = await submit("PUT", "/2/networks/net1/modify", {
      add_reserved_ips: ["127.100.8.6"],
      remove_reserved_ips: ["127.100.8.254", "127.100.8.9", "127.100.8.7"],
      mac_prefix: "AA:00:02",
      network6: "2001:db8::/64",
      gateway6: "2001:db8::1",
    });
    assert.equal(job.status, "success");
    assert.deepEqual(messages(job), [
      " - WARNING: Cannot reserve IP address 127.100.8.6: IP 127.100.8.6 is already externally reserved",
      " - WARNING: Cannot unreserve Gateway's IP",
      " - WARNING: Cannot release IP address 127.100.8.9: IP 127.100.8.9 is not externally reserved",
    ]);
    const net = network("net1") as Network;
    assert.deepEqual([net.mac_prefix, net.network6, net.gateway6], ["aa:00:02", "2001:db8::/64", "2001:db8::1"]);
    assert.equal(pool("net1").isReserved("127.100.8.7", true), false);
    const same = await submit("PUT", "/2/networks/net1/modify", { gateway: "127.100.8.254", mac_prefix: "none" });
    assert.deepEqual(messages(same), [" - WARNING: Gateway is already 127.100.8.254"]);
    assert.equal(network("net1")?.mac_prefix, null);
    const taken = await submit("PUT", "/2/networks/net1/modify", { gateway: "127.100.8.5" });
    assert.deepEqual(result(taken), ["AddressPoolError", ["IP 127.100.8.5 is already externally reserved"]]);
    const outside = await submit("PUT", "/2/networks/net1/modify", { gateway: "10.0.0.1" });
    assert.deepEqual(result(outside), ["AddressPoolError", ["127.100.8.0/24 does not contain 10.0.0.1"]]);
  });

  it("connects to a group; a connected network cannot be removed", async () => {
    let job = await submit("PUT", "/2/networks/net1/connect", { group_name: "default", network_mode: "routed", network_link: "lo" });
    assert.equal(job.status, "success");
    assert.deepEqual(defaultGroup()?.networks[network("net1")?.uuid ?? ""], { mode: "routed", link: "lo", vlan: "" });
    if (haveGolden) {
      assert.deepEqual(Object.keys((job.ops as Job[])[0]), Object.keys((goldenJob("0370-network-connect-job.json").ops as Job[])[0]));
    }
    job = await submit("PUT", "/2/networks/net1/connect", { group_name: "default", network_mode: "bridged", network_link: "br0" });
    assert.deepEqual(messages(job), [" - WARNING: Network 'net1' is already mapped to group 'default'"]);
    assert.equal(defaultGroup()?.networks[network("net1")?.uuid ?? ""].mode, "routed");

    job = await submit("DELETE", "/2/networks/net1");
    assert.deepEqual(job.opresult, [["OpPrereqError", ["Network still connected", "wrong_state"]]]);
    assert.deepEqual(messages(job), [" - WARNING: Network 'net1' is connected to the following node groups: default"]);
    if (haveGolden) {
      const theirs = goldenJob("0378-network-delete-connected-job.json");
      assert.deepEqual(job.opresult, theirs.opresult);
      assert.deepEqual(messages(job), (theirs.oplog as [unknown, unknown, unknown, string][][])[0].map((e) => e[3]));
    }
    const shown = (await call(m.port, "GET", "/2/networks/net1")).json as Job;
    assert.deepEqual(shown.group_list, [["default", "routed", "lo", ""]]);
    assert.deepEqual([shown.free_count, shown.reserved_count, shown.inst_list], [pool("net1").freeCount(), pool("net1").reservedCount(), []]);
    if (haveGolden) {
      const theirs = golden("0371-network-get-connected.json").response.body_json as Job;
      assert.deepEqual(Object.keys(shown), Object.keys(theirs));
      assert.deepEqual(shown.group_list, theirs.group_list);
    }
    const unknownGroup = await submit("PUT", "/2/networks/net1/connect", { group_name: "nosuch", network_mode: "routed", network_link: "lo" });
    assert.deepEqual(result(unknownGroup), ["OpPrereqError", ["Node group 'nosuch' not found", "unknown_entity"]]);
    const badMode = await call(m.port, "PUT", "/2/networks/net1/connect", { user: "writer", body: { group_name: "default", network_mode: "nat", network_link: "lo" } });
    assert.equal(badMode.status, 400);
  });

  it("refuses to connect or disconnect while instances use the network's addresses", async () => {
    const snap = m.t.master.store.snapshot();
    const node = [...snap.nodes.values()][0];
    const inst: Instance = {
      uuid: randomUUID(), serial_no: 1, ctime: 0, mtime: 0, tags: [],
      name: "inst1.corral.test", primary_node: node.uuid, secondary_nodes: [], os: "noop", hypervisor: "fake",
      hvparams: {}, beparams: {}, osparams: {}, osparams_private: {}, admin_state: "down", admin_state_source: "admin",
      disk_template: "diskless", disks: [], network_port: null, disks_active: false,
      nics: [
        { uuid: randomUUID(), name: null, mac: "aa:00:02:00:00:01", ip: "127.100.9.20", network: null, nicparams: {} },
        { uuid: randomUUID(), name: null, mac: "aa:00:02:00:00:02", ip: "127.100.8.20", network: network("net1")?.uuid ?? null, nicparams: {} },
      ],
    };
    await m.t.master.store.transact((tx) => void tx.add("instance", inst));
    try {
      const refused = await submit("PUT", "/2/networks/net2/connect", { group_name: "default", network_mode: "bridged", network_link: "br0" });
      assert.deepEqual(result(refused), ["OpPrereqError", ["Conflicting IP addresses found;  remove/modify the corresponding network interfaces", "wrong_state"]]);
      assert.deepEqual(messages(refused), [" - WARNING: IP addresses from network 'net2', which is about to connect to node group 'default', are in use: inst1.corral.test: nic0/127.100.9.20"]);
      const unchecked = await submit("PUT", "/2/networks/net2/connect", { group_name: "default", network_mode: "bridged", network_link: "br0", conflicts_check: false });
      assert.equal(unchecked.status, "success");
      const inUse = await submit("PUT", "/2/networks/net1/disconnect", { group_name: "default" });
      assert.deepEqual(messages(inUse), [" - WARNING: IP addresses from network 'net1', which is about to disconnect from node group 'default', are in use: inst1.corral.test: nic1/127.100.8.20"]);
    } finally {
      await m.t.master.store.transact((tx) => tx.remove("instance", inst.uuid));
    }
    assert.equal((await submit("PUT", "/2/networks/net2/disconnect", { group_name: "default" })).status, "success");
  });

  it("disconnects, renames and removes", async () => {
    let job = await submit("PUT", "/2/networks/net1/disconnect", { group_name: "default" });
    assert.equal(job.status, "success");
    assert.deepEqual(defaultGroup()?.networks, {});
    job = await submit("PUT", "/2/networks/net1/disconnect", { group_name: "default" });
    assert.deepEqual(messages(job), [" - WARNING: Network 'net1' is not mapped to group 'default'"]);

    job = await submit("PUT", "/2/networks/net1/rename", { new_name: "net2" });
    assert.deepEqual(result(job), ["OpPrereqError", [`Desired new name 'net2' clashes with existing network (UUID: ${network("net2")?.uuid})`, "already_exists"]]);
    job = await submit("PUT", "/2/networks/net1/rename", { new_name: "renamed" });
    assert.deepEqual(job.opresult, ["renamed"]);
    assert.ok(network("renamed"));

    job = await submit("DELETE", "/2/networks/renamed?dry-run=1");
    assert.equal(job.status, "success");
    assert.ok(network("renamed"));
    job = await submit("DELETE", "/2/networks/renamed");
    assert.deepEqual(job.opresult, [null]);
    assert.equal(network("renamed"), undefined);
    job = await submit("DELETE", "/2/networks/renamed");
    assert.deepEqual(job.opresult, [["OpPrereqError", ["Network 'renamed' not found", "unknown_entity"]]]);
  });
});

// /api/v1/network: bridged and managed networks as Corral networks, static leases, ACLs;
// the node's rendered dnsmasq and nftables configuration follows every change.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { call } from "../support/cluster.ts";
import { msg, startPvcMaster, type PvcTestMaster } from "./support.ts";

let m: PvcTestMaster;
const netDir = () => join(m.dataDir, "node", "network");

before(async () => {
  m = await startPvcMaster();
});
after(() => m.close());

test("POST /network adds managed and bridged networks, visible over RAPI", async () => {
  const r = await m.pvc.post("/network", {
    vni: "100", description: "cust1", nettype: "managed", domain: "cust1.example.com",
    ip4_network: "10.100.0.0/24", ip4_gateway: "10.100.0.1", ip6_network: "fd00:100::/64",
    dhcp4: "", dhcp4_start: "10.100.0.100", dhcp4_end: "10.100.0.199",
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(msg(r), "Network 'cust1' added successfully!");
  assert.equal(msg(await m.pvc.post("/network", { vni: "200", description: "vlan200", nettype: "bridged" })), "Network 'vlan200' added successfully!");
  const rapi = (await call(m.master.port, "GET", "/2/networks/cust1")).json as Record<string, unknown>;
  assert.equal(rapi.network, "10.100.0.0/24");
  assert.equal(rapi.gateway, "10.100.0.1");
  assert.equal(rapi.network6, "fd00:100::/64");
});

test("GET /network and /network/<vni-or-description> in PVC's shape", async () => {
  const all = (await m.pvc.get("/network")).json as Record<string, unknown>[];
  assert.deepEqual(all.map((n) => n.vni), ["100", "200"]);
  for (const key of ["100", "cust1"]) {
    const [n] = (await m.pvc.get(`/network/${key}`)).json as Record<string, unknown>[];
    assert.deepEqual(n, {
      vni: "100", description: "cust1", type: "managed", domain: "cust1.example.com",
      ip4: { network: "10.100.0.0/24", gateway: "10.100.0.1", dhcp_flag: "True", dhcp_start: "10.100.0.100", dhcp_end: "10.100.0.199" },
      ip6: { network: "fd00:100::/64", gateway: "fd00:100::1", dhcp_flag: "True" },
    });
  }
  assert.deepEqual(((await m.pvc.get("/network", { limit: "vlan" })).json as { vni: string }[]).map((n) => n.vni), ["200"]);
  const none = await m.pvc.get("/network/999");
  assert.equal(none.status, 404);
  assert.equal(msg(none), "Network not found.");
});

test("bad network definitions answer 400 and add nothing", async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ description: "x", nettype: "managed" }, /^ERROR: A VNI must be specified/],
    [{ vni: "300", nettype: "managed" }, /^ERROR: A description must be specified/],
    [{ vni: "300", description: "x" }, /^ERROR: A nettype must be specified/],
    [{ vni: "300", description: "x", nettype: "routed" }, /^ERROR: A valid nettype must be specified/],
    [{ vni: "100", description: "x", nettype: "managed" }, /^ERROR: A network with VNI '100' already exists!$/],
    [{ vni: "300", description: "cust1", nettype: "managed" }, /^ERROR: A network with description 'cust1' already exists!$/],
    [{ vni: "300", description: "has space", nettype: "managed" }, /not valid/],
    [{ vni: "300", description: "x", nettype: "managed", ip4_network: "10.3.0.0/24" }, /IPv4 gateway/],
    [{ vni: "300", description: "x", nettype: "managed", ip4_network: "10.3.0.0/24", ip4_gateway: "10.4.0.1" }, /IPv4 gateway/],
    [{ vni: "300", description: "x", nettype: "managed", ip4_network: "10.3.0.0/24", ip4_gateway: "10.3.0.1", dhcp4: "1" }, /DHCPv4 start and end addresses are required/],
    [{ vni: "300", description: "x", nettype: "managed", ip4_network: "10.3.0/24", ip4_gateway: "10.3.0.1" }, /not a valid CIDR/],
  ];
  for (const [form, re] of cases) {
    const r = await m.pvc.post("/network", form);
    assert.equal(r.status, 400, JSON.stringify(form));
    assert.match(msg(r), re, JSON.stringify(form));
  }
  assert.equal((await m.pvc.get("/network/300")).status, 404);
});

test("PUT /network/<n> changes only the given values", async () => {
  const r = await m.pvc.put("/network/cust1", { dhcp4_end: "10.100.0.150", domain: "c1.example.com" });
  assert.equal(r.status, 200, r.text);
  const [n] = (await m.pvc.get("/network/100")).json as { domain: string; ip4: Record<string, string> }[];
  assert.equal(n.domain, "c1.example.com");
  assert.equal(n.ip4.dhcp_end, "10.100.0.150");
  assert.equal(n.ip4.dhcp_start, "10.100.0.100");
  const bad = await m.pvc.put("/network/cust1", { dhcp4_start: "10.200.0.1" });
  assert.equal(bad.status, 400);
  assert.equal((await m.pvc.put("/network/nope", { domain: "x" })).status, 400);
});

test("static leases: add, list, get, delete; dnsmasq's hosts file follows", async () => {
  const add = await m.pvc.post("/network/100/lease", { macaddress: "52:54:00:AB:CD:01", ipaddress: "10.100.0.10", hostname: "db1" });
  assert.equal(add.status, 200, add.text);
  assert.equal(msg(add), "DHCP reservation '52:54:00:ab:cd:01' added successfully!");
  const leases = (await m.pvc.get("/network/100/lease", { static: "" })).json;
  assert.deepEqual(leases, [{ hostname: "db1", ip4_address: "10.100.0.10", mac_address: "52:54:00:ab:cd:01", timestamp: "static" }]);
  assert.deepEqual((await m.pvc.get("/network/100/lease/52:54:00:ab:cd:01")).json, leases);
  assert.deepEqual((await m.pvc.get("/network/100/dhcp/52:54:00:ab:cd:01")).json, leases);
  assert.equal((await m.pvc.get("/network/100/lease", { limit: "ff$" })).status, 404);
  assert.match(readFileSync(join(netDir(), "dnsmasq", "100", "hosts"), "utf8"), /^52:54:00:ab:cd:01,10\.100\.0\.10,db1$/m);

  const failures: [Record<string, string>, RegExp][] = [
    [{ ipaddress: "10.100.0.11" }, /MAC address must be specified/],
    [{ macaddress: "52:54:00:ab:cd:02" }, /IPv4 address must be specified/],
    [{ macaddress: "52-54-00-ab-cd-02", ipaddress: "10.100.0.11" }, /MAC address .* is not valid/],
    [{ macaddress: "52:54:00:ab:cd:02", ipaddress: "10.9.0.11" }, /not in network/],
    [{ macaddress: "52:54:00:ab:cd:01", ipaddress: "10.100.0.12" }, /already exists/],
  ];
  for (const [form, re] of failures) {
    const r = await m.pvc.post("/network/100/lease", form);
    assert.equal(r.status, 400, JSON.stringify(form));
    assert.match(msg(r), re);
  }
  assert.equal((await m.pvc.post("/network/200/lease", { macaddress: "52:54:00:ab:cd:02", ipaddress: "10.100.0.11" })).status, 400);

  const del = await m.pvc.del("/network/100/lease/db1");
  assert.equal(msg(del), "DHCP reservation '52:54:00:ab:cd:01' removed successfully!");
  assert.equal((await m.pvc.get("/network/100/lease", { static: "1" })).status, 404);
  assert.equal((await m.pvc.del("/network/100/lease/52:54:00:ab:cd:01")).status, 400);
});

test("ACLs: ordered per direction, renumbered on insert and delete, rendered into nftables", async () => {
  const add = (description: string, direction: string, rule: string, order?: string) =>
    m.pvc.post("/network/100/acl", { description, direction, rule, ...(order === undefined ? {} : { order }) });
  assert.equal(msg(await add("ssh", "in", "tcp dport 22 accept")), "Firewall rule 'ssh' added successfully!");
  assert.equal((await add("web", "in", "tcp dport { 80, 443 } accept")).status, 200);
  assert.equal((await add("first", "in", "ip saddr 10.0.0.0/8 accept", "0")).status, 200);
  assert.equal((await add("all-out", "out", "accept")).status, 200);
  const list = (await m.pvc.get("/network/100/acl", { direction: "in" })).json as Record<string, unknown>[];
  assert.deepEqual(list.map((a) => [a.description, a.order]), [["first", 0], ["ssh", 1], ["web", 2]]);
  assert.deepEqual((await m.pvc.get("/network/100/acl/ssh")).json, [{ description: "ssh", direction: "in", order: 1, rule: "tcp dport 22 accept" }]);
  assert.deepEqual((await m.pvc.get("/network/100/acl/nosuch")).json, []);
  assert.deepEqual(((await m.pvc.get("/network/100/acl", { limit: "out" })).json as { description: string }[]).map((a) => a.description), ["all-out"]);
  assert.equal((await m.pvc.get("/network/100/acl", { direction: "sideways" })).status, 400);

  const nft = readFileSync(join(netDir(), "nftables.conf"), "utf8");
  assert.match(nft, /chain vxlan100-in \{[^}]*counter ip saddr 10\.0\.0\.0\/8 accept comment "first"\n\t\tcounter tcp dport 22 accept comment "ssh"/);
  assert.match(nft, /oifname "vmbr100" counter jump vxlan100-in/);

  const failures: [Record<string, string>, RegExp][] = [
    [{ direction: "in", rule: "accept" }, /'description' must be specified/],
    [{ description: "x", rule: "accept" }, /'direction' must be specified/],
    [{ description: "x", direction: "up", rule: "accept" }, /'direction' must be one of/],
    [{ description: "x", direction: "in" }, /'rule' must be specified/],
    [{ description: "ssh", direction: "in", rule: "accept" }, /A rule with description 'ssh' already exists!/],
    [{ description: "x", direction: "in", rule: "accept; flush ruleset" }, /one nftables statement/],
    [{ description: "x", direction: "in", rule: "accept", order: "first" }, /not a whole number/],
  ];
  for (const [form, re] of failures) {
    const r = await m.pvc.post("/network/100/acl", form);
    assert.equal(r.status, 400, JSON.stringify(form));
    assert.match(msg(r), re);
  }
  if (existsSync("/usr/sbin/nft")) {
    const invalid = await add("bogus", "in", "tcp dport banana accept");
    assert.equal(invalid.status, 400);
    assert.match(msg(invalid), /nftables refused the rule/);
  }
  assert.equal((await m.pvc.post("/network/200/acl", { description: "x", direction: "in", rule: "accept" })).status, 400);

  assert.equal(msg(await m.pvc.del("/network/100/acl/first", { direction: "in" })), "Firewall rule 'first' removed successfully!");
  assert.equal(msg(await m.pvc.del("/network/100/acl/all-out")), "Firewall rule 'all-out' removed successfully!");
  assert.deepEqual(((await m.pvc.get("/network/100/acl")).json as Record<string, unknown>[]).map((a) => [a.description, a.order]), [["ssh", 0], ["web", 1]]);
  assert.equal((await m.pvc.del("/network/100/acl/ssh", { direction: "out" })).status, 400);
});

test("the master node renders dnsmasq for managed networks with DHCP", async () => {
  const conf = readFileSync(join(netDir(), "dnsmasq", "100", "dnsmasq.conf"), "utf8");
  assert.match(conf, /^interface=vmbr100$/m);
  assert.match(conf, /^dhcp-range=set:net100,10\.100\.0\.100,10\.100\.0\.150,255\.255\.255\.0,12h$/m);
  assert.match(conf, /^domain=c1\.example\.com$/m);
  assert.ok(!existsSync(join(netDir(), "dnsmasq", "200")), "a bridged network has no dnsmasq");
});

test("DELETE /network/<n> removes it unless a VM uses it", async () => {
  assert.equal(msg(await m.pvc.del("/network/vlan200")), "Network 'vlan200' removed successfully!");
  assert.equal((await m.pvc.get("/network/200")).status, 404);
  assert.equal(msg(await m.pvc.del("/network/200")), "ERROR: Network '200' does not exist!");
  assert.equal(msg(await m.pvc.del("/network/cust1")), "Network 'cust1' removed successfully!");
  assert.ok(!existsSync(join(netDir(), "dnsmasq", "100")));
  assert.equal((await m.pvc.get("/network")).status, 404);
});

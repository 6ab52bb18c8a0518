// Managed-network configuration on a node: rendered, checked by the tools, and (as root,
// with ip/nft/dnsmasq installed) applied inside a network namespace made for the test,
// never in the machine's own.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetConfigSpec } from "../../model/pvc-node.ts";
import { NetworkConfigurator, parseLeaseFile } from "./apply.ts";
import { renderDnsmasq, renderNftables } from "./render.ts";
import { requireTools } from "../../../test/support/tools.ts";

const NET: NetConfigSpec = {
  vni: 4242,
  name: "cust42",
  type: "managed",
  domain: "cust42.local",
  ip4_network: "10.42.0.0/24",
  ip4_gateway: "10.42.0.1",
  ip6_network: null,
  ip6_gateway: null,
  dhcp4: { start: "10.42.0.100", end: "10.42.0.150" },
  reservations: [{ mac: "52:54:00:00:42:01", ip: "10.42.0.10", hostname: "db" }],
  acls: { in: [{ description: "ssh", rule: "tcp dport 22 accept" }], out: [] },
};

// Real tools: skipped when missing outside CI, a failure with CI=true (test/support/tools.ts).
const checking = requireTools({ tools: ["nft", "dnsmasq"] });
const applying = requireTools({ tools: ["ip", "nft", "dnsmasq"], root: true });

test("rendering: one nftables table with per-network chains; dnsmasq per network", () => {
  const nft = renderNftables([NET, { ...NET, vni: 7, name: "br", type: "bridged" }]);
  assert.match(nft, /table inet corral_pvc \{/);
  assert.match(nft, /chain vxlan4242-in \{[^}]*counter tcp dport 22 accept comment "ssh"/);
  assert.doesNotMatch(nft, /vxlan7-/, "bridged networks get no chains");
  const { conf, hosts } = renderDnsmasq(NET, "/run/x");
  assert.match(conf, /^dhcp-range=set:net4242,10\.42\.0\.100,10\.42\.0\.150,255\.255\.255\.0,12h$/m);
  assert.match(conf, /^listen-address=10\.42\.0\.1$/m);
  assert.equal(hosts, "52:54:00:00:42:01,10.42.0.10,db\n");
});

test("dnsmasq's lease file is read as PVC's leases", () => {
  const leases = parseLeaseFile("1735689600 52:54:00:AA:BB:CC 10.42.0.101 vm1 01:52:54:00:aa:bb:cc\n0 52:54:00:aa:bb:cd 10.42.0.102 * *\n");
  assert.deepEqual(leases, [
    { mac: "52:54:00:aa:bb:cc", ip: "10.42.0.101", hostname: "vm1", expiry: 1735689600, client_id: "01:52:54:00:aa:bb:cc" },
    { mac: "52:54:00:aa:bb:cd", ip: "10.42.0.102", hostname: "", expiry: 0, client_id: "" },
  ]);
});

checking.test("check only: the tools validate; a bad rule is reported, nothing is written for real", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-net-"));
  try {
    const c = new NetworkConfigurator({ dir });
    const good = await c.configure({ networks: [NET], gateway: true, check_only: true });
    assert.equal(good.nftables.status, "validated", good.nftables.detail);
    assert.equal(good.dnsmasq.status, "validated", good.dnsmasq.detail);
    const bad = await c.configure({ networks: [{ ...NET, acls: { in: [{ description: "x", rule: "tcp dport banana accept" }], out: [] } }], gateway: false, check_only: true });
    assert.equal(bad.nftables.status, "failed");
    assert.ok(!existsSync(join(dir, "nftables.conf")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

applying.test("applied in a network namespace: nftables loaded, bridge with gateway, dnsmasq serving", async () => {
  const ns = `corral-test-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "corral-net-"));
  execFileSync(applying.path("ip"), ["netns", "add", ns]);
  const c = new NetworkConfigurator({ dir, apply: true, netns: ns });
  try {
    const r = await c.configure({ networks: [NET], gateway: true });
    assert.equal(r.nftables.status, "applied", r.nftables.detail);
    assert.equal(r.dnsmasq.status, "applied", r.dnsmasq.detail);
    const ruleset = execFileSync(applying.path("ip"), ["netns", "exec", ns, "nft", "list", "table", "inet", "corral_pvc"], { encoding: "utf8" });
    assert.match(ruleset, /tcp dport 22 accept comment "ssh"/);
    const addr = execFileSync(applying.path("ip"), ["netns", "exec", ns, "ip", "-4", "addr", "show", "vmbr4242"], { encoding: "utf8" });
    assert.match(addr, /inet 10\.42\.0\.1\/24/);
    const pid = Number(readFileSync(join(dir, "dnsmasq", "4242", "dnsmasq.pid"), "utf8").trim());
    assert.ok(existsSync(`/proc/${pid}`), "dnsmasq runs");
    // The same network again, with a new reservation: dnsmasq restarts on the new hosts file.
    const again = await c.configure({ networks: [{ ...NET, reservations: [...NET.reservations, { mac: "52:54:00:00:42:02", ip: "10.42.0.11", hostname: "web" }] }], gateway: true });
    assert.equal(again.dnsmasq.status, "applied");
    assert.match(readFileSync(join(dir, "dnsmasq", "4242", "hosts"), "utf8"), /10\.42\.0\.11,web/);
    // The network goes away: its dnsmasq stops.
    const gone = await c.configure({ networks: [], gateway: true });
    assert.equal(gone.nftables.status, "applied");
    assert.ok(!existsSync(join(dir, "dnsmasq", "4242")));
  } finally {
    await c.stopAll();
    execFileSync(applying.path("ip"), ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
});

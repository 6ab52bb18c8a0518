// Applying PVC managed networks is the operator's choice: off by default (agents render and
// check), on with the master's pvcApplyNetworks (`corral master --pvc-apply-networks`) for its
// own agent and `corral node-agent --pvc-apply-networks` for the others. Nothing here
// applies anything to this machine's own network: the applying test works in a network
// namespace made for it (as src/node/network/apply.test.ts does), and the command-line
// test names a namespace that does not exist and never configures a network.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { clusterCertPaths, ensureClusterCert } from "../../src/master/nodes.ts";
import { startTestMaster } from "../support/cluster.ts";
import { requireTools } from "../support/tools.ts";
import { msg, startPvcMaster } from "./support.ts";

const CORRAL = fileURLToPath(new URL("../../bin/corral", import.meta.url));
const applying = requireTools({ tools: ["ip", "nft", "dnsmasq"], root: true });

test("off by default; the master's options reach its own agent", async () => {
  const plain = await startTestMaster();
  try {
    assert.deepEqual(plain.master.connections.localAgent.networkApply, { apply: false });
  } finally {
    await plain.close();
  }
  const lines: string[] = [];
  const applying = await startTestMaster({ pvcApplyNetworks: true, pvcNetworksNetns: "corral-absent", log: (l) => lines.push(l) });
  try {
    assert.deepEqual(applying.master.connections.localAgent.networkApply, { apply: true, netns: "corral-absent" });
    assert.ok(lines.includes("PVC managed networks are applied on this node in network namespace corral-absent"), lines.join("\n"));
  } finally {
    await applying.close();
  }
});

applying.test("with applying on, a managed network is loaded: nftables, bridge and dnsmasq, in the namespace", async () => {
  const ns = `corral-pvc-${process.pid}`;
  const vni = 4700 + (process.pid % 100);
  execFileSync(applying.path("ip"), ["netns", "add", ns]);
  const m = await startPvcMaster(undefined, { pvcApplyNetworks: true, pvcNetworksNetns: ns });
  const agent = m.master.connections.localAgent;
  try {
    // Only with the namespace in place does anything get applied.
    assert.deepEqual(agent.networkApply, { apply: true, netns: ns });
    const r = await m.pvc.post("/network", {
      vni: String(vni), description: "applied", nettype: "managed", domain: "applied.example.com",
      ip4_network: "10.47.0.0/24", ip4_gateway: "10.47.0.1", dhcp4: "", dhcp4_start: "10.47.0.100", dhcp4_end: "10.47.0.199",
    });
    assert.equal(msg(r), "Network 'applied' added successfully!");
    const inNs = (...args: string[]) => execFileSync(applying.path("ip"), ["netns", "exec", ns, ...args], { encoding: "utf8" });
    assert.match(inNs("nft", "list", "table", "inet", "corral_pvc"), new RegExp(`chain vxlan${vni}-in`));
    assert.match(inNs("ip", "-4", "addr", "show", `vmbr${vni}`), /inet 10\.47\.0\.1\/24/);
    const pid = Number(readFileSync(join(m.dataDir, "node", "network", "dnsmasq", String(vni), "dnsmasq.pid"), "utf8").trim());
    assert.ok(existsSync(`/proc/${pid}`), "dnsmasq runs");
    assert.throws(() => execFileSync(applying.path("ip"), ["link", "show", `vmbr${vni}`], { stdio: "ignore" }), "no bridge in the machine's own namespace");
  } finally {
    await agent.networks.stopAll();
    await m.close();
    execFileSync(applying.path("ip"), ["netns", "del", ns]);
  }
});

test("corral node-agent takes the same flags and says what it will apply", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-agent-net-"));
  try {
    await ensureClusterCert(dir, "cluster.corral.test");
    const { cert, key } = clusterCertPaths(dir);
    const args = ["node-agent", "--bind", "127.0.0.1", "--port", "0", "--state-dir", join(dir, "state"), "--node-name", "node9.corral.test",
      "--cluster-cert", cert, "--cluster-key", key, "--pvc-apply-networks", "--pvc-networks-netns", "corral-absent"];
    const child = spawn(CORRAL, args, { stdio: ["ignore", "ignore", "pipe"] });
    let seen = "";
    const said = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no word from the agent: ${seen}`)), 30_000);
      child.stderr!.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        if (/PVC managed networks/.test(seen) && seen.endsWith("\n")) {
          clearTimeout(timer);
          resolve(seen);
        }
      });
      child.on("exit", (code) => reject(new Error(`the agent exited with ${code}: ${seen}`)));
    });
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
    assert.match(said, /node agent for node9\.corral\.test listening on https:\/\/127\.0\.0\.1:\d+/);
    assert.match(said, /PVC managed networks are applied in network namespace corral-absent\n/);

    const alone = spawn(CORRAL, ["node-agent", "--state-dir", join(dir, "state"), "--pvc-networks-netns", "x"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    alone.stderr!.on("data", (c: Buffer) => void (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => alone.on("exit", resolve));
    assert.notEqual(code, 0);
    assert.match(err, /--pvc-networks-netns needs --pvc-apply-networks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

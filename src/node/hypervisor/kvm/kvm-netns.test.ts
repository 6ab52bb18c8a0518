// kvm NICs for real: tap devices on a bridge, inside a network namespace this test creates and
// removes (root only), so nothing touches the machine's own network.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { requireTools } from "../../../../test/support/tools.ts";
import { instanceSpec } from "../../testkit.ts";
import { KvmHypervisor } from "./kvm.ts";
import { instanceFiles } from "./process.ts";

// busybox (a test-guest build dependency) brings ping, which Debian images often lack.
const tools = requireTools({ tools: ["qemu-system-x86_64", "ip", "busybox"], root: true });
const netns = `ckvm${process.pid}`;

function ip(...args: string[]): string {
  return execFileSync(tools.path("ip"), args, { encoding: "utf8" });
}

async function consoleHas(file: string, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(await readFile(file, "utf8").catch(() => ""))) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in ${file} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

tools.describe("kvm NICs on a bridge in a test network namespace", () => {
  let root: string;
  let hv: KvmHypervisor;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ckvmn-"));
    ip("netns", "add", netns);
    ip("-n", netns, "link", "add", "br0", "type", "bridge");
    ip("-n", netns, "addr", "add", "10.213.90.1/24", "dev", "br0");
    ip("-n", netns, "link", "set", "br0", "up");
    hv = new KvmHypervisor({ stateDir: join(root, "kvm"), defaultAccelerator: "tcg", netns });
  });

  after(async () => {
    for (const vm of await hv.listInstances().catch(() => [])) await hv.stop(vm.name, true).catch(() => undefined);
    await hv.close();
    ip("netns", "del", netns);
    await rm(root, { recursive: true, force: true });
  });

  tools.test("a bridged NIC answers ping, a hotplugged NIC appears and goes, the taps go with the VM", async () => {
    const guest = execFileSync(join(import.meta.dirname, "../../../../scripts/test-guest.sh"), { encoding: "utf8" }).trim();
    const nic = (n: number) => ({ uuid: `nic-${n}`, name: null, mac: `52:54:00:12:34:${n}0`, ip: null, network: null, nicparams: { mode: "bridged", link: "br0" } });
    const name = "vm-net";
    const instance = instanceSpec({
      name, hypervisor: "kvm", disks: [], nics: [nic(1)], network_port: null,
      hvparams: {
        kvm_path: tools.path("qemu-system-x86_64"), kernel_path: join(guest, "vmlinuz"), initrd_path: join(guest, "initramfs.cpio.gz"),
        kernel_args: "quiet corral.ip=10.213.90.2/24", root_path: "", serial_console: true, nic_type: "paravirtual",
      },
      beparams: { maxmem: 128, minmem: 128, vcpus: 1 },
    });
    await hv.start({ instance, memory: 128, vcpus: 1, disks: [], paused: false });
    const files = instanceFiles(join(root, "kvm"), name);
    await consoleHas(files.console, /CORRAL_READY/, 60_000);
    assert.match(await readFile(files.console, "utf8"), /CORRAL_NET eth0 ip=10\.213\.90\.2\/24/);
    const taps = () => ip("-n", netns, "-o", "link", "show", "master", "br0").split("\n").filter((l) => l.trim() !== "").length;
    assert.equal(taps(), 1);
    execFileSync(tools.path("ip"), ["netns", "exec", netns, tools.path("busybox"), "ping", "-c", "1", "-W", "5", "10.213.90.2"]);

    await hv.hotplugNic(name, "add", 1, nic(2));
    await consoleHas(files.console, /CORRAL_NIC_ADDED eth1 mac=52:54:00:12:34:20/, 10_000);
    assert.equal(taps(), 2);
    await hv.hotplugNic(name, "remove", 1, nic(2));
    await consoleHas(files.console, /CORRAL_NIC_REMOVED eth1/, 10_000);
    assert.equal(taps(), 1);

    await hv.stop(name, true);
    assert.equal(await hv.instanceInfo(name), null);
    assert.equal(taps(), 0);
  });

  tools.test("openvswitch NICs are refused before anything starts", async () => {
    const instance = instanceSpec({ name: "vm-ovs", hypervisor: "kvm", disks: [], nics: [{ uuid: "n", name: null, mac: "52:54:00:00:00:01", ip: null, network: null, nicparams: { mode: "openvswitch", link: "ovs0" } }], hvparams: { kvm_path: tools.path("qemu-system-x86_64"), kernel_path: "" } });
    await assert.rejects(hv.start({ instance, memory: 64, vcpus: 1, disks: [], paused: false }), /NIC mode 'openvswitch' is not implemented/);
    assert.equal(await hv.instanceInfo("vm-ovs"), null);
  });
});

// A PVC VM defined from a libvirt domain XML like `virsh dumpxml` gives really boots: a master
// with the PVC API whose node runs QEMU (TCG) inside a test network namespace with a bridge
// br0; the XML boots the test guest's kernel with a raw file disk (made by qemu-img in the
// cluster's file storage dir, adopted in place), a virtio NIC on br0, a serial console and VNC.
// Started, shut down over ACPI, started again, stopped and undefined through the PVC API, with
// RAPI's and the host's view checked at each step.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { readPid } from "../../src/node/hypervisor/kvm/process.ts";
import { call } from "../support/cluster.ts";
import { consoleMarker, startKvmCluster, BOOT_MS, type KvmCluster } from "../support/kvm.ts";
import { requireTestGuest } from "../support/test-guest.ts";
import { allOf, requireTools } from "../support/tools.ts";
import { msg, PvcClient, pvcYaml } from "../pvc/support.ts";

const needs = await requireTestGuest();
const net = requireTools({ tools: ["ip", "python3"], root: true });

const VM = "pvc-boot1";
const UUID = "7c0f3e52-9a41-4d7e-8b7a-3f1d2c5e7a01";
const MAC = "52:54:00:79:00:01";

/** libvirt writes the versioned machine its QEMU's `pc` stands for (pc-i440fx-7.2 on Debian 12). */
function versionedPc(qemu: string): string {
  const help = execFileSync(qemu, ["-machine", "help"]).toString();
  const m = /^pc\s.*\(alias of (pc-i440fx-\d+\.\d+)\)/m.exec(help);
  assert.ok(m, `no versioned pc machine in ${help}`);
  return m[1];
}

/** What `virsh dumpxml` shows for such a guest, with what libvirt adds that Corral does not map. */
function domainXml(o: { machine: string; kernel: string; initrd: string; disk: string }): string {
  return `<domain type="kvm">
  <name>${VM}</name>
  <uuid>${UUID}</uuid>
  <description>booted by the PVC end-to-end test</description>
  <memory unit="KiB">262144</memory>
  <currentMemory unit="KiB">262144</currentMemory>
  <vcpu placement="static">1</vcpu>
  <resource><partition>/machine</partition></resource>
  <os>
    <type arch="x86_64" machine="${o.machine}">hvm</type>
    <kernel>${o.kernel}</kernel>
    <initrd>${o.initrd}</initrd>
    <cmdline>console=ttyS0 quiet corral.ip=10.79.0.1/24</cmdline>
    <boot dev="hd"/>
  </os>
  <features><acpi/><apic/></features>
  <clock offset="utc"/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="raw" cache="none" io="native" discard="unmap"/>
      <source file="${o.disk}"/>
      <target dev="vda" bus="virtio"/>
    </disk>
    <controller type="pci" index="0" model="pci-root"/>
    <interface type="bridge">
      <mac address="${MAC}"/>
      <source bridge="br0"/>
      <model type="virtio"/>
    </interface>
    <serial type="pty"><target type="isa-serial" port="0"><model name="isa-serial"/></target></serial>
    <console type="pty"><target type="serial" port="0"/></console>
    <input type="tablet" bus="usb"/>
    <input type="mouse" bus="ps2"/>
    <input type="keyboard" bus="ps2"/>
    <graphics type="vnc" port="-1" autoport="yes" listen="127.0.0.1"><listen type="address" address="127.0.0.1"/></graphics>
    <video><model type="vga" vram="16384" heads="1" primary="yes"/></video>
    <memballoon model="virtio"/>
  </devices>
</domain>
`;
}

allOf(needs, net).describe("a PVC VM from libvirt XML boots under kvm", () => {
  let c: KvmCluster;
  let pvc: PvcClient;
  let disk = "";
  let machine = "";
  const consoleLog = () => c.files(VM).console;
  const rapi = async () => (await call(c.port, "GET", `/2/instances/${VM}`)).json as Record<string, unknown>;
  const vm = async () => ((await pvc.get(`/vm/${VM}`)).json as Record<string, unknown>[])[0];
  const setState = async (state: string, answer: string) => {
    const r = await pvc.post(`/vm/${VM}/state`, { state });
    assert.equal(r.status, 200, r.text);
    assert.equal(msg(r), answer);
  };
  /** Waits until PVC and RAPI both see the VM in these states; the time it took. */
  const until = async (pvcState: string, status: string, withinMs: number) => {
    const t0 = Date.now();
    for (;;) {
      const [p, g] = [(await vm()).state, (await rapi()).status];
      if (p === pvcState && g === status) return Date.now() - t0;
      if (Date.now() - t0 > withinMs) assert.fail(`${VM}: PVC state ${String(p)}, RAPI status ${String(g)} after ${withinMs} ms (want ${pvcState}, ${status})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const tapsOnBridge = () => c.ip("-n", c.netns, "-o", "link", "show").split("\n").filter((l) => / master br0 /.test(l));

  before(async () => {
    c = await startKvmCluster({ guest: needs.guest, ipPath: net.path("ip"), pvcConfig: pvcYaml() });
    pvc = new PvcClient(c.pvcPort);
    const fileDir = String(((await call(c.port, "GET", "/2/info")).json as Record<string, unknown>).file_storage_dir);
    mkdirSync(join(fileDir, "pvc-images"), { recursive: true });
    disk = join(fileDir, "pvc-images", `${VM}.img`);
    execFileSync(needs.path("qemu-img"), ["create", "-f", "raw", disk, "64M"], { stdio: "ignore" });
  });
  after(() => c?.close([VM]));

  it("defines the VM from the XML: a kvm instance, what libvirt adds that Corral ignores listed", async () => {
    machine = versionedPc(needs.path("qemu-system-x86_64"));
    const xml = domainXml({ machine, kernel: needs.guest.kernel, initrd: needs.guest.initrd, disk });
    const r = await pvc.post("/vm", { xml });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      message: `Added new VM with Name '${VM}' and UUID '${UUID}' to database.`,
      unmapped: ["/domain/resource", "/domain/devices/input[1]", "/domain/devices/memballoon"],
    });
    const inst = await rapi();
    assert.equal(inst.status, "ADMIN_down");
    assert.equal(inst.disk_template, "file");
    assert.deepEqual(inst["disk.sizes"], [64], "the file is adopted as it is");
    assert.deepEqual([inst["nic.macs"], inst["nic.links"]], [[MAC], ["br0"]]);
    const hv = inst.hvparams as Record<string, unknown>;
    assert.deepEqual([hv.kernel_path, hv.initrd_path, hv.kernel_args, hv.acpi, hv.boot_order, hv.machine_version, hv.disk_cache, hv.disk_aio, hv.vnc_bind_address],
      [needs.guest.kernel, needs.guest.initrd, "console=ttyS0 quiet corral.ip=10.79.0.1/24", true, "disk", machine, "none", "native", "127.0.0.1"]);
    assert.equal((await vm()).state, "stop");
  });

  let logFrom = 0;
  it("starts through PVC: the guest boots with the XML's NIC on br0, PVC and RAPI see it running", async () => {
    const t0 = Date.now();
    await setState("start", `Starting VM '${VM}'.`);
    await consoleMarker(consoleLog(), /CORRAL_NET eth0 ip=10\.79\.0\.1\/24/, 0, BOOT_MS);
    logFrom = await consoleMarker(consoleLog(), /CORRAL_READY/, 0, BOOT_MS);
    process.stderr.write(`# ${VM}: start request → CORRAL_READY in ${Date.now() - t0} ms\n`);
    await until("start", "running", 10_000);
    const v = await vm();
    assert.deepEqual([v.state, v.node, v.memory, v.vcpu, v.failed_reason], ["start", "node1.corral.test", "256", "1", ""]);
    const inst = await rapi();
    assert.deepEqual([inst.status, inst.oper_state, inst.oper_ram, inst.oper_vcpus], ["running", true, 256, 1]);
    assert.equal(tapsOnBridge().length, 1, "one tap on br0");
    // The QEMU runs what the XML asked: its machine, the guest's kernel, the adopted file, ACPI.
    const pid = readPid(c.files(VM).pidfile);
    assert.ok(pid !== null, "a running VM has a pidfile");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
    assert.equal(argv[argv.indexOf("-machine") + 1], machine);
    assert.equal(argv[argv.indexOf("-kernel") + 1], needs.guest.kernel);
    assert.ok(argv.some((a) => a.includes(disk)), `${disk} in ${argv.join(" ")}`);
    assert.ok(!argv.includes("-no-acpi"), "<acpi/> keeps ACPI on");
    // The guest answers ARP on br0 with the XML's MAC: its NIC is that interface.
    c.ip("-n", c.netns, "addr", "add", "10.79.0.254/24", "dev", "br0");
    const poke = 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("10.79.0.1", 9))';
    let neigh = "";
    for (let i = 0; i < 20 && !neigh.includes(`lladdr ${MAC} `); i++) {
      execFileSync(net.path("ip"), ["netns", "exec", c.netns, net.path("python3"), "-c", poke]);
      await new Promise((r) => setTimeout(r, 250));
      neigh = c.ip("-n", c.netns, "neigh", "show", "10.79.0.1");
    }
    assert.match(neigh, new RegExp(`lladdr ${MAC} `));
  });

  it("shuts down through PVC: the guest's ACPI handler powers it off, QEMU is gone", async () => {
    const pid = readPid(c.files(VM).pidfile);
    assert.ok(pid !== null, "the VM still runs");
    await setState("shutdown", `Shutting down VM '${VM}'.`);
    logFrom = await consoleMarker(consoleLog(), /CORRAL_POWERDOWN/, logFrom, 30_000);
    // Well within PVC's 90 s shutdown timeout: the guest powered off, Corral did not kill it.
    await until("stop", "ADMIN_down", 30_000);
    assert.equal(readPid(c.files(VM).pidfile), null, "no pidfile");
    assert.ok(!existsSync(`/proc/${pid}`) || !readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(VM), "the QEMU process is gone");
    assert.deepEqual(tapsOnBridge(), [], "no tap left on br0");
  });

  it("starts again and stops (forcibly) through PVC", async () => {
    await setState("start", `Starting VM '${VM}'.`);
    logFrom = await consoleMarker(consoleLog(), /CORRAL_READY/, logFrom, BOOT_MS);
    await until("start", "running", 10_000);
    const pid = readPid(c.files(VM).pidfile);
    assert.ok(pid !== null);
    await setState("stop", `Forcibly stopping VM '${VM}'.`);
    await until("stop", "ADMIN_down", 20_000);
    assert.equal(readPid(c.files(VM).pidfile), null, "no pidfile");
    assert.ok(!existsSync(`/proc/${pid}`) || !readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(VM), "the QEMU process is gone");
    assert.deepEqual(tapsOnBridge(), [], "no tap left on br0");
  });

  it("undefines the VM: gone from PVC and RAPI, its adopted disk file kept", async () => {
    const r = await pvc.del(`/vm/${VM}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(msg(r), `Undefined VM '${VM}' from the cluster.`);
    assert.equal((await pvc.get(`/vm/${VM}`)).status, 404);
    assert.equal((await call(c.port, "GET", `/2/instances/${VM}`)).status, 404);
    assert.ok(existsSync(disk), "undefining without delete_disks keeps the disk");
    assert.deepEqual(tapsOnBridge(), []);
  });
});

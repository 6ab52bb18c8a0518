// PVC VMs on a cluster with kvm enabled: a VM defined from libvirt XML is a kvm instance (its
// hvparams, beparams, NICs, adopted file disks and network_port over RAPI); what the XML says
// that Corral does not map is listed in the answer and the job log; refused parameters fail
// cleanly and create nothing; a fake-only cluster keeps its behaviour. Nothing boots.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, runJob } from "../support/cluster.ts";
import { msg, startPvcMaster, type PvcTestMaster } from "./support.ts";

let m: PvcTestMaster;
let fileDir = "";
const MiB = 1024 * 1024;

const rapi = async (path: string) => (await call(m.master.port, "GET", path)).json as Record<string, unknown>;
const instance = (name: string) => rapi(`/2/instances/${name}`);
/** The instance's hypervisor (not among /2/instances/X's fields, as in Ganeti). */
async function hypervisorOf(name: string): Promise<unknown> {
  const r = await call(m.master.port, "GET", "/2/query/instance?fields=name,hypervisor", { user: "reader" });
  const rows = (r.json as { data: [number, unknown][][] }).data;
  return rows.find((row) => row[0][1] === name)?.[1][1];
}

/** A domain like `virsh dumpxml` gives, booting a kernel, with one file disk on a bridge. */
function guestXml(name: string, uuid: string, disk: string, o: { devices?: string; cpu?: string; graphics?: string } = {}): string {
  return `<domain type='kvm'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <description>kvm guest ${name}</description>
  <memory unit='MiB'>512</memory><currentMemory unit='MiB'>256</currentMemory><vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <kernel>/srv/guest/vmlinuz</kernel>
    <initrd>/srv/guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet qa.mode=idle</cmdline>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  ${o.cpu ?? ""}
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <emulator>/usr/bin/kvm</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:aa:00:01'/>
      <source bridge='br-test'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    ${o.graphics ?? "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"}
    ${o.devices ?? ""}
  </devices>
</domain>`;
}

/** A sparse disk image in the cluster's file storage dir. */
function diskFile(name: string, mib: number): string {
  const path = join(fileDir, "pvc-images", name);
  writeFileSync(path, "");
  truncateSync(path, mib * MiB);
  return path;
}

before(async () => {
  m = await startPvcMaster();
  fileDir = String((await rapi("/2/info")).file_storage_dir);
  mkdirSync(join(fileDir, "pvc-images"), { recursive: true });
});
after(() => m.close());

test("on a fake-only cluster a VM stays a fake instance, without a port or an unmapped list", async () => {
  const xml = guestXml("fake1", "22222222-0000-0000-0000-000000000001", diskFile("fake1.img", 16));
  const r = await m.pvc.post("/vm", { xml });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { message: "Added new VM with Name 'fake1' and UUID '22222222-0000-0000-0000-000000000001' to database." });
  const inst = await instance("fake1");
  assert.equal(await hypervisorOf("fake1"), "fake");
  assert.equal(inst.network_port, null);
  assert.deepEqual(inst["disk.sizes"], [16]);
  assert.equal(inst.disk_template, "file");
  assert.equal((await m.pvc.del("/vm/fake1")).status, 200);
});

test("with kvm enabled, a VM from libvirt XML is a kvm instance with the XML's parameters, disks, NICs and a port", async () => {
  // vcpu-ratio: htools' CPU rule counts every instance's vCPUs plus the node's own CPUs against
  // ratio × CPUs, and this host may have 2; these tests are about XML, not CPU capacity.
  const enable = await runJob(m.master.port, "PUT", "/2/modify", { enabled_hypervisors: ["fake", "kvm"], ipolicy: { "vcpu-ratio": 32 } });
  assert.equal(enable.status, "success", JSON.stringify(enable.opresult));
  const disk = diskFile("guest1.img", 64);
  const xml = guestXml("guest1", "22222222-0000-0000-0000-000000000002", disk);
  const r = await m.pvc.post("/vm", { xml, node: "node1.corral.test" });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { message: "Added new VM with Name 'guest1' and UUID '22222222-0000-0000-0000-000000000002' to database.", unmapped: [] });

  const inst = await instance("guest1");
  assert.equal(await hypervisorOf("guest1"), "kvm");
  assert.equal(typeof inst.network_port, "number");
  assert.ok((inst.network_port as number) >= 11000);
  const hv = inst.hvparams as Record<string, unknown>;
  assert.deepEqual(
    [hv.kernel_path, hv.initrd_path, hv.kernel_args, hv.root_path, hv.boot_order, hv.acpi, hv.machine_version],
    ["/srv/guest/vmlinuz", "/srv/guest/initrd.img", "console=ttyS0 quiet qa.mode=idle", "", "disk", true, "pc-i440fx-7.2"],
  );
  assert.deepEqual([hv.serial_console, hv.vnc_bind_address, hv.disk_type, hv.disk_cache, hv.nic_type, hv.kvm_path, hv.reboot_behavior],
    [true, "127.0.0.1", "paravirtual", "none", "paravirtual", "/usr/bin/kvm", "reboot"]);
  const be = inst.beparams as Record<string, unknown>;
  assert.deepEqual([be.maxmem, be.minmem, be.vcpus], [512, 256, 2]);
  assert.equal(inst.disk_template, "file");
  // The file is adopted where it is (its size is the file's), not copied.
  assert.deepEqual(inst["disk.sizes"], [64]);
  assert.deepEqual([inst["nic.macs"], inst["nic.modes"], inst["nic.links"]], [["52:54:00:aa:00:01"], ["bridged"], ["br-test"]]);
  assert.equal(inst.admin_state, "down");

  const [vm] = (await m.pvc.get("/vm/guest1")).json as Record<string, unknown>[];
  assert.deepEqual([vm.memory, vm.vcpu, vm.machine, vm.console], ["512", "2", "pc-i440fx-7.2", "pty"]);
  assert.deepEqual(vm.disks, [{ type: "file", name: disk, dev: "vda", bus: "virtio" }]);
});

test("what the XML says that Corral does not map is listed in the answer and the job log", async () => {
  const xml = guestXml("guest2", "22222222-0000-0000-0000-000000000003", diskFile("guest2.img", 32), {
    graphics: "<graphics type='vnc' port='5905' autoport='no' listen='0.0.0.0'/><graphics type='spice' autoport='yes'/>",
    devices: `<interface type='network'><mac address='52:54:00:aa:00:02'/><source network='default'/><model type='virtio'/></interface>
      <sound model='ich9'/><video><model type='qxl'/></video>
      <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>
      <filesystem type='mount'><source dir='/srv/share'/><target dir='share'/></filesystem>
      <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>`,
  });
  const r = await m.pvc.post("/vm", { xml });
  assert.equal(r.status, 200, r.text);
  const body = r.json as { message: string; unmapped: string[] };
  assert.match(body.message, /^Added new VM with Name 'guest2'/);
  assert.deepEqual(body.unmapped, [
    "/domain/devices/graphics[1]/@port",
    "/domain/devices/graphics[2]",
    "/domain/devices/interface[2]",
    "/domain/devices/sound",
    "/domain/devices/video",
    "/domain/devices/hostdev",
    "/domain/devices/filesystem",
    "/domain/devices/disk[2]",
  ]);
  const inst = await instance("guest2");
  // The network interface is not a NIC of the instance; the VNC port is Corral's.
  assert.deepEqual(inst["nic.macs"], ["52:54:00:aa:00:01"]);
  assert.notEqual(inst.network_port, 5905);
  assert.equal((inst.hvparams as Record<string, unknown>).vnc_bind_address, "0.0.0.0");
  const ids = ((await rapi("/2/jobs")) as unknown as { id: number }[]).map((j) => j.id);
  const jobs = await Promise.all(ids.map(async (id) => (await rapi(`/2/jobs/${id}`)) as { ops: { OP_ID: string; xml?: string }[]; oplog: unknown[][] }));
  const job = jobs.find((j) => j.ops[0]?.OP_ID === "OP_PVC_VM_DEFINE" && j.ops[0].xml?.includes("<name>guest2</name>"));
  assert.ok(job, "the define job of guest2");
  const log = JSON.stringify(job.oplog);
  for (const path of body.unmapped) assert.ok(log.includes(`${path} is not mapped`), `${path} in ${log}`);
});

test("a PUT of the XML re-maps a kvm VM; the port it was given is honoured", async () => {
  const before = await instance("guest2");
  const port = before.network_port as number;
  const xml = guestXml("guest2", "22222222-0000-0000-0000-000000000003", join(fileDir, "pvc-images", "guest2.img"), {
    graphics: `<graphics type='vnc' port='${port}' autoport='no' listen='0.0.0.0'/>`,
    cpu: "<cpu mode='host-passthrough'/>",
  }).replace("<acpi/>", "").replace("<on_reboot>restart</on_reboot>", "<on_reboot>destroy</on_reboot>");
  const r = await m.pvc.put("/vm/guest2", { xml });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { message: "Successfully modified configuration of VM 'guest2'.", unmapped: [] });
  const inst = await instance("guest2");
  const hv = inst.hvparams as Record<string, unknown>;
  assert.deepEqual([hv.acpi, hv.cpu_type, hv.reboot_behavior], [false, "host", "exit"]);
  assert.equal(inst.network_port, port);
  assert.deepEqual(inst["disk.uuids"], before["disk.uuids"]);
});

test("XML asking for what Corral refuses fails with PVC's message naming it, and creates nothing", async () => {
  const uuid = "22222222-0000-0000-0000-000000000009";
  const disk = diskFile("bad.img", 8);
  const cases: [string, RegExp][] = [
    [guestXml("bad1", uuid, disk, { cpu: "<cpu mode='host-passthrough'><topology sockets='1' cores='2' threads='1'/></cpu>" }),
      /^ERROR: The XML asks for kvm parameters Corral refuses: Parameter 'cpu_sockets' is not implemented by Corral's kvm hypervisor.*\(from \/domain\/cpu\/topology\/@sockets\).*'cpu_cores'/],
    [guestXml("bad2", uuid, disk).replace("bus='virtio'", "bus='scsi'"), /'disk_type' value 'scsi' is not implemented/],
    [guestXml("bad3", uuid, disk).replace("type='raw'", "type='qcow2'"), /^ERROR: The XML cannot run under Corral's kvm hypervisor: disk 0 is in qcow2 format/],
    [guestXml("bad4", uuid, disk).replace("/srv/guest/vmlinuz", "vmlinuz"), /'kernel_path' fails syntax check: the path must be absolute/],
    [guestXml("bad5", uuid, "/etc/passwd"), /^ERROR: Disk 0: Corral adopts files only inside the cluster's file storage dir/],
    [guestXml("bad6", uuid, join(fileDir, "pvc-images", "missing.img")), /^ERROR: Disk 0 of VM 'bad6': the file '.*missing\.img' does not exist on node node1\.corral\.test/],
    [guestXml("bad7", uuid, disk, { graphics: "<graphics type='vnc' passwd='secret'/>" }), /VNC passwords/],
  ];
  // No port handed out: /2/info does not show the allocator's state (Ganeti's does not), the config does.
  const ports = () => {
    const c = m.master.store.snapshot().cluster;
    return { highest: c.highest_used_port, pool: c.tcpudp_port_pool };
  };
  const before = ports();
  for (const [xml, re] of cases) {
    const r = await m.pvc.post("/vm", { xml });
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(Object.keys(r.json as object), ["message"]);
    assert.match(msg(r), re);
  }
  const names = ((await rapi("/2/instances")) as unknown as { id: string }[]).map((i) => i.id);
  assert.ok(!names.some((n) => n.startsWith("bad")), names.join(","));
  assert.deepEqual(ports(), before);
});

test("a xen domain on a fake+kvm cluster stays on the fake hypervisor", async () => {
  const xml = guestXml("xen1", "22222222-0000-0000-0000-000000000004", diskFile("xen1.img", 8)).replace("<domain type='kvm'>", "<domain type='xen'>");
  const r = await m.pvc.post("/vm", { xml });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json as object), ["message"]);
  assert.equal(await hypervisorOf("xen1"), "fake");
});

test("a kvm instance made over RAPI has a domain XML saying what its QEMU runs", async () => {
  const job = await runJob(m.master.port, "POST", "/2/instances", {
    __version__: 1, mode: "create", name: "rapi1", disk_template: "file", disks: [{ size: 1024 }], nics: [{ link: "br-rapi", mac: "aa:00:00:00:00:07" }],
    os_type: "corral-marker+default", beparams: { maxmem: 256, minmem: 128, vcpus: 1 }, ip_check: false, name_check: false, start: false,
    pnode: "node1.corral.test", hypervisor: "kvm", hvparams: { kernel_path: "/srv/guest/vmlinuz", kernel_args: "quiet", root_path: "", vnc_bind_address: "127.0.0.1" },
  });
  assert.equal(job.status, "success", JSON.stringify(job.opresult));
  const inst = await instance("rapi1");
  const [vm] = (await m.pvc.get("/vm/rapi1")).json as { xml: string }[];
  for (const piece of [
    "<domain type='kvm'>", "<memory unit='MiB'>256</memory>", "<currentMemory unit='MiB'>128</currentMemory>", "<kernel>/srv/guest/vmlinuz</kernel>",
    "<cmdline>quiet console=ttyS0,38400</cmdline>", "<emulator>/usr/bin/kvm</emulator>", "<source bridge='br-rapi'/>", "<serial type='pty'>",
    `<graphics type='vnc' port='${inst.network_port}' autoport='no' listen='127.0.0.1'>`,
  ]) assert.ok(vm.xml.includes(piece), `${piece} not in ${vm.xml}`);
  assert.match(vm.xml, /<disk type='file' device='disk'><driver name='qemu' type='raw' io='threads'\/><source file='\/[^']+'\/><target dev='vda' bus='virtio'\/><\/disk>/);
  // Given back over PVC, Corral's own XML maps to the same instance with nothing unmapped.
  const r = await m.pvc.put("/vm/rapi1", { xml: vm.xml });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((r.json as { unmapped: string[] }).unmapped, []);
  const after = await instance("rapi1");
  assert.deepEqual([after["disk.uuids"], after["nic.links"], after.network_port], [inst["disk.uuids"], inst["nic.links"], inst.network_port]);
  assert.equal((after.hvparams as Record<string, unknown>).kernel_args, "quiet");
});

test("undefining a kvm VM gives its port back", async () => {
  const port = (await instance("guest1")).network_port;
  assert.equal((await m.pvc.del("/vm/guest1")).status, 200);
  const r = await m.pvc.post("/vm", { xml: guestXml("guest3", "22222222-0000-0000-0000-000000000005", diskFile("guest3.img", 8)) });
  assert.equal(r.status, 200, r.text);
  assert.equal((await instance("guest3")).network_port, port);
});

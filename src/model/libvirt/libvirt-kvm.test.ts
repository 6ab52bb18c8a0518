// The libvirt XML → kvm instance mapping: what maps to which hvparam, what is reported as
// unmapped, what is refused; and the XML Corral writes for a kvm instance maps back to the
// same parameters with nothing unmapped.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_HVPARAMS } from "../defaults.ts";
import { domainXml, parseDomainXml } from "./libvirt.ts";
import { kvmDomain, kvmDomainProblems } from "./libvirt-kvm.ts";

/** A domain as virt-install and `virsh dumpxml` write one, with a few things Corral has no use for. */
const REALISTIC = `<domain type='kvm' id='3' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>guest1</name>
  <uuid>11111111-2222-3333-4444-555555555599</uuid>
  <metadata><app:info xmlns:app='http://example.com/app'>x</app:info></metadata>
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <kernel>/srv/guest/vmlinuz</kernel>
    <initrd>/srv/guest/initrd.img</initrd>
    <cmdline>root=/dev/vda ro quiet</cmdline>
    <boot dev='hd'/>
    <boot dev='network'/>
  </os>
  <features><acpi/><apic/><vmport state='off'/></features>
  <cpu mode='host-passthrough'/>
  <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/></clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native' discard='unmap'/>
      <source file='/srv/disk.img'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
    <controller type='usb' index='0' model='ich9-ehci1'/>
    <controller type='pci' index='0' model='pci-root'/>
    <controller type='ide' index='0'><address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x1'/></controller>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source bridge='br0'/>
      <target dev='vnet0'/>
      <model type='e1000'/>
    </interface>
    <interface type='network'><mac address='52:54:00:12:34:57'/><source network='default'/></interface>
    <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target><alias name='serial0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <input type='tablet' bus='usb'/>
    <input type='mouse' bus='ps2'/>
    <graphics type='vnc' port='5901' autoport='no' listen='0.0.0.0'><listen type='address' address='0.0.0.0'/></graphics>
    <graphics type='spice' autoport='yes'/>
    <sound model='ich9'/>
    <video><model type='vga' vram='16384' heads='1' primary='yes'/></video>
    <memballoon model='virtio'/>
    <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>
    <filesystem type='mount'><source dir='/srv/share'/><target dir='share'/></filesystem>
  </devices>
</domain>`;

test("memory, vcpus, kernel, boot, acpi, machine, cpu, disks, NICs, serial and VNC map to kvm parameters", () => {
  const def = parseDomainXml(REALISTIC);
  assert.deepEqual([def.memory, def.currentMemory, def.vcpus, def.domainType], [512, 256, 2, "kvm"]);
  const d = kvmDomain(REALISTIC);
  assert.deepEqual(d.hvparams, {
    cpu_type: "host",
    machine_version: "pc-i440fx-7.2",
    kernel_path: "/srv/guest/vmlinuz",
    initrd_path: "/srv/guest/initrd.img",
    kernel_args: "root=/dev/vda ro quiet",
    root_path: "",
    boot_order: "disk",
    acpi: true,
    reboot_behavior: "exit",
    kvm_path: "/usr/bin/qemu-system-x86_64",
    disk_cache: "none",
    disk_aio: "native",
    disk_discard: "unmap",
    disk_type: "paravirtual",
    nic_type: "e1000",
    serial_console: true,
    vnc_bind_address: "0.0.0.0",
  });
  assert.deepEqual(kvmDomainProblems(d), []);
});

test("everything Corral does not map is listed, XPath-like, in document order", () => {
  assert.deepEqual(kvmDomain(REALISTIC).unmapped, [
    "/domain/os/boot[2]",
    "/domain/features/vmport",
    "/domain/clock/timer",
    "/domain/devices/disk[1]/address",
    "/domain/devices/disk[2]",
    "/domain/devices/controller[1]",
    "/domain/devices/interface[1]/target",
    "/domain/devices/interface[2]",
    "/domain/devices/input[1]",
    "/domain/devices/graphics[1]/@port",
    "/domain/devices/graphics[2]",
    "/domain/devices/sound",
    "/domain/devices/memballoon",
    "/domain/devices/hostdev",
    "/domain/devices/filesystem",
  ]);
  // The port Corral allocated is honoured.
  assert.ok(!kvmDomain(REALISTIC, { networkPort: 5901 }).unmapped.includes("/domain/devices/graphics[1]/@port"));
});

test("a minimal domain boots from disk without a kernel, without ACPI, serial or VNC", () => {
  const d = kvmDomain("<domain type='kvm'><name>m</name><memory>1024</memory><devices/></domain>");
  assert.deepEqual(d.hvparams, {
    kernel_path: "", initrd_path: "", kernel_args: "", root_path: "", boot_order: "disk", acpi: false,
    serial_console: false, vnc_bind_address: "",
  });
  assert.deepEqual(d.unmapped, []);
});

test("values that map to kvm parameters Corral refuses are named with where they came from", () => {
  const xml = (extra: string, devices = "") =>
    `<domain type='kvm'><name>r</name><memory>1024</memory><vcpu cpuset='0-1'>2</vcpu>${extra}<devices>${devices}</devices></domain>`;
  const problems = kvmDomainProblems(kvmDomain(xml("<cpu><topology sockets='1' cores='2' threads='1'/></cpu><clock offset='localtime'/>")));
  assert.equal(problems.length, 5, problems.join("\n"));
  assert.match(problems.join("\n"), /'cpu_mask' is not implemented.*\(from \/domain\/vcpu\/@cpuset\)/);
  assert.match(problems.join("\n"), /'cpu_cores' is not implemented.*\(from \/domain\/cpu\/topology\/@cores\)/);
  assert.match(problems.join("\n"), /'use_localtime' is not implemented/);
  // A topology that is QEMU's own for -smp N needs no parameter.
  assert.equal(kvmDomain(xml("<cpu><topology sockets='2' cores='1' threads='1'/></cpu>")).hvparams.cpu_sockets, undefined);
  const scsi = kvmDomainProblems(kvmDomain(xml("", "<disk type='file'><source file='/f'/><target dev='sda' bus='scsi'/></disk>")));
  assert.match(scsi.join(), /'disk_type' value 'scsi' is not implemented.*from \/domain\/devices\/disk\/target\/@bus/);
  const vhost = kvmDomainProblems(kvmDomain(xml("", "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='b'/><model type='virtio'/><driver name='vhost' queues='4'/></interface>")));
  assert.match(vhost.join(), /'vhost_net'.*'virtio_net_queues'/s);
  assert.match(kvmDomainProblems(kvmDomain(xml("", "<graphics type='vnc' keymap='de'/>"))).join(), /'keymap' is not implemented/);
});

test("what Corral cannot express at all is refused", () => {
  const refused: [string, RegExp][] = [
    ["<disk type='file'><driver name='qemu' type='qcow2'/><source file='/f'/></disk>", /qcow2 format/],
    ["<disk type='file'><source file='/f'/><target dev='sda' bus='sata'/></disk>", /bus='sata'.*no Ganeti disk_type/],
    ["<disk type='file'><source file='/f'/><target dev='vda' bus='virtio'/></disk><disk type='file'><source file='/g'/><target dev='hda' bus='ide'/></disk>", /buses differ/],
    ["<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='b'/><model type='vmxnet3'/></interface>", /vmxnet3.*no Ganeti nic_type/],
    ["<graphics type='vnc' passwd='secret'/>", /VNC passwords/],
  ];
  for (const [devices, re] of refused) {
    assert.throws(() => kvmDomain(`<domain type='kvm'><name>r</name><memory>1024</memory><devices>${devices}</devices></domain>`), re, devices);
  }
  assert.throws(() => kvmDomain("<domain><name>r</name><memory>1</memory><os><type machine='virt'>hvm</type></os></domain>"), /machine='virt'/);
  assert.throws(() => kvmDomain("<domain><name>r</name><memory>1</memory><os><type arch='aarch64'>hvm</type></os></domain>"), /x86 guests/);
});

test("the XML Corral writes for a kvm instance says what QEMU runs and maps back to the same parameters", () => {
  const hvparams = {
    ...DEFAULT_HVPARAMS.kvm,
    kernel_path: "/srv/vmlinuz", initrd_path: "/srv/initrd", kernel_args: "ro quiet", root_path: "/dev/vda1",
    vnc_bind_address: "127.0.0.1", nic_type: "e1000", disk_cache: "none", machine_version: "pc-i440fx-7.2", cpu_type: "qemu64,+ssse3",
  };
  const xml = domainXml(undefined, {
    name: "rapi1", uuid: "11111111-2222-3333-4444-555555555598", memory: 512, currentMemory: 256, vcpus: 2,
    disks: [{ type: "file", name: "/srv/storage/rapi1/disk0", dev: "sda", bus: "scsi" }],
    nics: [{ type: "bridge", mac: "aa:00:00:00:00:01", source: "br0", model: "virtio" }],
    kvm: { hvparams, networkPort: 11003 },
  });
  for (const piece of [
    "<domain type='kvm'>", "<currentMemory unit='MiB'>256</currentMemory>", "<type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>",
    "<kernel>/srv/vmlinuz</kernel>", "<initrd>/srv/initrd</initrd>", "<cmdline>root=/dev/vda1 ro quiet console=ttyS0,38400</cmdline>",
    "<features><acpi/></features>", "<model>qemu64</model><feature policy='require' name='ssse3'/>", "<emulator>/usr/bin/kvm</emulator>",
    "<driver name='qemu' type='raw' cache='none' io='threads'/><source file='/srv/storage/rapi1/disk0'/><target dev='vda' bus='virtio'/>",
    "<source bridge='br0'/><model type='e1000'/>", "<serial type='pty'>", "<graphics type='vnc' port='11003' autoport='no' listen='127.0.0.1'>",
  ]) assert.ok(xml.includes(piece), `${piece} not in ${xml}`);
  const back = kvmDomain(xml, { networkPort: 11003 });
  assert.deepEqual(back.unmapped, []);
  assert.deepEqual(kvmDomainProblems(back), []);
  assert.deepEqual(back.hvparams, {
    machine_version: "pc-i440fx-7.2", kernel_path: "/srv/vmlinuz", initrd_path: "/srv/initrd",
    // root= is part of libvirt's command line; the console Corral adds is not repeated.
    kernel_args: "root=/dev/vda1 ro quiet", root_path: "", boot_order: "disk", acpi: true, cpu_type: "qemu64,+ssse3",
    reboot_behavior: "reboot", kvm_path: "/usr/bin/kvm", disk_cache: "none", disk_aio: "threads", disk_type: "paravirtual",
    nic_type: "e1000", serial_console: true, vnc_bind_address: "127.0.0.1",
  });
});

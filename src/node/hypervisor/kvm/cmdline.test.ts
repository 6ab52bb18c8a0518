import assert from "node:assert/strict";
import { test } from "node:test";
import type { InstanceSpec } from "../../../rpc/calls.ts";
import { diskSpec, instanceSpec } from "../../testkit.ts";
import { buildCommandLine, type CommandLineInput, FIRST_PCI_SLOT, freePciSlot, KvmConfigError, splitShellWords } from "./cmdline.ts";
import { tapName } from "./taps.ts";

const paths = { pidfile: "/run/i/qemu.pid", qmp: "/run/i/qmp.sock", serial: "/run/i/serial.sock", vnc: "/run/i/vnc.sock", console: "/run/i/console.log", log: "/run/i/qemu.log" };

function kvmInstance(hvparams: Record<string, unknown> = {}, over: Partial<InstanceSpec> = {}): InstanceSpec {
  return instanceSpec({
    hypervisor: "kvm",
    hvparams: { kernel_path: "/boot/vmlinuz", initrd_path: "", kernel_args: "ro", root_path: "/dev/vda1", serial_console: true, serial_speed: 38400, ...hvparams },
    beparams: { maxmem: 256, minmem: 256, vcpus: 2 },
    ...over,
  });
}

function build(instance: InstanceSpec, over: Partial<CommandLineInput> = {}) {
  return buildCommandLine({
    instance, memory: 256, vcpus: 2, disks: instance.disks.map((_, i) => ({ path: `/srv/disk${i}`, uris: [] })),
    taps: instance.nics.map((_, i) => `tap${i}`), paused: false, paths, defaultAccelerator: "tcg", ...over,
  });
}

/** The value after `flag` (first occurrence). */
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
const all = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));

test("the basic command line: identity, size, machine, accelerator, files, kernel", () => {
  const { binary, args } = build(kvmInstance());
  assert.equal(binary, "/usr/bin/kvm");
  assert.equal(after(args, "-name"), "inst1.example.com");
  assert.equal(after(args, "-uuid"), "11111111-2222-4333-8444-555555555555");
  assert.equal(after(args, "-m"), "256");
  assert.equal(after(args, "-smp"), "2");
  assert.equal(after(args, "-machine"), "pc");
  assert.equal(after(args, "-accel"), "tcg");
  for (const flag of ["-nodefaults", "-no-user-config", "-daemonize"]) assert.ok(args.includes(flag), flag);
  assert.equal(after(args, "-pidfile"), paths.pidfile);
  assert.equal(after(args, "-D"), paths.log);
  assert.equal(after(args, "-qmp"), "unix:/run/i/qmp.sock,server=on,wait=off");
  assert.match(after(args, "-chardev"), /path=\/run\/i\/serial\.sock,.*logfile=\/run\/i\/console\.log,logappend=on/);
  assert.equal(after(args, "-kernel"), "/boot/vmlinuz");
  assert.equal(after(args, "-append"), "root=/dev/vda1 ro console=ttyS0,38400");
  assert.equal(after(args, "-boot"), "order=c");
  for (const flag of ["-initrd", "-cpu", "-vnc", "-no-acpi", "-no-shutdown", "-no-reboot", "-S", "-incoming"]) assert.ok(!args.includes(flag), flag);
});

test("hvparams switch their options", () => {
  const { binary, args } = build(kvmInstance({
    kvm_path: "/usr/bin/qemu-system-x86_64", kvm_flag: "enabled", machine_version: "q35", cpu_type: "host", acpi: false,
    user_shutdown: true, reboot_behavior: "exit", initrd_path: "/boot/initrd", root_path: "", serial_console: false, boot_order: "network",
  }), { paused: true, incoming: true });
  assert.equal(binary, "/usr/bin/qemu-system-x86_64");
  assert.equal(after(args, "-accel"), "kvm");
  assert.equal(after(args, "-machine"), "q35");
  assert.equal(after(args, "-cpu"), "host");
  assert.equal(after(args, "-initrd"), "/boot/initrd");
  assert.equal(after(args, "-append"), "ro");
  assert.equal(after(args, "-boot"), "order=n");
  assert.equal(after(args, "-incoming"), "defer");
  for (const flag of ["-no-acpi", "-no-shutdown", "-no-reboot", "-S"]) assert.ok(args.includes(flag), flag);
  assert.equal(after(build(kvmInstance({ kvm_flag: "disabled" }), { defaultAccelerator: "kvm" }).args, "-accel"), "tcg");
  assert.equal(after(build(kvmInstance({ kvm_flag: "" }), { defaultAccelerator: "kvm" }).args, "-accel"), "kvm");
  assert.ok(!build(kvmInstance({ kernel_path: "" })).args.includes("-kernel"));
});

test("VNC needs a bind address and a port; display is port - 5900", () => {
  const on = build(kvmInstance({ vnc_bind_address: "127.0.0.1" }, { network_port: 5977 })).args;
  assert.equal(after(on, "-vnc"), "127.0.0.1:77,id=default");
  assert.ok(all(on, "-device").some((d) => JSON.parse(d).driver === "VGA"));
  assert.ok(!build(kvmInstance({ vnc_bind_address: "127.0.0.1" }, { network_port: null })).args.includes("-vnc"));
  assert.ok(!build(kvmInstance({ vnc_bind_address: "" }, { network_port: 5977 })).args.includes("-vnc"));
  assert.equal(after(build(kvmInstance({ vnc_bind_address: "::1" }, { network_port: 5901 })).args, "-vnc"), "[::1]:1,id=default");
  assert.equal(after(build(kvmInstance({ vnc_bind_address: "/run/vnc/i.sock" })).args, "-vnc"), "unix:/run/vnc/i.sock,id=default");
  assert.throws(() => build(kvmInstance({ vnc_bind_address: "0.0.0.0" }, { network_port: 1234 })), KvmConfigError);
});

test("with VNC on, a second display on a unix socket in the instance's directory serves the console channel", () => {
  const displays = (instance: InstanceSpec, over: Partial<CommandLineInput> = {}) => all(build(instance, over).args, "-vnc");
  assert.deepEqual(displays(kvmInstance({ vnc_bind_address: "0.0.0.0" }, { network_port: 5901 })), ["0.0.0.0:1,id=default", "unix:/run/i/vnc.sock,id=console"]);
  assert.deepEqual(displays(kvmInstance({ vnc_bind_address: "/run/vnc/i.sock" })), ["unix:/run/vnc/i.sock,id=default", "unix:/run/i/vnc.sock,id=console"]);
  // A migration target is built from its own directory's paths.
  const target = { ...paths, vnc: "/run/target/i/vnc.sock" };
  assert.deepEqual(displays(kvmInstance({ vnc_bind_address: "0.0.0.0" }, { network_port: 5901 }), { incoming: true, paths: target }), ["0.0.0.0:1,id=default", "unix:/run/target/i/vnc.sock,id=console"]);
  assert.deepEqual(displays(kvmInstance({ vnc_bind_address: "" }, { network_port: 5901 })), [], "no VNC, no console display");
});

test("disks are -blockdev file nodes under raw with cache, aio and discard; virtio or IDE devices", () => {
  const disks = [diskSpec({ uuid: "aaaaaaaa-0000-4000-8000-000000000001" }), diskSpec({ uuid: "bbbbbbbb-0000-4000-8000-000000000002", mode: "ro" })];
  const { args, layout } = build(kvmInstance({ disk_cache: "none", disk_aio: "native", disk_discard: "unmap" }, { disks }));
  const blockdevs = all(args, "-blockdev").map((b) => JSON.parse(b));
  assert.deepEqual(blockdevs[0], {
    driver: "raw", "node-name": "disk-aaaaaaaa000040008000", "read-only": false, cache: { direct: true, "no-flush": false }, discard: "unmap",
    file: { driver: "file", filename: "/srv/disk0", aio: "native", cache: { direct: true, "no-flush": false }, discard: "unmap" },
  });
  assert.equal(blockdevs[1]["read-only"], true);
  const devices = all(args, "-device").map((d) => JSON.parse(d));
  assert.deepEqual(devices[0], { driver: "virtio-blk-pci", drive: "disk-aaaaaaaa000040008000", id: "dev-disk-aaaaaaaa000040008000", bus: "pci.0", addr: "0x3", "write-cache": "on" });
  assert.equal(devices[1].addr, "0x4");
  assert.deepEqual(layout.disks.map((d) => [d.path, d.slot]), [["/srv/disk0", 3], ["/srv/disk1", 4]]);

  const plain = JSON.parse(all(build(kvmInstance({ disk_cache: "default", disk_discard: "default" }, { disks })).args, "-blockdev")[0]);
  assert.equal(plain.cache, undefined);
  assert.equal(plain.discard, undefined);
  assert.equal(plain.file.aio, "threads");

  const ide = all(build(kvmInstance({ disk_type: "ide" }, { disks })).args, "-device").map((d) => JSON.parse(d)).filter((d) => d.drive);
  assert.deepEqual(ide.map((d) => [d.driver, d.bus, d.unit]), [["ide-hd", "ide.0", 0], ["ide-hd", "ide.0", 1]]);
  assert.throws(() => build(kvmInstance({ disk_type: "scsi" }, { disks })), /disk_type 'scsi' is not implemented/);
  assert.throws(() => build(kvmInstance({}, { disks }), { disks: [{ path: null, uris: ["kvm:rbd:x"] }, { path: "/x", uris: [] }] }), /no local path/);
});

test("q35 machines put the devices on pcie.0 (QEMU has no pci.0 there)", () => {
  const disks = [diskSpec({ uuid: "aaaaaaaa-0000-4000-8000-000000000001" })];
  for (const machine of ["q35", "pc-q35-7.2"]) {
    const devices = all(build(kvmInstance({ machine_version: machine }, { disks })).args, "-device").map((d) => JSON.parse(d));
    assert.deepEqual([...new Set(devices.map((d) => d.bus))], ["pcie.0"], machine);
  }
  const pc = all(build(kvmInstance({ machine_version: "pc-i440fx-7.2" }, { disks })).args, "-device").map((d) => JSON.parse(d));
  assert.deepEqual([...new Set(pc.map((d) => d.bus))], ["pci.0"]);
});

test("NICs are tap netdevs with the NIC's model and MAC; openvswitch is refused", () => {
  const nic = (mac: string, mode = "bridged") => ({ uuid: `uuid-${mac}`, name: null, mac, ip: null, network: null, nicparams: { mode, link: "br0" } });
  const instance = kvmInstance({ nic_type: "e1000" }, { disks: [diskSpec()], nics: [nic("aa:00:00:00:00:01"), nic("aa:00:00:00:00:02", "routed")] });
  const { args, layout } = build(instance);
  const netdevs = all(args, "-netdev").map((n) => JSON.parse(n));
  assert.deepEqual(netdevs.map((n) => [n.type, n.ifname, n.script, n.downscript]), [["tap", "tap0", "no", "no"], ["tap", "tap1", "no", "no"]]);
  const nicDevices = all(args, "-device").map((d) => JSON.parse(d)).filter((d) => d.netdev);
  assert.deepEqual(nicDevices.map((d) => [d.driver, d.mac, d.addr]), [["e1000", "aa:00:00:00:00:01", "0x4"], ["e1000", "aa:00:00:00:00:02", "0x5"]]);
  assert.deepEqual(layout.nics.map((n) => n.tap), ["tap0", "tap1"]);
  assert.equal(JSON.parse(all(build(kvmInstance({}, { nics: [nic("aa:00:00:00:00:03")] })).args, "-device")[0]).driver, "virtio-net-pci");
  assert.throws(() => build(kvmInstance({}, { nics: [nic("aa:00:00:00:00:04", "openvswitch")] })), /NIC mode 'openvswitch' is not implemented/);
  assert.throws(() => build(kvmInstance({ nic_type: "ne2k_pci" }, { nics: [nic("aa:00:00:00:00:05")] })), /nic_type 'ne2k_pci'/);
});

test("a migration target keeps the source's PCI slots", () => {
  const disk = diskSpec({ uuid: "cccccccc-0000-4000-8000-000000000003" });
  const { layout } = build(kvmInstance({}, { disks: [disk] }), { slots: { [disk.uuid]: 9 } });
  assert.equal(layout.disks[0].slot, 9);
  assert.equal(freePciSlot([FIRST_PCI_SLOT, 4, null]), 5);
});

test("kvm_extra is split like a shell splits, without a shell", () => {
  assert.deepEqual(splitShellWords(` -device 'virtio-rng-pci,id=rng' -smbios "type=1,product=a b" a\\ b $(x) `), ["-device", "virtio-rng-pci,id=rng", "-smbios", "type=1,product=a b", "a b", "$(x)"]);
  assert.deepEqual(splitShellWords(""), []);
  assert.deepEqual(splitShellWords(`''`), [""]);
  assert.throws(() => splitShellWords(`-x 'open`), /unterminated/);
  const { args } = build(kvmInstance({ kvm_extra: "-global kvm-pit.lost_tick_policy=discard" }));
  assert.deepEqual(args.slice(-2), ["-global", "kvm-pit.lost_tick_policy=discard"]);
});

test("tap names fit in 15 characters and differ between instances with the same prefix", () => {
  const a = tapName("webserver1.example.com", 12);
  const b = tapName("webserver2.example.com", 12);
  assert.ok(a.length <= 15 && b.length <= 15, `${a} ${b}`);
  assert.notEqual(a.slice(0, -3), b.slice(0, -3));
  assert.match(tapName("x", 0), /^x[0-9a-f]{4}-0$/);
});

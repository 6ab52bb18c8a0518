// A libvirt domain as a kvm instance: the kvm hvparams and disk modes its XML asks for, and
// every element or attribute Corral does not map, so that the answer can list them (nothing
// is dropped silently). Mapping marks what it reads; whatever is left unmarked is unmapped.
// XML that asks for what Corral cannot express at all (a qcow2 disk, a SATA bus) throws.

import { hypervisorParamProblems } from "../hvparams.ts";
import type { ParamDict } from "../objects.ts";
import { DomainXmlError } from "./libvirt.ts";
import { child, childrenNamed, elements, parseXml, textOf, type XmlElement } from "./xml.ts";

export interface KvmDomain {
  /** The kvm hvparams the XML decides (instance-level overrides). */
  hvparams: ParamDict;
  /** Where in the XML each hvparam came from, for messages naming a refused one. */
  origins: Record<string, string>;
  /** XPath-like locations of what Corral does not map, in document order. */
  unmapped: string[];
}

/** The hvparams a VM's XML decides: replaced as a whole when the XML is. */
export const XML_KVM_PARAMS: readonly string[] = [
  "kernel_path", "initrd_path", "kernel_args", "root_path", "boot_order", "acpi", "machine_version",
  "cpu_type", "kvm_path", "serial_console", "vnc_bind_address", "keymap", "disk_type", "disk_cache",
  "disk_aio", "disk_discard", "nic_type", "vhost_net", "virtio_net_queues", "reboot_behavior",
  "use_localtime", "cpu_mask", "cpu_sockets", "cpu_cores", "cpu_threads",
];

/** QEMU's x86 machine types (7.2 still knows the old pc-i440fx/pc-q35 versions). */
const MACHINE_RE = /^(pc|q35|isapc|microvm|pc-i440fx-\d+\.\d+|pc-q35-\d+\.\d+|pc-\d+\.\d+)$/;
const BOOT_ORDER: Record<string, string> = { hd: "disk", cdrom: "cdrom", network: "network", fd: "floppy" };
const DISK_TYPE: Record<string, string> = { virtio: "paravirtual", ide: "ide", scsi: "scsi", sd: "sd" };
/** libvirt <model type> → Ganeti nic_type (names Ganeti shares with QEMU map to themselves). */
const NIC_TYPE: Record<string, string> = {
  virtio: "paravirtual", e1000: "e1000", rtl8139: "rtl8139", ne2k_pci: "ne2k_pci", ne2k_isa: "ne2k_isa",
  pcnet: "pcnet", i82551: "i82551", i82557b: "i82557b", i82559er: "i82559er",
};
const DISK_CACHE = ["default", "none", "writethrough", "writeback"];
const DISK_AIO = ["threads", "native", "io_uring"];
const DISK_DISCARD = ["unmap", "ignore"];

/** Which parts of the document the mapping has read: elements, and per element its attributes. */
class Reading {
  private readonly read = new Map<XmlElement, Set<string>>();
  private readonly whole = new Set<XmlElement>();

  /** Marks the element, and the named attributes, as mapped (its text is then mapped too). */
  take(el: XmlElement | undefined, ...attrs: string[]): XmlElement | undefined {
    if (!el) return undefined;
    const set = this.read.get(el) ?? new Set<string>();
    for (const a of attrs) set.add(a);
    this.read.set(el, set);
    return el;
  }

  /** Marks the element with everything inside it (it says nothing Corral's guest would see). */
  takeAll(el: XmlElement | undefined): void {
    if (el) this.whole.add(el);
  }

  /** What was not read, as `/domain/devices/sound`, `/domain/devices/graphics[2]/@port`. */
  unread(root: XmlElement): string[] {
    const out: string[] = [];
    const walk = (el: XmlElement, path: string) => {
      if (this.whole.has(el)) return;
      const attrs = this.read.get(el);
      if (!attrs) {
        out.push(path);
        return;
      }
      for (const a of Object.keys(el.attrs)) if (!attrs.has(a) && !a.startsWith("xmlns")) out.push(`${path}/@${a}`);
      const kids = elements(el);
      for (const k of kids) {
        const same = kids.filter((s) => s.name === k.name);
        walk(k, `${path}/${k.name}${same.length > 1 ? `[${same.indexOf(k) + 1}]` : ""}`);
      }
    };
    walk(root, `/${root.name}`);
    return out;
  }
}

export interface KvmDomainOptions {
  /** The VM's network_port, when it has one: a VNC port equal to it is honoured, not unmapped. */
  networkPort?: number | null;
}

/** Maps a domain XML (already checked by parseDomainXml) onto a kvm instance's parameters. */
export function kvmDomain(xml: string, o: KvmDomainOptions = {}): KvmDomain {
  const root = parseXml(xml);
  const r = new Reading();
  const hv: ParamDict = {};
  const origins: Record<string, string> = {};
  const set = (key: string, value: string | boolean | number, from: string) => {
    hv[key] = value;
    origins[key] = from;
  };
  /** One value for the whole instance from several devices (Ganeti has one disk_type, ...). */
  const setOnce = (key: string, value: string | boolean | number, from: string, what: string) => {
    if (key in hv && hv[key] !== value) {
      throw new DomainXmlError(`${what} differ (${String(hv[key])} at ${origins[key]}, ${String(value)} at ${from}); a Corral kvm instance has one ${key} for all of them`);
    }
    if (!(key in hv)) set(key, value, from);
  };

  r.take(root, "type", "id");
  for (const name of ["name", "uuid", "description", "title"]) r.take(child(root, name));
  // Metadata is for applications; it never reaches the guest.
  r.takeAll(child(root, "metadata"));
  r.take(child(root, "memory"), "unit");
  r.take(child(root, "currentMemory"), "unit");

  const vcpu = r.take(child(root, "vcpu"));
  if (vcpu) {
    if ((vcpu.attrs.placement ?? "static") === "static") r.take(vcpu, "placement");
    if (vcpu.attrs.cpuset !== undefined) {
      r.take(vcpu, "cpuset");
      set("cpu_mask", vcpu.attrs.cpuset, "/domain/vcpu/@cpuset");
    }
  }
  const vcpus = Number(textOf(vcpu) ?? "1");

  mapOs(root, r, set);

  const features = r.take(child(root, "features"));
  set("acpi", child(features, "acpi") !== undefined, "/domain/features/acpi");
  r.take(child(features, "acpi"));
  // QEMU's x86 machines have an APIC and PAE (x86_64 CPUs) without being asked.
  r.take(child(features, "apic"));
  r.take(child(features, "pae"));

  mapCpu(root, r, set, vcpus);

  const clock = child(root, "clock");
  if (clock) {
    const offset = clock.attrs.offset ?? "utc";
    if (offset === "utc") r.take(clock, "offset");
    else if (offset === "localtime") {
      r.take(clock, "offset");
      set("use_localtime", true, "/domain/clock/@offset");
    }
  }
  const lifecycle = (name: string, values: Record<string, () => void>) => {
    const el = child(root, name);
    const act = values[textOf(el) ?? ""];
    if (el && act) {
      r.take(el);
      act();
    }
  };
  lifecycle("on_poweroff", { destroy: () => {} });
  lifecycle("on_crash", { destroy: () => {} });
  lifecycle("on_reboot", {
    restart: () => set("reboot_behavior", "reboot", "/domain/on_reboot"),
    destroy: () => set("reboot_behavior", "exit", "/domain/on_reboot"),
  });

  const devices = r.take(child(root, "devices"));
  const emulator = r.take(child(devices, "emulator"));
  if (emulator) set("kvm_path", textOf(emulator) ?? "", "/domain/devices/emulator");
  for (const el of elements(devices)) r.takeAll(child(el, "alias")); // runtime names of a live domain

  const disks = childrenNamed(devices, "disk");
  disks.forEach((d, i) => mapDisk(d, i, indexed("disk", i, disks.length), r, setOnce));
  const interfaces = childrenNamed(devices, "interface");
  interfaces.forEach((n, i) => mapInterface(n, i, indexed("interface", i, interfaces.length), r, setOnce));
  if (mapConsoles(devices, r, set)) {
    // Corral appends the serial console to the kernel's command line, as Ganeti does; a
    // command line that already ends with it (Corral's own XML does) must not get it twice.
    set("kernel_args", String(hv.kernel_args).replace(/(^| )console=ttyS0,38400$/, ""), "/domain/os/cmdline");
  }
  const vnc = mapGraphics(devices, r, set, o.networkPort ?? null);

  for (const video of childrenNamed(devices, "video")) {
    // With VNC, Corral's QEMU has a standard VGA card, which is what <model type='vga'> asks.
    const model = child(video, "model");
    if (vnc && model?.attrs.type === "vga" && elements(model).length === 0) {
      r.take(video);
      r.take(model, "type", "vram", "heads", "primary");
    }
  }
  for (const input of childrenNamed(devices, "input")) {
    // The PC's own PS/2 keyboard and mouse are there whatever the XML says.
    if ((input.attrs.bus ?? "ps2") === "ps2" && (input.attrs.type === "mouse" || input.attrs.type === "keyboard")) r.take(input, "type", "bus");
  }
  for (const c of childrenNamed(devices, "controller")) {
    // What QEMU's pc machine has anyway (its PCI root, its IDE controller at its fixed address).
    const builtin = (c.attrs.type === "pci" && c.attrs.model === "pci-root") || (c.attrs.type === "ide" && (c.attrs.index ?? "0") === "0") || (c.attrs.type === "usb" && c.attrs.model === "none");
    if (builtin) r.takeAll(c);
  }
  for (const b of childrenNamed(devices, "memballoon")) if (b.attrs.model === "none") r.take(b, "model");

  return { hvparams: hv, origins, unmapped: r.unread(root) };
}

/** `/domain/devices/disk[2]`, or `/domain/devices/disk` when there is one: as unread() names it. */
const indexed = (name: string, i: number, count: number) => `/domain/devices/${name}${count > 1 ? `[${i + 1}]` : ""}`;

type Setter = (key: string, value: string | boolean | number, from: string) => void;
type OnceSetter = (key: string, value: string | boolean | number, from: string, what: string) => void;

function mapOs(root: XmlElement, r: Reading, set: Setter): void {
  const os = r.take(child(root, "os"));
  const type = r.take(child(os, "type"), "arch", "machine");
  const osType = textOf(type) ?? "hvm";
  if (osType !== "hvm") throw new DomainXmlError(`<os><type>${osType}</type>: Corral's kvm hypervisor runs full virtual machines (hvm) only`);
  const arch = type?.attrs.arch ?? "x86_64";
  if (arch !== "x86_64" && arch !== "i686") throw new DomainXmlError(`<os><type arch='${arch}'>: Corral's kvm hypervisor runs x86 guests (x86_64, i686) only`);
  const machine = type?.attrs.machine;
  if (machine !== undefined) {
    if (!MACHINE_RE.test(machine)) throw new DomainXmlError(`<os><type machine='${machine}'> is not an x86 machine type QEMU knows (pc, q35, pc-i440fx-X.Y, pc-q35-X.Y, ...)`);
    set("machine_version", machine, "/domain/os/type/@machine");
  }
  const kernel = r.take(child(os, "kernel"));
  set("kernel_path", textOf(kernel) ?? "", "/domain/os/kernel");
  set("initrd_path", textOf(r.take(child(os, "initrd"))) ?? "", "/domain/os/initrd");
  // libvirt's <cmdline> is the whole command line: there is no separate root= to add.
  set("kernel_args", textOf(r.take(child(os, "cmdline"))) ?? "", "/domain/os/cmdline");
  set("root_path", "", "/domain/os/cmdline");
  const [first] = childrenNamed(os, "boot");
  const order = first ? BOOT_ORDER[first.attrs.dev ?? ""] : "disk";
  if (first && order === undefined) throw new DomainXmlError(`<os><boot dev='${first.attrs.dev ?? ""}'> is not a boot device (hd, cdrom, network, fd)`);
  // Ganeti boots from one device; further <boot> entries stay unmapped.
  if (first) r.take(first, "dev");
  set("boot_order", order, "/domain/os/boot/@dev");
}

function mapCpu(root: XmlElement, r: Reading, set: Setter, vcpus: number): void {
  const cpu = child(root, "cpu");
  if (!cpu) return;
  const mode = cpu.attrs.mode ?? "custom";
  const topo = child(cpu, "topology");
  if (topo) {
    r.take(cpu);
    r.take(topo, "sockets", "cores", "threads");
    const [s, c, t] = ["sockets", "cores", "threads"].map((k) => Number(topo.attrs[k] ?? "1"));
    // QEMU's classic -smp N is N sockets of one core; anything else needs the cpu_* parameters.
    if (!(s === vcpus && c === 1 && t === 1)) {
      set("cpu_sockets", s, "/domain/cpu/topology/@sockets");
      set("cpu_cores", c, "/domain/cpu/topology/@cores");
      set("cpu_threads", t, "/domain/cpu/topology/@threads");
    }
  }
  if (mode === "host-passthrough") {
    r.take(cpu, "mode");
    set("cpu_type", "host", "/domain/cpu/@mode");
  } else if (mode === "custom") {
    const model = child(cpu, "model");
    const name = textOf(model);
    if (!model || !name) return;
    r.take(cpu, "mode", "match");
    r.take(model, "fallback");
    const flags: string[] = [];
    for (const f of childrenNamed(cpu, "feature")) {
      const sign = { require: "+", force: "+", disable: "-", forbid: "-" }[f.attrs.policy ?? "require"];
      if (sign === undefined || !f.attrs.name) continue;
      r.take(f, "policy", "name");
      flags.push(`${sign}${f.attrs.name}`);
    }
    set("cpu_type", [name, ...flags].join(","), "/domain/cpu/model");
  }
}

function mapDisk(d: XmlElement, i: number, at: string, r: Reading, setOnce: OnceSetter): void {
  if ((d.attrs.device ?? "disk") !== "disk") return;
  const type = d.attrs.type ?? "file";
  const source = child(d, "source");
  if (type === "file") r.take(source, "file");
  else if (type === "network" && source?.attrs.protocol === "rbd") r.take(source, "protocol", "name");
  else return; // vm.ts refuses disks Corral cannot back
  r.take(d, "type", "device");
  const driver = child(d, "driver");
  if (driver) {
    r.take(driver, "name");
    const format = driver.attrs.type ?? "raw";
    if (format !== "raw") throw new DomainXmlError(`disk ${i} is in ${format} format: Corral's kvm disks are raw (convert it with qemu-img convert -O raw)`);
    r.take(driver, "type");
    const value = (attr: string, allowed: string[], key: string) => {
      const v = driver.attrs[attr];
      if (v === undefined) return;
      if (!allowed.includes(v)) throw new DomainXmlError(`disk ${i}: <driver ${attr}='${v}'> has no Ganeti ${key} (${allowed.join(", ")})`);
      r.take(driver, attr);
      setOnce(key, v, `${at}/driver/@${attr}`, `the disks' ${attr} settings`);
    };
    value("cache", DISK_CACHE, "disk_cache");
    value("io", DISK_AIO, "disk_aio");
    value("discard", DISK_DISCARD, "disk_discard");
  }
  const target = r.take(child(d, "target"), "dev");
  const bus = target?.attrs.bus;
  if (bus !== undefined) {
    const diskType = DISK_TYPE[bus];
    if (diskType === undefined) throw new DomainXmlError(`disk ${i}: <target bus='${bus}'> has no Ganeti disk_type (virtio, ide, scsi, sd)`);
    r.take(target, "bus");
    setOnce("disk_type", diskType, `${at}/target/@bus`, "the disks' buses");
  }
  r.take(child(d, "readonly"));
}

function mapInterface(n: XmlElement, i: number, at: string, r: Reading, setOnce: OnceSetter): void {
  if (n.attrs.type !== "bridge") return; // reported: only bridged interfaces become NICs
  const source = child(n, "source");
  if (!source?.attrs.bridge) throw new DomainXmlError(`interface ${i} of type bridge has no <source bridge='...'/>`);
  r.take(n, "type");
  r.take(source, "bridge");
  r.take(child(n, "mac"), "address");
  const model = child(n, "model");
  // Without a <model>, libvirt gives an x86 guest an rtl8139.
  const name = model?.attrs.type ?? "rtl8139";
  const nicType = NIC_TYPE[name];
  if (nicType === undefined) throw new DomainXmlError(`interface ${i}: <model type='${name}'> has no Ganeti nic_type (${Object.keys(NIC_TYPE).join(", ")})`);
  r.take(model, "type");
  setOnce("nic_type", nicType, `${at}/model/@type`, "the interfaces' models");
  const driver = child(n, "driver");
  if (driver) {
    if (driver.attrs.name !== undefined) {
      r.take(driver, "name");
      setOnce("vhost_net", driver.attrs.name === "vhost", `${at}/driver/@name`, "the interfaces' drivers");
    }
    if (driver.attrs.queues !== undefined) {
      r.take(driver, "queues");
      setOnce("virtio_net_queues", Number(driver.attrs.queues), `${at}/driver/@queues`, "the interfaces' queue counts");
    }
  }
}

/** The first serial port (and the console that shows it) is Corral's serial console; whether there is one. */
function mapConsoles(devices: XmlElement | undefined, r: Reading, set: Setter): boolean {
  const [serial] = childrenNamed(devices, "serial");
  const consoles = childrenNamed(devices, "console");
  const serialConsole = consoles.find((c) => (child(c, "target")?.attrs.type ?? "serial") === "serial");
  const port = serial ?? serialConsole;
  set("serial_console", port !== undefined, "/domain/devices/serial");
  for (const el of [serial, serialConsole]) {
    if (!el) continue;
    // Corral's host side is its own socket and log; a pty is what libvirt would give instead.
    r.take(el, ...(el.attrs.type === "pty" ? ["type"] : []));
    const target = child(el, "target");
    if (target && (target.attrs.port ?? "0") === "0") {
      r.take(target, "type", "port");
      const model = child(target, "model");
      if (model?.attrs.name === "isa-serial") r.take(model, "name");
    }
  }
  return port !== undefined;
}

/** The first VNC display; its port is Corral's (network_port), so an explicit one is unmapped. */
function mapGraphics(devices: XmlElement | undefined, r: Reading, set: Setter, networkPort: number | null): boolean {
  const vnc = childrenNamed(devices, "graphics").find((g) => g.attrs.type === "vnc");
  if (!vnc) {
    set("vnc_bind_address", "", "/domain/devices/graphics");
    return false;
  }
  if (vnc.attrs.passwd !== undefined) {
    throw new DomainXmlError("<graphics type='vnc' passwd='...'>: Corral's kvm hypervisor does not implement VNC passwords (vnc_password_file); remove it or use no VNC");
  }
  r.take(vnc, "type", "autoport");
  const port = vnc.attrs.port;
  if (port === undefined || port === "-1" || vnc.attrs.autoport === "yes" || port === String(networkPort)) r.take(vnc, "port");
  if (vnc.attrs.keymap !== undefined) {
    r.take(vnc, "keymap");
    set("keymap", vnc.attrs.keymap, "/domain/devices/graphics/@keymap");
  }
  // libvirt's default listen address (qemu.conf vnc_listen) is the loopback.
  let bind = vnc.attrs.listen ?? "127.0.0.1";
  if (vnc.attrs.listen !== undefined) r.take(vnc, "listen");
  const listen = child(vnc, "listen");
  if (listen) {
    const type = listen.attrs.type ?? "address";
    if (type === "address") {
      bind = listen.attrs.address ?? bind;
      r.take(listen, "type", "address");
    } else if (type === "socket" && listen.attrs.socket) {
      bind = listen.attrs.socket;
      r.take(listen, "type", "socket");
    } else if (type === "none") {
      bind = "";
      r.take(listen, "type");
    }
  }
  set("vnc_bind_address", bind, "/domain/devices/graphics/@listen");
  return bind !== "";
}

/** The XML's kvm parameters Corral refuses, each naming where in the XML it came from. */
export function kvmDomainProblems(domain: KvmDomain): string[] {
  return hypervisorParamProblems("kvm", domain.hvparams).map((p) => {
    const key = /^Parameter '([^']+)'/.exec(p)?.[1];
    const from = key ? domain.origins[key] : undefined;
    return from ? `${p} (from ${from})` : p;
  });
}

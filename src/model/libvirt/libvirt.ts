// A PVC VM is an instance defined from a libvirt domain XML: this reads what Corral needs
// from the XML (name, uuid, memory, vCPUs, disks, NICs) plus what PVC shows, and writes a
// domain XML for instances that were made without one (over RAPI).

import { randomUUID } from "node:crypto";
import type { ParamDict } from "../objects.ts";
import { child, childrenNamed, elements, h, parseXml, serializeXml, setText, textOf, XmlError, type XmlElement } from "./xml.ts";

export interface VmDisk {
  /** "rbd" (network disk: its protocol), "file", "block". */
  type: string;
  /** "pool/volume" for rbd, the path for file and block disks. */
  name: string;
  dev: string;
  bus: string;
  /** <readonly/>: the instance's disk is read-only. */
  readonly?: boolean;
}

export interface VmNic {
  type: string;
  mac: string;
  /** The bridge (or network) the interface plugs into, e.g. "vmbr100". */
  source: string;
  model: string;
}

export interface VmDefinition {
  name: string;
  uuid: string;
  description: string | null;
  /** <domain type=...>: kvm, qemu, xen, ... ("" when absent). */
  domainType: string;
  memory: number; // MiB
  /** <currentMemory>, else the memory (MiB): the instance's minmem. */
  currentMemory: number;
  vcpus: number;
  /** "sockets/cores/threads", or null without a <topology>. */
  topology: string | null;
  type: string;
  arch: string;
  machine: string;
  console: string;
  emulator: string;
  features: string[];
  disks: VmDisk[];
  nics: VmNic[];
  controllers: { type: string; model: string }[];
}

export class DomainXmlError extends Error {}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** Instance names Corral accepts (host names). */
export const VM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

/** libvirt's memory units, in bytes (plain "k", "M"... are powers of 1024, as libvirt has them). */
const UNIT_BYTES: Record<string, number> = {
  b: 1, bytes: 1,
  kb: 1e3, k: 1024, kib: 1024,
  mb: 1e6, m: 1024 ** 2, mib: 1024 ** 2,
  gb: 1e9, g: 1024 ** 3, gib: 1024 ** 3,
  tb: 1e12, t: 1024 ** 4, tib: 1024 ** 4,
};

function memoryMiB(el: XmlElement | undefined, what = "memory"): number {
  const text = textOf(el);
  if (!el || !text || !/^\d+$/.test(text)) throw new DomainXmlError(`<${what}> must hold a whole number`);
  const unit = (el.attrs.unit ?? "KiB").toLowerCase();
  const factor = UNIT_BYTES[unit];
  if (factor === undefined) throw new DomainXmlError(`unknown memory unit '${el.attrs.unit}'`);
  const mib = Math.ceil((Number(text) * factor) / 1024 ** 2);
  if (mib < 1) throw new DomainXmlError(`<${what}> must be at least 1 MiB`);
  return mib;
}

/** Reads a domain XML; throws DomainXmlError saying what is wrong. */
export function parseDomainXml(xml: string): VmDefinition {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    throw new DomainXmlError(err instanceof XmlError ? err.message : String(err));
  }
  if (root.name !== "domain") throw new DomainXmlError(`the root element is <${root.name}>, not <domain>`);
  const name = textOf(child(root, "name")) ?? "";
  if (!VM_NAME_RE.test(name)) throw new DomainXmlError(`<name> '${name}' is not a valid VM name`);
  // Like libvirt, a domain defined without a <uuid> gets a random one.
  const givenUuid = textOf(child(root, "uuid"));
  const uuid = givenUuid === undefined ? randomUUID() : givenUuid.toLowerCase();
  if (!UUID_RE.test(uuid)) throw new DomainXmlError(`<uuid> '${uuid}' is not a UUID`);
  const vcpuText = textOf(child(root, "vcpu")) ?? "1";
  if (!/^\d+$/.test(vcpuText) || Number(vcpuText) < 1) throw new DomainXmlError("<vcpu> must be a positive whole number");
  const topo = child(child(root, "cpu"), "topology");
  const os = child(root, "os");
  const osType = child(os, "type");
  const devices = child(root, "devices");

  const disks: VmDisk[] = childrenNamed(devices, "disk")
    .filter((d) => (d.attrs.device ?? "disk") === "disk")
    .map((d, i) => {
      const src = child(d, "source");
      const target = child(d, "target");
      const type = d.attrs.type ?? "file";
      const disk: VmDisk = {
        type: type === "network" ? (src?.attrs.protocol ?? "network") : type,
        name: type === "network" ? (src?.attrs.name ?? "") : (src?.attrs.file ?? src?.attrs.dev ?? ""),
        dev: target?.attrs.dev ?? "",
        bus: target?.attrs.bus ?? "",
        readonly: child(d, "readonly") !== undefined,
      };
      if (disk.name === "") throw new DomainXmlError(`disk ${i} has no source`);
      return disk;
    });
  const nics: VmNic[] = childrenNamed(devices, "interface").map((n, i) => {
    const mac = child(n, "mac")?.attrs.address ?? "";
    if (!MAC_RE.test(mac)) throw new DomainXmlError(`interface ${i} needs a <mac address='..'/> (got '${mac}')`);
    const src = child(n, "source");
    return {
      type: n.attrs.type ?? "",
      mac: mac.toLowerCase(),
      source: src?.attrs.bridge ?? src?.attrs.network ?? src?.attrs.dev ?? "",
      model: child(n, "model")?.attrs.type ?? "",
    };
  });
  const memory = memoryMiB(child(root, "memory"));
  const current = child(root, "currentMemory");
  // As libvirt does, a current memory above the maximum is the maximum.
  const currentMemory = current ? Math.min(memoryMiB(current, "currentMemory"), memory) : memory;
  return {
    name,
    uuid: uuid.includes("-") ? uuid : `${uuid.slice(0, 8)}-${uuid.slice(8, 12)}-${uuid.slice(12, 16)}-${uuid.slice(16, 20)}-${uuid.slice(20)}`,
    description: textOf(child(root, "description")) ?? null,
    domainType: root.attrs.type ?? "",
    memory,
    currentMemory,
    vcpus: Number(vcpuText),
    topology: topo ? `${topo.attrs.sockets ?? "1"}/${topo.attrs.cores ?? "1"}/${topo.attrs.threads ?? "1"}` : null,
    type: textOf(osType) ?? "",
    arch: osType?.attrs.arch ?? "",
    machine: osType?.attrs.machine ?? "",
    console: child(devices, "console")?.attrs.type ?? "",
    emulator: textOf(child(devices, "emulator")) ?? "",
    features: elements(child(root, "features")).map((f) => f.name),
    disks,
    nics,
    controllers: childrenNamed(devices, "controller").map((c) => ({ type: c.attrs.type ?? "", model: c.attrs.model ?? "none" })),
  };
}

/** What a domain XML must say about a VM that Corral's config decides. */
export interface DomainFacts {
  name: string;
  uuid: string;
  memory: number;
  /** The instance's minmem (<currentMemory>); the memory when not given. */
  currentMemory?: number;
  vcpus: number;
  disks: VmDisk[];
  nics: VmNic[];
  /** For a kvm instance: what its QEMU runs with. */
  kvm?: KvmFacts;
}

export interface KvmFacts {
  /** The instance's filled hvparams. */
  hvparams: ParamDict;
  /** The VNC port (Ganeti's network_port), null when none was allocated. */
  networkPort: number | null;
}

/**
 * The VM's XML as PVC returns it: the stored document with name, memory and vCPUs brought in
 * line with the instance (which RAPI may have changed), or a new document for an instance
 * that never had one.
 */
export function domainXml(stored: string | undefined, facts: DomainFacts): string {
  if (stored !== undefined) {
    let root: XmlElement;
    try {
      root = parseXml(stored);
    } catch {
      return stored;
    }
    let changed = false;
    const sync = (name: string, value: string, attrs?: Record<string, string>) => {
      const el = child(root, name);
      if (!el) return;
      const current = name === "memory" || name === "currentMemory" ? String(safeMiB(el)) : textOf(el);
      if (current === value) return;
      setText(el, value);
      if (attrs) el.attrs = { ...el.attrs, ...attrs };
      changed = true;
    };
    sync("name", facts.name);
    sync("memory", String(facts.memory), { unit: "MiB" });
    sync("currentMemory", String(facts.currentMemory ?? facts.memory), { unit: "MiB" });
    sync("vcpu", String(facts.vcpus));
    return changed ? serializeXml(root) : stored;
  }
  if (facts.kvm) return kvmDomainXml(facts, facts.kvm);
  const disks = facts.disks.map((d) =>
    d.type === "rbd"
      ? h("disk", { type: "network", device: "disk" }, h("source", { protocol: "rbd", name: d.name }), h("target", { dev: d.dev, bus: d.bus }))
      : h("disk", { type: d.type === "block" ? "block" : "file", device: "disk" },
        h("source", d.type === "block" ? { dev: d.name } : { file: d.name }), h("target", { dev: d.dev, bus: d.bus })));
  const nics = facts.nics.map((n) =>
    h("interface", { type: "bridge" }, h("mac", { address: n.mac }), h("source", { bridge: n.source }), h("model", { type: n.model })));
  return serializeXml(
    h("domain", { type: "kvm" },
      h("name", {}, facts.name),
      h("uuid", {}, facts.uuid),
      h("memory", { unit: "MiB" }, String(facts.memory)),
      h("vcpu", {}, String(facts.vcpus)),
      h("os", {}, h("type", { arch: "x86_64", machine: "pc" }, "hvm")),
      h("devices", {}, ...disks, ...nics)),
  );
}

/** Ganeti's kvm parameter values → libvirt's words (the inverse of the XML mapping). */
const LIBVIRT_BOOT: Record<string, string> = { disk: "hd", cdrom: "cdrom", network: "network", floppy: "fd" };
const LIBVIRT_NIC_MODEL: Record<string, string> = { paravirtual: "virtio" };

/** A kvm instance as libvirt would describe the QEMU Corral runs for it. */
function kvmDomainXml(facts: DomainFacts, kvm: KvmFacts): string {
  const hv = kvm.hvparams;
  const str = (key: string) => (typeof hv[key] === "string" ? (hv[key] as string) : "");
  const on = (key: string, byDefault: boolean) => (typeof hv[key] === "boolean" ? (hv[key] as boolean) : byDefault);
  const kernel = str("kernel_path");
  // What the guest kernel is given: root=, kernel_args, then the serial console, as Ganeti builds it.
  const cmdline = [
    str("root_path") ? `root=${str("root_path")}` : "",
    str("kernel_args"),
    on("serial_console", true) ? `console=ttyS0,${typeof hv.serial_speed === "number" ? hv.serial_speed : 38400}` : "",
  ].filter((p) => p !== "").join(" ");
  const os = h("os", {},
    h("type", { arch: "x86_64", machine: str("machine_version") || "pc" }, "hvm"),
    kernel ? h("kernel", {}, kernel) : undefined,
    kernel && str("initrd_path") ? h("initrd", {}, str("initrd_path")) : undefined,
    kernel ? h("cmdline", {}, cmdline) : undefined,
    h("boot", { dev: LIBVIRT_BOOT[str("boot_order")] ?? "hd" }));
  const cpuType = str("cpu_type");
  const [cpuModel, ...cpuFlags] = cpuType.split(",");
  const cpu = cpuType === "" ? undefined
    : cpuModel === "host" ? h("cpu", { mode: "host-passthrough" })
    : h("cpu", { mode: "custom", match: "exact" }, h("model", {}, cpuModel),
      ...cpuFlags.map((f) => h("feature", { policy: f.startsWith("-") ? "disable" : "require", name: f.replace(/^[+-]/, "") })));
  const virtio = (str("disk_type") || "paravirtual") === "paravirtual";
  const driverAttrs: Record<string, string> = { name: "qemu", type: "raw" };
  if (str("disk_cache") && str("disk_cache") !== "default") driverAttrs.cache = str("disk_cache");
  if (str("disk_aio")) driverAttrs.io = str("disk_aio");
  if (str("disk_discard") && str("disk_discard") !== "default") driverAttrs.discard = str("disk_discard");
  const disks = facts.disks.map((d, i) => {
    const target = h("target", { dev: `${virtio ? "vd" : "hd"}${String.fromCharCode(97 + i)}`, bus: virtio ? "virtio" : "ide" });
    const readonly = d.readonly ? h("readonly") : undefined;
    return d.type === "rbd"
      ? h("disk", { type: "network", device: "disk" }, h("driver", driverAttrs), h("source", { protocol: "rbd", name: d.name }), target, readonly)
      : h("disk", { type: "file", device: "disk" }, h("driver", driverAttrs), h("source", { file: d.name }), target, readonly);
  });
  const nicType = str("nic_type") || "paravirtual";
  const nics = facts.nics.map((n) =>
    h("interface", { type: "bridge" }, h("mac", { address: n.mac }), h("source", { bridge: n.source }),
      h("model", { type: LIBVIRT_NIC_MODEL[nicType] ?? nicType })));
  const serial = on("serial_console", true)
    ? [h("serial", { type: "pty" }, h("target", { port: "0" })), h("console", { type: "pty" }, h("target", { type: "serial", port: "0" }))]
    : [];
  const bind = str("vnc_bind_address");
  const vnc = bind === "" ? []
    : bind.startsWith("/") ? [h("graphics", { type: "vnc" }, h("listen", { type: "socket", socket: bind }))]
    : kvm.networkPort === null ? []
    : [h("graphics", { type: "vnc", port: String(kvm.networkPort), autoport: "no", listen: bind }, h("listen", { type: "address", address: bind }))];
  return serializeXml(
    h("domain", { type: "kvm" },
      h("name", {}, facts.name),
      h("uuid", {}, facts.uuid),
      h("memory", { unit: "MiB" }, String(facts.memory)),
      h("currentMemory", { unit: "MiB" }, String(facts.currentMemory ?? facts.memory)),
      h("vcpu", {}, String(facts.vcpus)),
      os,
      on("acpi", true) ? h("features", {}, h("acpi")) : undefined,
      cpu,
      h("on_reboot", {}, str("reboot_behavior") === "exit" ? "destroy" : "restart"),
      h("devices", {},
        h("emulator", {}, str("kvm_path") || "/usr/bin/kvm"),
        ...disks, ...nics, ...serial, ...vnc,
        ...(vnc.length > 0 ? [h("video", {}, h("model", { type: "vga" }))] : []))),
  );
}

function safeMiB(el: XmlElement): number | undefined {
  try {
    return memoryMiB(el);
  } catch {
    return undefined;
  }
}

// A PVC VM is an instance defined from a libvirt domain XML: this reads what Corral needs
// from the XML (name, uuid, memory, vCPUs, disks, NICs) plus what PVC shows, and writes a
// domain XML for instances that were made without one (over RAPI).

import { randomUUID } from "node:crypto";
import { child, childrenNamed, elements, h, parseXml, serializeXml, setText, textOf, XmlError, type XmlElement } from "./xml.ts";

export interface VmDisk {
  /** "rbd" (network disk: its protocol), "file", "block". */
  type: string;
  /** "pool/volume" for rbd, the path for file and block disks. */
  name: string;
  dev: string;
  bus: string;
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
  memory: number; // MiB
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

function memoryMiB(el: XmlElement | undefined): number {
  const text = textOf(el);
  if (!el || !text || !/^\d+$/.test(text)) throw new DomainXmlError("<memory> must hold a whole number");
  const unit = (el.attrs.unit ?? "KiB").toLowerCase();
  const factor = UNIT_BYTES[unit];
  if (factor === undefined) throw new DomainXmlError(`unknown memory unit '${el.attrs.unit}'`);
  const mib = Math.ceil((Number(text) * factor) / 1024 ** 2);
  if (mib < 1) throw new DomainXmlError("<memory> must be at least 1 MiB");
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
  return {
    name,
    uuid: uuid.includes("-") ? uuid : `${uuid.slice(0, 8)}-${uuid.slice(8, 12)}-${uuid.slice(12, 16)}-${uuid.slice(16, 20)}-${uuid.slice(20)}`,
    description: textOf(child(root, "description")) ?? null,
    memory: memoryMiB(child(root, "memory")),
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
  vcpus: number;
  disks: VmDisk[];
  nics: VmNic[];
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
    sync("currentMemory", String(facts.memory), { unit: "MiB" });
    sync("vcpu", String(facts.vcpus));
    return changed ? serializeXml(root) : stored;
  }
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

function safeMiB(el: XmlElement): number | undefined {
  try {
    return memoryMiB(el);
  } catch {
    return undefined;
  }
}

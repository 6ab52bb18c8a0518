// The QEMU command line of a kvm instance, built from the instance's filled hvparams as a pure
// function, plus the device layout (block node names, device ids, PCI slots, tap names) the
// driver needs later for resize, hotplug and migration. Ganeti's kvm hvparam names and
// meanings; QEMU 7.2's -blockdev/-device/-netdev JSON syntax (no comma escaping of paths).

import { createHash } from "node:crypto";
import type { AttachedDisk, DiskSpec, InstanceSpec, NicSpec } from "../../../rpc/calls.ts";
import type { ParamDict } from "../../../model/objects.ts";

export type Accelerator = "kvm" | "tcg";

/** Files of one instance's QEMU (all inside its directory under the agent's state dir). */
export interface KvmPaths {
  pidfile: string;
  qmp: string;
  serial: string;
  /** The private VNC display (a unix socket) the agent's console channel connects to, when VNC is on. */
  vnc: string;
  /** Console history: the serial chardev's logfile. */
  console: string;
  /** QEMU's own log (-D). */
  log: string;
}

/** A disk as plugged into the domain. */
export interface DiskSlot {
  uuid: string;
  path: string;
  node: string;
  device: string;
  /** PCI slot on pci.0 (virtio), or null (IDE). */
  slot: number | null;
}

/** A NIC as plugged into the domain. */
export interface NicSlot {
  uuid: string;
  mac: string;
  tap: string;
  netdev: string;
  device: string;
  slot: number;
}

export interface KvmLayout {
  disks: DiskSlot[];
  nics: NicSlot[];
}

export interface CommandLineInput {
  instance: InstanceSpec;
  memory: number;
  vcpus: number;
  disks: AttachedDisk[];
  /** Tap device of each NIC, in the instance's NIC order. */
  taps: string[];
  paused: boolean;
  paths: KvmPaths;
  /** Accelerator when kvm_flag is "" (never guessed from /dev/kvm). */
  defaultAccelerator: Accelerator;
  /** Target of a migration: wait for `migrate-incoming`. */
  incoming?: boolean;
  /** PCI slots to keep (a migration target reproduces the source's layout), by disk uuid / NIC mac. */
  slots?: Record<string, number>;
}

export interface CommandLine {
  binary: string;
  args: string[];
  layout: KvmLayout;
}

/** Ganeti's default kvm_path; on Debian a link to qemu-system-x86_64 that only prefers KVM (an explicit -accel wins). */
export const DEFAULT_KVM_PATH = "/usr/bin/kvm";
const VNC_BASE_PORT = 5900;
/** pci.0 slots 0 and 1 are the host and ISA bridges on `pc`; 2 is kept for the VGA of VNC. */
export const FIRST_PCI_SLOT = 3;
/** 31 is q35's LPC/SATA function block; left free on pc too, so one layout serves both. */
export const LAST_PCI_SLOT = 30;

/** The root PCI bus: pci.0 on `pc` machines, pcie.0 on q35 ones (devices sit on it directly). */
export function pciBus(hvparams: ParamDict): string {
  return /^(pc-)?q35/.test(str(hvparams, "machine_version")) ? "pcie.0" : "pci.0";
}

/** Refused input (unsupported parameter value, missing disk path): the start fails with this message. */
export class KvmConfigError extends Error {
  override name = "KvmConfigError";
}

const BOOT_DEVICE: Record<string, string> = { disk: "c", cdrom: "d", floppy: "a", network: "n" };
const NIC_MODELS: Record<string, string> = { paravirtual: "virtio-net-pci", e1000: "e1000", rtl8139: "rtl8139" };

const str = (params: ParamDict, key: string): string => (typeof params[key] === "string" ? (params[key] as string) : "");
const bool = (params: ParamDict, key: string, fallback: boolean): boolean => (typeof params[key] === "boolean" ? (params[key] as boolean) : fallback);

/** Up to 20 hex digits of a uuid: block node names must stay under 32 characters. */
function shortId(uuid: string): string {
  const hex = uuid.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  return hex.length >= 8 ? hex.slice(0, 20) : createHash("sha256").update(uuid).digest("hex").slice(0, 20);
}

export function diskIds(uuid: string): { node: string; device: string } {
  const id = shortId(uuid);
  return { node: `disk-${id}`, device: `dev-disk-${id}` };
}

export function nicIds(nic: Pick<NicSpec, "uuid" | "mac">): { netdev: string; device: string } {
  const id = shortId(nic.uuid || nic.mac);
  return { netdev: `net-${id}`, device: `dev-nic-${id}` };
}

export function accelerator(hvparams: ParamDict, fallback: Accelerator): Accelerator {
  const flag = str(hvparams, "kvm_flag");
  if (flag === "enabled") return "kvm";
  if (flag === "disabled") return "tcg";
  return fallback;
}

/** The -blockdev options of a disk (a raw format node over a file node). */
export function blockdevOptions(hvparams: ParamDict, disk: DiskSpec, path: string): Record<string, unknown> {
  const { node } = diskIds(disk.uuid);
  const cacheMode = str(hvparams, "disk_cache") || "default";
  const cache = cacheMode === "default" ? undefined : { direct: cacheMode === "none", "no-flush": false };
  const discardMode = str(hvparams, "disk_discard") || "default";
  const discard = discardMode === "default" ? undefined : discardMode;
  const aio = str(hvparams, "disk_aio") || "threads";
  const file = { driver: "file", filename: path, aio, ...(cache ? { cache } : {}), ...(discard ? { discard } : {}) };
  return { driver: "raw", "node-name": node, "read-only": disk.mode === "ro", ...(cache ? { cache } : {}), ...(discard ? { discard } : {}), file };
}

/** The -device (or device_add) options of a disk; `slot` for virtio, `index` places IDE disks. */
export function diskDeviceOptions(hvparams: ParamDict, disk: DiskSpec, slot: number | null, index: number): Record<string, unknown> {
  const { node, device } = diskIds(disk.uuid);
  const cacheMode = str(hvparams, "disk_cache") || "default";
  const writeCache = cacheMode === "default" ? {} : { "write-cache": cacheMode === "writethrough" ? "off" : "on" };
  const type = str(hvparams, "disk_type") || "paravirtual";
  if (type === "paravirtual") {
    return { driver: "virtio-blk-pci", drive: node, id: device, bus: pciBus(hvparams), addr: pciAddr(slot ?? FIRST_PCI_SLOT), ...writeCache };
  }
  if (type === "ide") {
    if (index > 3) throw new KvmConfigError(`disk_type ide takes at most 4 disks (disk ${index} has no IDE unit left)`);
    return { driver: "ide-hd", drive: node, id: device, bus: `ide.${Math.floor(index / 2)}`, unit: index % 2, ...writeCache };
  }
  throw new KvmConfigError(`disk_type '${type}' is not implemented by Corral's kvm hypervisor (implemented: paravirtual, ide)`);
}

export function diskUsesPci(hvparams: ParamDict): boolean {
  return (str(hvparams, "disk_type") || "paravirtual") === "paravirtual";
}

export function netdevOptions(nic: NicSpec, tap: string): Record<string, unknown> {
  return { type: "tap", id: nicIds(nic).netdev, ifname: tap, script: "no", downscript: "no" };
}

export function nicDeviceOptions(hvparams: ParamDict, nic: NicSpec, slot: number): Record<string, unknown> {
  const type = str(hvparams, "nic_type") || "paravirtual";
  const model = NIC_MODELS[type];
  if (!model) throw new KvmConfigError(`nic_type '${type}' is not implemented by Corral's kvm hypervisor (implemented: ${Object.keys(NIC_MODELS).join(", ")})`);
  const { netdev, device } = nicIds(nic);
  return { driver: model, netdev, mac: nic.mac, id: device, bus: pciBus(hvparams), addr: pciAddr(slot) };
}

/** The NIC's mode (bridged, routed); openvswitch and unknown modes are refused. */
export function nicMode(nic: NicSpec): "bridged" | "routed" {
  const mode = typeof nic.nicparams.mode === "string" ? nic.nicparams.mode : "bridged";
  if (mode === "bridged" || mode === "routed") return mode;
  throw new KvmConfigError(`NIC mode '${mode}' is not implemented by Corral's kvm hypervisor (implemented: bridged, routed)`);
}

export function pciAddr(slot: number): string {
  return `0x${slot.toString(16)}`;
}

/** The lowest PCI slot no device uses. */
export function freePciSlot(used: Iterable<number | null>): number {
  const taken = new Set(used);
  for (let slot = FIRST_PCI_SLOT; slot <= LAST_PCI_SLOT; slot++) if (!taken.has(slot)) return slot;
  throw new KvmConfigError("No free PCI slot left on the root bus");
}

/** The kernel command line: root=, kernel_args, then the serial console (Ganeti's order). */
export function kernelAppend(hvparams: ParamDict): string {
  const parts: string[] = [];
  const root = str(hvparams, "root_path");
  if (root) parts.push(`root=${root}`);
  const args = str(hvparams, "kernel_args");
  if (args) parts.push(args);
  if (bool(hvparams, "serial_console", true)) {
    const speed = typeof hvparams.serial_speed === "number" ? hvparams.serial_speed : 38400;
    parts.push(`console=ttyS0,${speed}`);
  }
  return parts.join(" ");
}

/** The -vnc argument, or null when VNC is off (no bind address or no port). */
export function vncArgument(instance: InstanceSpec): string | null {
  const bind = str(instance.hvparams, "vnc_bind_address");
  if (!bind) return null;
  if (bind.startsWith("/")) return `unix:${bind}`;
  const port = instance.network_port;
  if (port === null) return null;
  if (port < VNC_BASE_PORT) throw new KvmConfigError(`network_port ${port} is not a VNC port (must be at least ${VNC_BASE_PORT})`);
  return `${bind.includes(":") ? `[${bind}]` : bind}:${port - VNC_BASE_PORT}`;
}

/** The chardev of the serial console (query-chardev reports its client under this label). */
export const SERIAL_CHARDEV = "serial0";

/** The -vnc argument of the private display the agent's console channel connects to. */
export function consoleVncArgument(paths: Pick<KvmPaths, "vnc">): string {
  return `unix:${paths.vnc},id=console`;
}

/** Splits like a POSIX shell would (quotes and backslashes), without running one. */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\") {
      if (i + 1 < text.length) word = (word ?? "") + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new KvmConfigError(`kvm_extra has an unterminated ${quote} quote`);
  if (word !== null) words.push(word);
  return words;
}

export function buildCommandLine(input: CommandLineInput): CommandLine {
  const { instance, paths } = input;
  const hv = instance.hvparams;
  const args: string[] = [
    "-name", instance.name,
    ...(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(instance.uuid) ? ["-uuid", instance.uuid] : []),
    "-m", String(input.memory),
    "-smp", String(input.vcpus),
    "-machine", str(hv, "machine_version") || "pc",
    "-accel", accelerator(hv, input.defaultAccelerator),
    ...(str(hv, "cpu_type") ? ["-cpu", str(hv, "cpu_type")] : []),
    "-nodefaults", "-no-user-config",
    "-daemonize", "-pidfile", paths.pidfile,
    "-D", paths.log,
    "-qmp", `unix:${paths.qmp},server=on,wait=off`,
    "-chardev", `socket,id=${SERIAL_CHARDEV},path=${paths.serial},server=on,wait=off,logfile=${paths.console},logappend=on`,
    "-serial", `chardev:${SERIAL_CHARDEV}`,
    "-display", "none",
  ];
  const bootDevice = BOOT_DEVICE[str(hv, "boot_order") || "disk"];
  if (bootDevice) args.push("-boot", `order=${bootDevice}`);
  const kernel = str(hv, "kernel_path");
  if (kernel) {
    args.push("-kernel", kernel);
    if (str(hv, "initrd_path")) args.push("-initrd", str(hv, "initrd_path"));
    args.push("-append", kernelAppend(hv));
  }
  if (!bool(hv, "acpi", true)) args.push("-no-acpi");
  if (bool(hv, "user_shutdown", false)) args.push("-no-shutdown");
  if (str(hv, "reboot_behavior") === "exit") args.push("-no-reboot");
  const vnc = vncArgument(instance);
  if (vnc) {
    // The second display is the console channel's: in the instance's directory, reached only through the agent.
    args.push("-vnc", `${vnc},id=default`, "-vnc", consoleVncArgument(paths));
    args.push("-device", JSON.stringify({ driver: "VGA", id: "vga", bus: pciBus(hv), addr: pciAddr(2) }));
  }

  const pinned = input.slots ?? {};
  const used: number[] = Object.values(pinned);
  const nextSlot = (key: string): number => {
    const slot = pinned[key] ?? freePciSlot(used);
    used.push(slot);
    return slot;
  };
  const layout: KvmLayout = { disks: [], nics: [] };
  instance.disks.forEach((disk, index) => {
    const path = input.disks[index]?.path;
    if (!path) throw new KvmConfigError(`Disk ${index} of instance ${instance.name} has no local path (userspace-only storage is not supported by Corral's kvm hypervisor)`);
    const slot = diskUsesPci(hv) ? nextSlot(disk.uuid) : null;
    args.push("-blockdev", JSON.stringify(blockdevOptions(hv, disk, path)), "-device", JSON.stringify(diskDeviceOptions(hv, disk, slot, index)));
    layout.disks.push({ uuid: disk.uuid, path, ...diskIds(disk.uuid), slot });
  });
  instance.nics.forEach((nic, index) => {
    nicMode(nic);
    const tap = input.taps[index];
    if (!tap) throw new KvmConfigError(`NIC ${index} of instance ${instance.name} has no tap device`);
    const slot = nextSlot(nic.mac);
    args.push("-netdev", JSON.stringify(netdevOptions(nic, tap)), "-device", JSON.stringify(nicDeviceOptions(hv, nic, slot)));
    layout.nics.push({ uuid: nic.uuid, mac: nic.mac, tap, ...nicIds(nic), slot });
  });
  if (input.paused) args.push("-S");
  if (input.incoming) args.push("-incoming", "defer");
  args.push(...splitShellWords(str(hv, "kvm_extra")));
  return { binary: str(hv, "kvm_path") || DEFAULT_KVM_PATH, args, layout };
}

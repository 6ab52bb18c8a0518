// Hypervisor parameters checked per hypervisor (Ganeti's CheckParameterSyntax of each
// hypervisor class): a key another hypervisor has is refused, values are checked against the
// hypervisor's sets, and a kvm parameter that Corral's kvm driver does not implement may keep
// only its default — set to anything else it is refused, never silently ignored.

import { DEFAULT_HVPARAMS } from "./defaults.ts";
import type { ParamDict } from "./objects.ts";
import { pyStr } from "./paramdicts.ts";

/** Ganeti's HTS_REQ_PORT: hypervisors whose instances get a network_port (VNC) at creation. */
export const HYPERVISORS_WITH_PORT: ReadonlySet<string> = new Set(["kvm", "xen-hvm"]);
/** Ganeti's HT_VNC_BASE_PORT: VNC display N listens on port 5900 + N. */
export const VNC_BASE_PORT = 5900;

/** Value sets of the kvm parameters that take one of a few words (Ganeti's HT_* constants). */
const KVM_CHOICES: Readonly<Record<string, readonly string[]>> = {
  boot_order: ["disk", "cdrom", "floppy", "network"],
  disk_type: ["paravirtual", "ide", "scsi", "sd", "mtd", "pflash"],
  nic_type: ["paravirtual", "rtl8139", "ne2k_isa", "ne2k_pci", "i82551", "i82557b", "i82559er", "pcnet", "e1000"],
  disk_cache: ["default", "none", "writethrough", "writeback"],
  disk_aio: ["threads", "native", "io_uring"],
  disk_discard: ["default", "ignore", "unmap"],
  reboot_behavior: ["reboot", "exit"],
  kvm_flag: ["", "enabled", "disabled"],
  migration_mode: ["live", "non-live"],
  security_model: ["none", "user", "pool"],
};

/** Choices the kvm driver implements where it implements only part of Ganeti's set. */
const KVM_SUPPORTED_CHOICES: Readonly<Record<string, readonly string[]>> = {
  disk_type: ["paravirtual", "ide"],
  nic_type: ["paravirtual", "e1000", "rtl8139"],
};

/**
 * The kvm parameters the driver honours. Every other kvm parameter must keep Ganeti's
 * default (the driver behaves as that default says).
 */
export const KVM_IMPLEMENTED: ReadonlySet<string> = new Set([
  "kernel_path", "initrd_path", "kernel_args", "root_path", "boot_order", "acpi", "machine_version",
  "cpu_type", "kvm_flag", "kvm_path", "vnc_bind_address", "serial_console", "serial_speed",
  "disk_cache", "disk_aio", "disk_discard", "disk_type", "nic_type", "reboot_behavior",
  "user_shutdown", "kvm_extra", "migration_bandwidth", "migration_downtime", "migration_port",
  "migration_mode", "migration_caps",
]);

/**
 * QEMU migration capabilities `migration_caps` may name (colon-separated, as in Ganeti): the
 * ones that work over a plain TCP stream between two QEMU 7.2 processes without more setup.
 */
export const KVM_MIGRATION_CAPS: readonly string[] = ["postcopy-ram", "auto-converge", "xbzrle", "multifd"];

/** The capabilities named by a `migration_caps` value ("" names none). */
export function migrationCapsOf(value: unknown): string[] {
  return typeof value === "string" && value !== "" ? value.split(":") : [];
}

/** Paths that must be absolute when set. */
const KVM_PATHS = ["kernel_path", "initrd_path", "kvm_path"];

/** Problems with `params` (all or some of an instance's or the cluster's) for hypervisor `hv`, one message each. */
export function hypervisorParamProblems(hv: string, params: ParamDict): string[] {
  const known = DEFAULT_HVPARAMS[hv];
  if (!known) return [`Unknown hypervisor '${hv}'`];
  const problems: string[] = [];
  for (const key of Object.keys(params)) {
    if (!(key in known)) problems.push(`Parameter '${key}' is not supported by the ${hv} hypervisor`);
  }
  if (hv !== "kvm") return problems;
  for (const [key, choices] of Object.entries(KVM_CHOICES)) {
    if (!(key in params)) continue;
    const value = params[key];
    if (!choices.includes(value as string)) {
      problems.push(`Parameter '${key}' fails syntax check: must be one of ${choices.map((c) => `'${c}'`).join(", ")} (current value: '${pyStr(value)}')`);
    } else if (KVM_SUPPORTED_CHOICES[key] && !KVM_SUPPORTED_CHOICES[key].includes(value as string)) {
      problems.push(`Parameter '${key}' value '${pyStr(value)}' is not implemented by Corral's kvm hypervisor (implemented: ${KVM_SUPPORTED_CHOICES[key].join(", ")})`);
    }
  }
  if ("migration_caps" in params) {
    const caps = migrationCapsOf(params.migration_caps);
    const unknown = caps.filter((c) => !KVM_MIGRATION_CAPS.includes(c));
    if (typeof params.migration_caps !== "string" || unknown.length > 0 || new Set(caps).size !== caps.length) {
      problems.push(`Parameter 'migration_caps' fails syntax check: must be a colon-separated list of distinct capabilities out of ${KVM_MIGRATION_CAPS.join(", ")} (current value: '${pyStr(params.migration_caps)}')`);
    }
  }
  for (const key of KVM_PATHS) {
    const value = params[key];
    if (typeof value === "string" && value !== "" && !value.startsWith("/")) {
      problems.push(`Parameter '${key}' fails syntax check: the path must be absolute (current value: '${value}')`);
    }
  }
  for (const [key, value] of Object.entries(params)) {
    if (!(key in known) || KVM_IMPLEMENTED.has(key)) continue;
    if (JSON.stringify(value) !== JSON.stringify(known[key])) {
      problems.push(`Parameter '${key}' is not implemented by Corral's kvm hypervisor; it can only keep its default (${pyStr(known[key])}), not '${pyStr(value)}'`);
    }
  }
  return problems;
}

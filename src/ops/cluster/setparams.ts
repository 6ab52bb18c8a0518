// Over 450 lines: one logical unit with Ganeti's many cluster parameters, planned by family
// (storage, parameters, hypervisors, the rest) into one draft committed in one transaction.
// OP_CLUSTER_SET_PARAMS (Ganeti's LUClusterSetParams): every cluster parameter, checked as
// Ganeti checks it, merged into the cluster object in one transaction. Checks that need node
// calls in Ganeti (volume groups, DRBD helper, hypervisor and OS validation on the nodes) are
// not made: Corral's nodes have no LVM or DRBD, and its hypervisor and OS parameter syntax is
// checked on the master.

import { isKnownAllocator } from "../../alloc/allocator.ts";
import { autoBalanceOf } from "../../model/autobalance.ts";
import { DEFAULT_HVPARAMS } from "../../model/defaults.ts";
import { hypervisorParamProblems } from "../../model/hvparams.ts";
import { ConfigurationError, ECODE, GanetiError, HypervisorError, OpPrereqError } from "../../model/errors.ts";
import { fillIPolicy, type PartialPolicy } from "../../model/ipolicy.ts";
import type { Cluster, IPolicy, NestedParams, ParamDict } from "../../model/objects.ts";
import { OpClusterSetParams } from "../../model/opcodes/cluster.ts";
import {
  BES_PARAMETER_TYPES, DISK_DT_TYPES, DS_DEFAULTS, fillDict, forceDictType, HVS_PARAMETER_TYPES, HVST_DEFAULTS,
  NDS_PARAMETER_TYPES, NICS_PARAMETER_TYPES,
} from "../../model/paramdicts.ts";
import { pyRepr } from "../../model/pyrepr.ts";
import type { ConfigSnapshot } from "../../store/store.ts";
import { checkIpolicyVsDiskTemplates, getUpdatedIPolicy, newViolations } from "../ipolicy.ts";
import { defineLU, logWarning, type LuContext } from "../lu.ts";
import { submitChildJobs } from "../childjobs.ts";
import { INSTANCE_COMMUNICATION, instanceCommunicationOps } from "../network.ts";
import { adjustCandidatePool } from "../node/common.ts";
import {
  checkDiskAccessModeConsistency, checkDiskAccessModes, checkDiskParamKeys, commaJoin, getUpdatedParams, groupInstances,
  mergeAndVerifyDiskState, mergeAndVerifyHvState, normalizeMacPrefix, verifyingDiskParams,
} from "../params.ts";
import { findObject } from "../../query/resolve.ts";

/** Disk templates Corral's node agents implement (the others need LVM, DRBD, RBD or Gluster). */
export const CORRAL_DISK_TEMPLATES: readonly string[] = ["diskless", "file", "sharedfile", "ext"];
/** Hypervisors Corral's node agents implement. */
export const CORRAL_HYPERVISORS: readonly string[] = ["fake", "kvm"];

const UIDPOOL_UID_MAX = 2 ** 32 - 1;
const NIC_VALID_MODES = ["bridged", "routed", "openvswitch", "pool"];
const MIGRATION_MODES = ["live", "non-live"];

type Op = LuContext<typeof OpClusterSetParams.params>["op"];

/** Ganeti's CheckUidPool: ranges in order and within 0..2^32-1. */
function checkUidPool(pool: readonly (readonly [number, number])[]): void {
  for (const [lower, higher] of pool) {
    if (lower > higher) {
      throw new OpPrereqError(`Lower user-id range boundary value (${lower}) is larger than higher boundary value (${higher})`, ECODE.inval);
    }
    if (lower < 0) throw new OpPrereqError(`Lower user-id range boundary value (${lower}) is smaller than UIDPOOL_UID_MIN (0).`, ECODE.inval);
    if (higher > UIDPOOL_UID_MAX) {
      throw new OpPrereqError(`Higher user-id boundary value (${higher}) is larger than UIDPOOL_UID_MAX (${UIDPOOL_UID_MAX}).`, ECODE.inval);
    }
  }
}

/** Ganeti's CheckImageValidity: an absolute path or an http(s)/ftp(s) URL (no classification). */
function checkImage(image: string | null, message: string): void {
  if (image !== null && !/^(https?|ftps?):\/\//.test(image) && !image.startsWith("/")) {
    throw new GanetiError("OpPrereqError", [message]);
  }
}

/** Ganeti's NIC.CheckParameterSyntax. */
function checkNicParams(params: ParamDict): void {
  const mode = params.mode as string;
  if (!NIC_VALID_MODES.includes(mode) && mode !== "auto") throw new ConfigurationError(`Invalid NIC mode '${mode}'`);
  if (mode === "bridged" && !params.link) throw new ConfigurationError("Missing bridged NIC link");
}

/** Ganeti's hypervisor CheckParameterSyntax, for what the master can check. */
function checkHvSyntax(hv: string, params: ParamDict): void {
  const known = DEFAULT_HVPARAMS[hv] ?? {};
  for (const key of Object.keys(params)) {
    if (!(key in known)) throw new HypervisorError(`Parameter '${key}' is not supported`);
  }
  for (const key of Object.keys(known)) {
    if (!(key in params)) throw new HypervisorError(`Parameter '${key}' is missing`);
  }
  const problems = hypervisorParamProblems(hv, params);
  if (problems.length > 0) throw new HypervisorError(problems.join("; "));
  const mode = params.migration_mode;
  if (hv === "fake" && !MIGRATION_MODES.includes(mode as string)) {
    throw new HypervisorError(`Parameter 'migration_mode' fails syntax check: invalid migration mode (current value: '${String(mode)}')`);
  }
}

/** Ganeti's CheckFileBasedStoragePathVsEnabledDiskTemplates. */
function checkStorageDir(ctx: LuContext<never>, dir: string, template: string, enabled: readonly string[]): void {
  if (dir === "") {
    if (enabled.includes(template)) {
      throw new OpPrereqError(
        `Unsetting the '${template}' storage directory while having '${template}' storage enabled is not permitted.`,
        ECODE.inval,
      );
    }
  } else if (!enabled.includes(template)) {
    logWarning(ctx, `Specified a ${template} storage directory, although ${template} storage is not enabled.`);
  }
}

/** Ganeti's CheckCompressionTools. */
function checkCompressionTools(tools: string[]): void {
  const illegal = tools.filter((t) => !/^[-_a-zA-Z0-9]+$/.test(t));
  if (illegal.length > 0) {
    throw new OpPrereqError(
      `The tools '${illegal.join(", ")}' contain illegal characters: only alphanumeric values, dashes, and underscores are allowed`,
      ECODE.inval,
    );
  }
  if (!tools.includes("gzip")) {
    throw new OpPrereqError("For compatibility reasons, the gzip utility must be present among the compression tools", ECODE.inval);
  }
  if (tools.includes("none")) {
    throw new OpPrereqError("none is a reserved value used for no compression, and cannot be used as the name of a tool", ECODE.inval);
  }
}

/** A disk as Ganeti's str(Disk) names it in messages. */
function diskText(d: { dev_type: string; logical_id: unknown[]; size: number }, index: number): string {
  return `<Disk(type=${d.dev_type}, logical_id=${pyRepr(d.logical_id)}, children=[], visible as /dev/disk/${index}, size=${d.size}m)>`;
}

/** Ganeti's _CheckInstancesOfDisabledDiskTemplates. */
function checkDisabledTemplatesUnused(snap: ConfigSnapshot, disabled: string[]): void {
  for (const template of disabled) {
    const uses = [...snap.instances.values()].flatMap((inst) =>
      inst.disks.flatMap((d, i) => (d.dev_type === template ? [`${diskText(d, i)} (on ${inst.name})`] : [])),
    );
    if (uses.length > 0) {
      throw new OpPrereqError(
        `Cannot disable disk template '${template}', because there is at least one disk using it:\n * ${uses.join("\n * ")}`,
        ECODE.state,
      );
    }
  }
  if (disabled.includes("diskless")) {
    const diskless = [...snap.instances.values()].find((i) => i.disks.length === 0);
    if (diskless) {
      throw new OpPrereqError(
        `Cannot disable disk template 'diskless', because there is at least one instance using it:\n * ${diskless.name}`,
        ECODE.state,
      );
    }
  }
}

/** Ganeti's helper_os: "add"/"remove" an OS name, with a note when there is nothing to do. */
function changeOsList(current: string[], mods: readonly (readonly [string, string])[], desc: string, notes: string[]): string[] {
  const list = [...current];
  for (const [action, os] of mods) {
    const at = list.indexOf(os);
    if (action === "add") {
      if (at >= 0) notes.push(`OS ${os} already in ${desc} OS list, ignoring`);
      else list.push(os);
    } else if (action === "remove") {
      if (at < 0) notes.push(`OS ${os} not found in ${desc} OS list, ignoring`);
      else list.splice(at, 1);
    } else throw new OpPrereqError(`Invalid modification '${action}' of the ${desc} OS list`, ECODE.inval);
  }
  return list;
}

/** The uid pool after add_uids / remove_uids / uid_pool, as Ganeti applies them. */
function newUidPool(current: [number, number][], op: Op): [number, number][] | undefined {
  if (op.add_uids === null && op.remove_uids === null && op.uid_pool === null) return undefined;
  const same = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1];
  let pool = current.map((r) => [...r] as [number, number]);
  for (const range of op.add_uids ?? []) if (!pool.some((r) => same(r, range))) pool.push([...range]);
  pool.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const range of op.remove_uids ?? []) {
    const at = pool.findIndex((r) => same(r, range));
    if (at < 0) {
      throw new OpPrereqError(
        `User-id range to be removed is not found in the current user-id pool: (${range[0]}, ${range[1]})`,
        ECODE.inval,
      );
    }
    pool.splice(at, 1);
  }
  if (op.uid_pool !== null) pool = op.uid_pool.map(([lo, hi]) => [lo, hi]);
  return pool;
}

/** Parameters per OS laid over the current ones; null values remove, empty OSes go. */
function updatedOsParams(current: NestedParams, update: Record<string, Record<string, unknown>> | null): NestedParams | undefined {
  if (update === null) return undefined;
  const out = structuredClone(current);
  for (const [os, params] of Object.entries(update)) {
    out[os] = getUpdatedParams(out[os] ?? {}, params, { useNone: true });
    if (Object.keys(out[os]).length === 0) delete out[os];
  }
  return out;
}

/** The per-OS hypervisor parameters after `update`: null for a hypervisor removes it. */
function updatedOsHvp(current: Record<string, NestedParams>, update: Record<string, Record<string, unknown>>): Record<string, NestedParams> {
  const out = structuredClone(current);
  for (const [os, hvs] of Object.entries(update)) {
    if (!(os in out)) {
      out[os] = structuredClone(hvs) as NestedParams;
      continue;
    }
    for (const [hv, params] of Object.entries(hvs)) {
      if (params === null) delete out[os][hv];
      else out[os][hv] = { ...(out[os][hv] ?? {}), ...(params as ParamDict) };
    }
  }
  for (const os of Object.keys(out)) if (Object.keys(out[os]).length === 0) delete out[os];
  return out;
}

interface Plan {
  /** Cluster fields to set. */
  set: Partial<Cluster>;
  /** Lines for the job log when the change is made (Ganeti's feedback_fn). */
  notes: string[];
  /** Whether to fill the master candidate pool afterwards. */
  candidatePool: boolean;
}

/** What each part of the checks reads and adds to. */
interface Draft {
  ctx: LuContext<typeof OpClusterSetParams.params>;
  op: Op;
  snap: ConfigSnapshot;
  c: Cluster;
  set: Partial<Cluster>;
  notes: string[];
}

/** The checks of Ganeti's CheckArguments and CheckPrereq, and the resulting changes. */
function plan(ctx: LuContext<typeof OpClusterSetParams.params>): Plan {
  const snap = ctx.snapshot();
  const d: Draft = { ctx, op: ctx.op, snap, c: snap.cluster, set: {}, notes: [] };
  const diskparams = checkArguments(d);
  const enabled = planStorage(d, diskparams);
  planParams(d, enabled);
  planHypervisors(d, diskparams);
  planOthers(d);
  return { set: d.set, notes: d.notes, candidatePool: d.op.candidate_pool_size !== null };
}

/** Ganeti's CheckArguments: what needs no config. Returns the type-checked diskparams. */
function checkArguments({ op, c, set }: Draft): NestedParams | null {
  for (const pool of [op.uid_pool, op.add_uids, op.remove_uids]) if (pool) checkUidPool(pool);
  if (op.mac_prefix) set.mac_prefix = normalizeMacPrefix(op.mac_prefix);
  if (op.master_netmask !== null) {
    const max = c.primary_ip_family === 6 ? 128 : 32;
    if (!(op.master_netmask > 0 && op.master_netmask <= max)) {
      throw new OpPrereqError(`CIDR netmask (${op.master_netmask}) not valid`, ECODE.inval);
    }
  }
  const diskparams = op.diskparams ? (structuredClone(op.diskparams) as NestedParams) : null;
  if (diskparams) {
    for (const params of Object.values(diskparams)) forceDictType(params, DISK_DT_TYPES);
    verifyingDiskParams(() => {
      checkDiskParamKeys(diskparams);
      checkDiskAccessModes(diskparams);
    });
  }
  checkImage(op.install_image, "Install image must be an absolute path or a URL");
  checkImage(op.zeroing_image, "Zeroing image must be an absolute path or a URL");
  return diskparams;
}

/** Disk templates, volume group, storage directories, DRBD helper. Returns the enabled templates. */
function planStorage({ ctx, op, snap, c, set, notes }: Draft, diskparams: NestedParams | null): string[] {
  // Disk templates: only what Corral implements, and none an instance still uses.
  let enabled = c.enabled_disk_templates;
  if (op.enabled_disk_templates && op.enabled_disk_templates.length > 0) {
    const unsupported = op.enabled_disk_templates.filter((t) => !CORRAL_DISK_TEMPLATES.includes(t));
    if (unsupported.length > 0) {
      throw new OpPrereqError(
        `Disk template(s) ${commaJoin(unsupported)} not supported by Corral (supported: ${commaJoin(CORRAL_DISK_TEMPLATES)})`,
        ECODE.inval,
      );
    }
    enabled = [...op.enabled_disk_templates];
    checkDisabledTemplatesUnused(snap, c.enabled_disk_templates.filter((t) => !enabled.includes(t)));
    set.enabled_disk_templates = enabled;
  }
  const hasDisks = (templates: string[]) => [...snap.instances.values()].some((i) => i.disks.some((d) => templates.includes(d.dev_type)));
  if (op.vg_name !== null) {
    if (op.vg_name === "" && hasDisks(["plain"])) {
      throw new OpPrereqError("Cannot disable lvm storage while lvm-based instances exist", ECODE.inval);
    }
    const vg = op.vg_name || null;
    if (vg === c.volume_group_name) notes.push("Cluster LVM configuration already in desired state, not changing");
    else set.volume_group_name = vg;
  }
  const dirs = [
    [op.file_storage_dir, "file", "file_storage_dir", "Global file storage dir"],
    [op.shared_file_storage_dir, "sharedfile", "shared_file_storage_dir", "Global shared file storage dir"],
    [op.gluster_storage_dir, "gluster", "gluster_storage_dir", "Global gluster storage dir"],
  ] as const;
  for (const [dir, template, key, what] of dirs) {
    if (dir === null) continue;
    checkStorageDir(ctx as LuContext<never>, dir, template, enabled);
    if (c[key] === dir) notes.push(`${what} already set to value '${dir}'`);
    else set[key] = dir;
  }
  if (op.drbd_helper !== null) {
    if (op.drbd_helper === "" && hasDisks(["drbd"])) {
      throw new OpPrereqError("Cannot disable drbd helper while drbd-based instances exist", ECODE.inval);
    }
    if (!enabled.includes("drbd")) notes.push("Note that you specified a drbd user helper, but did not enable the drbd disk template.");
    const helper = op.drbd_helper || null;
    if (helper === c.drbd_usermode_helper) notes.push("Cluster DRBD helper already in desired state, not changing");
    else set.drbd_usermode_helper = helper;
  }
  if (diskparams && "drbd" in diskparams) {
    logWarning(ctx, "Changing DRBD parameters only affects devices created in the future, not existing ones");
    logWarning(ctx, "You need to shutdown and start (not reboot!) existing instances to adopt the changes");
    logWarning(ctx, "Alternatively you can swap the secondary node by running `gnt-instance replace-disks --new-secondary $instance`");
  }
  return enabled;
}

/** Backend, node, NIC parameters, hypervisor and disk state, instance policy. */
function planParams({ ctx, op, snap, c, set }: Draft, enabled: string[]): void {
  if (op.beparams && Object.keys(op.beparams).length > 0) {
    const be = structuredClone(op.beparams);
    if ("memory" in be) {
      be.maxmem = be.minmem = be.memory;
      delete be.memory;
    }
    forceDictType(be, BES_PARAMETER_TYPES);
    set.beparams = { ...c.beparams, default: fillDict(c.beparams.default, be) };
  }
  if (op.ndparams && Object.keys(op.ndparams).length > 0) {
    set.ndparams = fillDict(c.ndparams, forceDictType(structuredClone(op.ndparams), NDS_PARAMETER_TYPES));
  }
  if (op.hv_state && Object.keys(op.hv_state).length > 0) {
    const merged = mergeAndVerifyHvState(op.hv_state, c.hv_state_static);
    set.hv_state_static = Object.fromEntries(Object.entries(merged).map(([hv, v]) => [hv, fillDict(HVST_DEFAULTS, v)]));
  }
  if (op.disk_state && Object.keys(op.disk_state).length > 0) {
    const merged = mergeAndVerifyDiskState(op.disk_state, c.disk_state_static);
    set.disk_state_static = Object.fromEntries(Object.entries(merged).map(([st, names]) =>
      [st, Object.fromEntries(Object.entries(names).map(([name, v]) => [name, fillDict(DS_DEFAULTS, v)]))]));
  }

  if (op.ipolicy && Object.keys(op.ipolicy).length > 0) {
    const policy = getUpdatedIPolicy(c.ipolicy as unknown as PartialPolicy, op.ipolicy, false);
    checkIpolicyVsDiskTemplates(policy, enabled);
    const violating = new Set<string>();
    for (const group of snap.groups.values()) {
      const own = group.ipolicy as PartialPolicy;
      const next = fillIPolicy(policy as unknown as IPolicy, own);
      const current = fillIPolicy(c.ipolicy, own);
      for (const name of newViolations(current, next, groupInstances(snap, group.uuid), c)) violating.add(name);
    }
    if (violating.size > 0) {
      logWarning(ctx, `After the ipolicy change the following instances violate them: ${commaJoin([...violating].sort())}`);
    }
    set.ipolicy = policy as unknown as IPolicy;
  } else {
    checkIpolicyVsDiskTemplates(c.ipolicy as unknown as PartialPolicy, enabled);
  }

  if (op.nicparams && Object.keys(op.nicparams).length > 0) {
    const nic = fillDict(c.nicparams.default, forceDictType(structuredClone(op.nicparams), NICS_PARAMETER_TYPES));
    checkNicParams(nic);
    const errors: string[] = [];
    for (const inst of snap.instances.values()) {
      inst.nics.forEach((n, i) => {
        const filled = fillDict(nic, n.nicparams);
        try {
          checkNicParams(filled);
        } catch (err) {
          if (!(err instanceof ConfigurationError)) throw err;
          errors.push(`Instance ${inst.name}, nic/${i}: ${err.message}`);
        }
        if (filled.mode === "routed" && !n.ip) errors.push(`Instance ${inst.name}, nic/${i}: routed NIC with no ip address`);
      });
    }
    if (errors.length > 0) throw new OpPrereqError(`Cannot apply the change, errors:\n${errors.join("\n")}`, ECODE.inval);
    set.nicparams = { ...c.nicparams, default: nic };
  }
}

/** Hypervisor, disk template and OS parameters, and the enabled hypervisors. */
function planHypervisors({ op, snap, c, set }: Draft, diskparams: NestedParams | null): void {
  // Hypervisor parameters: merged per hypervisor; a newly enabled one gets its defaults.
  const hvparams: NestedParams = structuredClone(c.hvparams);
  for (const [hv, params] of Object.entries(op.hvparams ?? {})) hvparams[hv] = { ...(hvparams[hv] ?? {}), ...params };
  if (diskparams && Object.keys(diskparams).length > 0) {
    const merged: NestedParams = structuredClone(c.diskparams);
    for (const [template, params] of Object.entries(diskparams)) merged[template] = { ...(merged[template] ?? {}), ...params };
    checkDiskAccessModeConsistency(diskparams, snap.instances.values());
    set.diskparams = merged;
  }
  if (op.os_hvp && Object.keys(op.os_hvp).length > 0) set.os_hvp = updatedOsHvp(c.os_hvp, op.os_hvp);
  const osparams = updatedOsParams(c.osparams, op.osparams);
  if (osparams && Object.keys(op.osparams ?? {}).length > 0) set.osparams = osparams;
  const osPrivate = updatedOsParams(c.osparams_private_cluster, op.osparams_private_cluster);
  if (osPrivate && Object.keys(op.osparams_private_cluster ?? {}).length > 0) set.osparams_private_cluster = osPrivate;

  if (op.enabled_hypervisors !== null) {
    if (op.enabled_hypervisors.length === 0) throw new OpPrereqError("At least one hypervisor must be enabled", ECODE.inval);
    const unsupported = op.enabled_hypervisors.filter((hv) => !CORRAL_HYPERVISORS.includes(hv));
    if (unsupported.length > 0) {
      throw new OpPrereqError(
        `Hypervisor(s) ${commaJoin(unsupported)} not supported by Corral (supported: ${commaJoin(CORRAL_HYPERVISORS)})`,
        ECODE.inval,
      );
    }
    for (const hv of op.enabled_hypervisors) hvparams[hv] = forceDictType(fillDict(DEFAULT_HVPARAMS[hv], hvparams[hv]), HVS_PARAMETER_TYPES);
  }
  if (op.hvparams || op.enabled_hypervisors !== null) {
    for (const [hv, params] of Object.entries(hvparams)) {
      if (!(hv in (op.hvparams ?? {})) && !((op.enabled_hypervisors ?? []) as string[]).includes(hv)) continue;
      checkHvSyntax(hv, forceDictType(params, HVS_PARAMETER_TYPES));
    }
    set.hvparams = hvparams;
    if (op.enabled_hypervisors !== null) set.enabled_hypervisors = [...op.enabled_hypervisors];
  }
  for (const hvs of Object.values(set.os_hvp ?? {})) {
    for (const [hv, params] of Object.entries(hvs)) {
      forceDictType(params, HVS_PARAMETER_TYPES);
      checkHvSyntax(hv, fillDict(hvparams[hv], params));
    }
  }
}

/** The iallocator, communication network, tools, collectors and the plain values. */
function planOthers({ ctx, op, snap, c, set, notes }: Draft): void {
  if (op.default_iallocator && !isKnownAllocator(op.default_iallocator)) {
    throw new OpPrereqError(`Invalid default iallocator script '${op.default_iallocator}' specified`, ECODE.inval);
  }
  if (op.instance_communication_network) {
    const net = findObject(snap, "network", op.instance_communication_network);
    if (net) {
      const warn = (what: string, value: unknown, standard: unknown) => {
        if (value === standard) return;
        logWarning(ctx, `Supplied instance communication network '${net.name}' ${what} '${String(value)}', this might pose a security risk (default is '${String(standard)}').`);
      };
      warn("has an IPv4 gateway", net.gateway, null);
      warn("has a non-standard IPv4 network address", net.network, INSTANCE_COMMUNICATION.network4);
      warn("has an IPv6 gateway", net.gateway6, null);
      warn("has a non-standard IPv6 network address", net.network6, INSTANCE_COMMUNICATION.network6);
      warn("has a non-standard MAC prefix", net.mac_prefix, INSTANCE_COMMUNICATION.macPrefix);
    }
  }
  if (op.compression_tools) {
    checkCompressionTools(op.compression_tools);
    set.compression_tools = [...op.compression_tools];
  }
  for (const [key, values] of [["enabled_data_collectors", op.enabled_data_collectors], ["data_collector_interval", op.data_collector_interval]] as const) {
    if (!values) continue;
    const unknown = Object.keys(values).filter((name) => !(name in c[key]));
    if (unknown.length > 0) throw new OpPrereqError(`Unknown data collector(s): ${commaJoin(unknown)}`, ECODE.inval);
    set[key] = { ...c[key], ...values } as never;
  }

  // Plain values.
  const pool = newUidPool(c.uid_pool, op);
  if (pool) set.uid_pool = pool;
  if (op.candidate_pool_size !== null) set.candidate_pool_size = op.candidate_pool_size;
  for (const key of [
    "max_running_jobs", "max_tracked_jobs", "maintain_node_health", "modify_etc_hosts", "prealloc_wipe_disks",
    "default_iallocator", "default_iallocator_params", "reserved_lvs", "use_external_mip_script", "enabled_user_shutdown",
    "zeroing_image",
  ] as const) {
    if (op[key] !== null) (set as Record<string, unknown>)[key] = op[key];
  }
  if (op.install_image) set.install_image = op.install_image;
  if (op.auto_balancing) set.auto_balancing = { ...autoBalanceOf(c), ...op.auto_balancing };
  if (op.hidden_os && op.hidden_os.length > 0) set.hidden_os = changeOsList(c.hidden_os, op.hidden_os, "hidden", notes);
  if (op.blacklisted_os && op.blacklisted_os.length > 0) {
    set.blacklisted_os = changeOsList(c.blacklisted_os, op.blacklisted_os, "blacklisted", notes);
  }
  if (op.master_netdev) {
    notes.push(`Changing master_netdev from ${c.master_netdev} to ${op.master_netdev}`);
    set.master_netdev = op.master_netdev;
  }
  if (op.master_netmask) {
    notes.push(`Changing master IP netmask to ${op.master_netmask}`);
    set.master_netmask = op.master_netmask;
  }
  if (op.instance_communication_network !== null) {
    const name = op.instance_communication_network;
    const current = c.instance_communication_network;
    if (name === current) notes.push(`Instance communication network already is '${name}', nothing to do.`);
    else {
      if (current && findObject(snap, "network", current)) {
        notes.push(`Previous instance communication network '${current}' should be removed manually.`);
      }
      notes.push(name
        ? `Changing instance communication network to '${name}', only new instances will be affected.`
        : "Disabling instance communication network, only new instances will be affected.");
      set.instance_communication_network = name;
    }
  }
}

export const clusterSetParamsLU = defineLU({
  opcode: OpClusterSetParams,
  // Ganeti's LUClusterSetParams runs beside other jobs (no exclusive big lock): every node,
  // instance and group shared keeps changes to them out while the defaults change.
  locks: () => ({
    cluster: { names: "all", mode: "shared" },
    node: { names: "all", mode: "shared" },
    instance: { names: "all", mode: "shared" },
    nodegroup: { names: "all", mode: "shared" },
    network: { names: "all", mode: "shared" },
  }),
  checkPrereq: plan,
  async exec(ctx, p) {
    for (const note of p.notes) ctx.feedback(note);
    const snap = await ctx.master.store.transact((tx) => {
      tx.updateCluster((c) => void Object.assign(c, structuredClone(p.set)));
      // A new pool size may want more master candidates: promoted in the same transaction.
      if (p.candidatePool) adjustCandidatePool(tx, [], ctx);
      return tx.current;
    });
    // A new instance communication network is created if needed and joins every group (one job).
    const network = p.set.instance_communication_network;
    if (!network) return null;
    const ops = instanceCommunicationOps(snap, network, snap.groups.values());
    return ops.length > 0 ? submitChildJobs(ctx, [ops]) : null;
  },
});

// Over 450 lines: 18 opcode declarations, each Ganeti's parameter table in Ganeti's order; they
// are read (and checked against the spec) one table at a time.
// Instances (OP_INSTANCE_*).
import {
  ADMIN_STATE_SOURCES,
  DEFAULT_SHUTDOWN_TIMEOUT,
  FILE_DRIVERS,
  INSTANCE_CREATE_MODES,
  MIGRATION_MODES,
  REBOOT_TYPES,
  REPLACE_DISKS_MODES,
} from "../constants.ts";
import { defineOpcode } from "../opcode.ts";
import { extension, opt, req, t } from "../params.ts";
import {
  conflictsCheck,
  force,
  forceVariant,
  iallocator,
  ignoreIpolicy,
  instanceName,
  instanceUuid,
  shutdownTimeout,
  targetNode,
  targetNodeUuid,
  waitForSync,
} from "./fields.ts";

/** Disks to recreate: all (`[]`), a list of indices, or `[[index, {param: value}], ...]`. */
const recreateDisksInfo = t.or(
  t.listOf(t.nonNegInt),
  t.listOf(t.items(t.comment(t.nonNegInt, "Disk index"), t.comment(t.diskParams, "Parameters"))),
);

export const OpInstanceActivateDisks = defineOpcode({
  id: "OP_INSTANCE_ACTIVATE_DISKS",
  className: "OpInstanceActivateDisks",
  doc: "Activate an instance's disks.",
  result: "List of (Tuple of (NonEmptyString, NonEmptyString, None or NonEmptyString))",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    ignore_size: opt(t.bool, false, "Whether to ignore recorded disk size"),
    wait_for_sync: opt(
      t.bool,
      false,
      "Whether to wait for the disk to synchronize (defaults to false)",
    ),
  },
});

export const OpInstanceConsole = defineOpcode({
  id: "OP_INSTANCE_CONSOLE",
  className: "OpInstanceConsole",
  doc: "Connect to an instance's console.",
  result: "Dictionary with keys of Anything and values of Anything",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
  },
});

export const OpInstanceCreate = defineOpcode({
  id: "OP_INSTANCE_CREATE",
  className: "OpInstanceCreate",
  doc: "Create an instance.",
  result: "List of NonEmptyString",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    force_variant: forceVariant,
    wait_for_sync: waitForSync,
    name_check: opt(t.bool, false, "Whether to check name"),
    ignore_ipolicy: ignoreIpolicy,
    opportunistic_locking: opt(
      t.bool,
      false,
      "Whether to employ opportunistic locking for nodes, meaning nodes already locked by another opcode won't be considered for instance allocation (only when an iallocator is used)",
    ),
    beparams: opt(t.anyDict, () => ({}), "Backend parameters for instance"),
    disks: req(t.listOf(t.diskParams), "List of instance disks"),
    disk_template: opt(t.maybe(t.diskTemplate), null, "Instance disk template"),
    group_name: opt(t.maybe(t.nonEmptyString), null, "Optional group name"),
    file_driver: opt(t.maybe(t.oneOf(...FILE_DRIVERS)), null, "Driver for file-backed disks"),
    file_storage_dir: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Directory for storing file-backed disks",
    ),
    hvparams: opt(
      t.anyDict,
      () => ({}),
      "Hypervisor parameters for instance, hypervisor-dependent",
    ),
    hypervisor: opt(t.maybe(t.hypervisor), null, "Selected hypervisor for an instance"),
    iallocator,
    identify_defaults: opt(t.bool, false, "Reset instance parameters to default if equal"),
    ip_check: opt(t.bool, false, "Whether to ensure instance's IP address is inactive"),
    conflicts_check: conflictsCheck,
    mode: req(t.oneOf(...INSTANCE_CREATE_MODES), "Instance creation mode"),
    nics: req(t.listOf(t.nicParams), "List of NIC (network interface) definitions"),
    no_install: opt(t.maybe(t.bool), null, "Do not install the OS (will disable automatic start)"),
    osparams: opt(t.anyDict, () => ({}), "OS parameters for instance"),
    osparams_private: opt(
      t.maybe(t.dictOf(t.private(t.any))),
      null,
      "Private OS parameters for instance",
    ),
    osparams_secret: opt(
      t.maybe(t.dictOf(t.private(t.any))),
      null,
      "Secret OS parameters for instance",
    ),
    os_type: opt(t.maybe(t.nonEmptyString), null, "OS type for instance installation"),
    pnode: opt(t.maybe(t.nonEmptyString), null, "Primary node for an instance"),
    pnode_uuid: opt(t.maybe(t.nonEmptyString), null, "Primary node UUID for an instance"),
    snode: opt(t.maybe(t.nonEmptyString), null, "Secondary node for an instance"),
    snode_uuid: opt(t.maybe(t.nonEmptyString), null, "Secondary node UUID for an instance"),
    source_handshake: opt(
      t.maybe(t.listOf(t.any)),
      null,
      "Signed handshake from source (remote import only)",
    ),
    source_instance_name: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Source instance name (remote import only)",
    ),
    source_shutdown_timeout: opt(
      t.nonNegInt,
      DEFAULT_SHUTDOWN_TIMEOUT,
      "How long source instance was given to shut down (remote import only)",
    ),
    source_x509_ca: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Source X509 CA in PEM format (remote import only)",
    ),
    src_node: opt(t.maybe(t.nonEmptyString), null, "Source node for import"),
    src_node_uuid: opt(t.maybe(t.nonEmptyString), null, "Source node UUID for import"),
    src_path: opt(t.maybe(t.nonEmptyString), null, "Source directory for import"),
    compress: opt(t.string, "none", "Compression mode to use for moves during backups/imports"),
    start: opt(t.bool, true, "Whether to start instance after creation"),
    forthcoming: opt(t.bool, false, "Whether to only reserve resources"),
    commit: opt(t.bool, false, "Commit the already reserved instance"),
    tags: opt(t.listOf(t.nonEmptyString), () => [], "Instance tags"),
    instance_communication: opt(
      t.bool,
      false,
      "Enable or disable the communication mechanism for an instance",
    ),
    helper_startup_timeout: opt(t.maybe(t.int), null, "Startup timeout for the helper VM"),
    helper_shutdown_timeout: opt(t.maybe(t.int), null, "Shutdown timeout for the helper VM"),
  },
});

export const OpInstanceDeactivateDisks = defineOpcode({
  id: "OP_INSTANCE_DEACTIVATE_DISKS",
  className: "OpInstanceDeactivateDisks",
  doc: "Deactivate an instance's disks.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    force,
  },
});

export const OpInstanceFailover = defineOpcode({
  id: "OP_INSTANCE_FAILOVER",
  className: "OpInstanceFailover",
  doc: "Failover an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    shutdown_timeout: shutdownTimeout,
    ignore_consistency: opt(t.bool, false, "Whether to ignore disk consistency"),
    target_node: targetNode,
    target_node_uuid: targetNodeUuid,
    ignore_ipolicy: ignoreIpolicy,
    cleanup: opt(t.bool, false, "Whether a previously failed migration should be cleaned up"),
    iallocator,
  },
});

export const OpInstanceGrowDisk = defineOpcode({
  id: "OP_INSTANCE_GROW_DISK",
  className: "OpInstanceGrowDisk",
  doc: "Grow a disk of an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    wait_for_sync: waitForSync,
    disk: req(t.diskIndex, "Disk index for e.g. grow disk"),
    amount: req(t.nonNegInt, "Disk amount to add or grow to"),
    absolute: opt(
      t.bool,
      false,
      "Whether the amount parameter is an absolute target or a relative one",
    ),
    ignore_ipolicy: ignoreIpolicy,
  },
});

export const OpInstanceMigrate = defineOpcode({
  id: "OP_INSTANCE_MIGRATE",
  className: "OpInstanceMigrate",
  doc: "Migrate an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    mode: opt(t.maybe(t.oneOf(...MIGRATION_MODES)), null, "Migration type (live/non-live)"),
    live: opt(t.maybe(t.bool), null, "Obsolete 'live' migration mode (do not use)"),
    target_node: targetNode,
    target_node_uuid: targetNodeUuid,
    allow_runtime_changes: opt(t.bool, true, "Whether to allow runtime changes while migrating"),
    ignore_ipolicy: ignoreIpolicy,
    cleanup: opt(t.bool, false, "Whether a previously failed migration should be cleaned up"),
    iallocator,
    allow_failover: opt(
      t.bool,
      false,
      "Whether we can fallback to failover if migration is not possible",
    ),
    ignore_hvversions: opt(t.bool, false, "Whether to ignore incompatible Hypervisor versions"),
    migrate_storage: extension(
      t.maybe(t.bool),
      "Corral: also move node-local (file) disks, mirrored to the target while the instance runs (live mode, kvm)",
    ),
    migrate_tls: extension(
      t.maybe(t.bool),
      "Corral: encrypt the migration traffic (memory and mirrored disks) with TLS, certificates signed by the cluster certificate (kvm)",
    ),
  },
});

export const OpInstanceMultiAlloc = defineOpcode({
  id: "OP_INSTANCE_MULTI_ALLOC",
  className: "OpInstanceMultiAlloc",
  doc: "Allocates multiple instances.",
  result: `Dictionary containing none but the required keys "jobs" (value List of ((Length 2) and (Item 0 is (Boolean [success]), item 1 is (String or JobId [Job ID if successful, error message otherwise]))) [List of submitted jobs]), "allocatable" (value List of NonEmptyString), "failed" (value List of NonEmptyString)`,
  params: {
    opportunistic_locking: opt(
      t.bool,
      false,
      "Whether to employ opportunistic locking for nodes, meaning nodes already locked by another opcode won't be considered for instance allocation (only when an iallocator is used)",
    ),
    iallocator,
    instances: opt(
      t.listOf(t.any),
      () => [],
      "List of instance create opcodes describing the instances to allocate",
    ),
  },
});

export const OpInstanceQueryData = defineOpcode({
  id: "OP_INSTANCE_QUERY_DATA",
  className: "OpInstanceQueryData",
  doc: "Compute the run-time status of instances.",
  result: "Dictionary with keys of Anything and values of (Dictionary with keys of Anything and values of Anything)",
  params: {
    use_locking: opt(t.bool, false, "Whether to use synchronization"),
    instances: opt(t.listOf(t.nonEmptyString), () => [], "List of instances"),
    static: opt(t.bool, false, "Whether to only return configuration data without querying nodes"),
  },
});

export const OpInstanceReboot = defineOpcode({
  id: "OP_INSTANCE_REBOOT",
  className: "OpInstanceReboot",
  doc: "Reboot an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    shutdown_timeout: shutdownTimeout,
    ignore_secondaries: opt(
      t.bool,
      false,
      "Whether to start the instance even if secondary disks are failing",
    ),
    reboot_type: req(t.oneOf(...REBOOT_TYPES), "How to reboot the instance"),
  },
});

export const OpInstanceRecreateDisks = defineOpcode({
  id: "OP_INSTANCE_RECREATE_DISKS",
  className: "OpInstanceRecreateDisks",
  doc: "Recreate an instance's disks.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    disks: opt(recreateDisksInfo, () => [], "Disk list for recreate disks"),
    nodes: opt(
      t.listOf(t.nonEmptyString),
      () => [],
      "New instance nodes, if relocation is desired",
    ),
    node_uuids: opt(
      t.maybe(t.listOf(t.nonEmptyString)),
      null,
      "New instance node UUIDs, if relocation is desired",
    ),
    iallocator,
  },
});

export const OpInstanceReinstall = defineOpcode({
  id: "OP_INSTANCE_REINSTALL",
  className: "OpInstanceReinstall",
  doc: "Reinstall an instance's OS.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    force_variant: forceVariant,
    os_type: opt(t.maybe(t.nonEmptyString), null, "OS type for instance installation"),
    osparams: opt(
      t.maybe(t.anyDict),
      null,
      "Temporary OS parameters (currently only in reinstall, might be added to install as well)",
    ),
    osparams_private: opt(
      t.maybe(t.dictOf(t.private(t.any))),
      null,
      "Private OS parameters for instance reinstalls",
    ),
    osparams_secret: opt(
      t.maybe(t.dictOf(t.private(t.any))),
      null,
      "Secret OS parameters for instance reinstalls",
    ),
  },
});

export const OpInstanceRemove = defineOpcode({
  id: "OP_INSTANCE_REMOVE",
  className: "OpInstanceRemove",
  doc: "Remove an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    shutdown_timeout: shutdownTimeout,
    ignore_failures: opt(t.bool, false, "Whether to ignore failures during removal"),
  },
});

export const OpInstanceRename = defineOpcode({
  id: "OP_INSTANCE_RENAME",
  className: "OpInstanceRename",
  doc: "Rename an instance.",
  result: "NonEmptyString",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    new_name: req(t.nonEmptyString, "New instance name"),
    name_check: opt(t.bool, false, "Whether to check name"),
    ip_check: opt(t.bool, false, "Whether to ensure instance's IP address is inactive"),
  },
});

export const OpInstanceReplaceDisks = defineOpcode({
  id: "OP_INSTANCE_REPLACE_DISKS",
  className: "OpInstanceReplaceDisks",
  doc: "Replace the disks of an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    early_release: opt(t.bool, false, "Whether to release locks as soon as possible"),
    ignore_ipolicy: ignoreIpolicy,
    mode: req(t.oneOf(...REPLACE_DISKS_MODES), "Replacement mode"),
    disks: opt(t.listOf(t.diskIndex), () => [], "List of disk indices"),
    remote_node: opt(t.maybe(t.nonEmptyString), null, "New secondary node"),
    remote_node_uuid: opt(t.maybe(t.nonEmptyString), null, "New secondary node UUID"),
    iallocator,
  },
});

export const OpInstanceSetParams = defineOpcode({
  id: "OP_INSTANCE_SET_PARAMS",
  className: "OpInstanceSetParams",
  doc: "Change the parameters of an instance.",
  result: "List of (Tuple of (NonEmptyString, Anything))",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    force,
    force_variant: forceVariant,
    ignore_ipolicy: ignoreIpolicy,
    nics: opt(t.setParamsMods(t.nicParams), () => [], "List of NIC changes"),
    disks: opt(t.setParamsMods(t.diskParams), () => [], "List of disk changes"),
    beparams: opt(t.anyDict, () => ({}), "Backend parameters for instance"),
    runtime_mem: opt(t.maybe(t.positiveInt), null, "New runtime memory"),
    hvparams: opt(
      t.anyDict,
      () => ({}),
      "Hypervisor parameters for instance, hypervisor-dependent",
    ),
    disk_template: opt(t.maybe(t.diskTemplate), null, "Instance disk template"),
    ext_params: opt(t.anyDict, () => ({}), "List of ExtStorage parameters"),
    file_driver: opt(t.maybe(t.oneOf(...FILE_DRIVERS)), null, "Driver for file-backed disks"),
    file_storage_dir: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Directory for storing file-backed disks",
    ),
    pnode: opt(t.maybe(t.nonEmptyString), null, "Primary node for an instance"),
    pnode_uuid: opt(t.maybe(t.nonEmptyString), null, "Primary node UUID for an instance"),
    remote_node: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Secondary node (used when changing disk template)",
    ),
    remote_node_uuid: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Secondary node UUID (used when changing disk template)",
    ),
    iallocator,
    os_name: opt(
      t.maybe(t.nonEmptyString),
      null,
      "Change the instance's OS without reinstalling the instance",
    ),
    osparams: opt(t.anyDict, () => ({}), "OS parameters for instance"),
    osparams_private: opt(
      t.maybe(t.dictOf(t.private(t.any))),
      null,
      "Private OS parameters for instance",
    ),
    wait_for_sync: waitForSync,
    offline: opt(t.maybe(t.bool), null, "Whether to mark the instance as offline"),
    conflicts_check: conflictsCheck,
    hotplug: opt(t.bool, true),
    instance_communication: opt(
      t.maybe(t.bool),
      null,
      "Enable or disable the communication mechanism for an instance",
    ),
  },
});

export const OpInstanceShutdown = defineOpcode({
  id: "OP_INSTANCE_SHUTDOWN",
  className: "OpInstanceShutdown",
  doc: "Shutdown an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    force,
    ignore_offline_nodes: opt(t.bool, false, "Whether to ignore offline nodes"),
    timeout: opt(
      t.nonNegInt,
      DEFAULT_SHUTDOWN_TIMEOUT,
      "How long to wait for instance to shut down",
    ),
    no_remember: opt(t.bool, false, "Do not remember instance state changes"),
    admin_state_source: opt(
      t.maybe(t.oneOf(...ADMIN_STATE_SOURCES)),
      null,
      "Who last changed the instance admin state",
    ),
  },
});

export const OpInstanceStartup = defineOpcode({
  id: "OP_INSTANCE_STARTUP",
  className: "OpInstanceStartup",
  doc: "Startup an instance.",
  result: "None",
  summaryField: "instance_name",
  params: {
    instance_name: instanceName,
    instance_uuid: instanceUuid,
    force,
    ignore_offline_nodes: opt(t.bool, false, "Whether to ignore offline nodes"),
    hvparams: opt(t.anyDict, () => ({}), "Temporary hypervisor parameters, hypervisor-dependent"),
    beparams: opt(t.anyDict, () => ({}), "Temporary backend parameters"),
    no_remember: opt(t.bool, false, "Do not remember instance state changes"),
    startup_paused: opt(t.bool, false, "Pause instance at startup"),
    shutdown_timeout: shutdownTimeout,
  },
});

// The cluster as a whole (OP_CLUSTER_*).
import { DDM_VALUES } from "../constants.ts";
import { defineOpcode } from "../opcode.ts";
import { autoBalanceChange } from "../autobalance.ts";
import { extension, opt, t } from "../params.ts";
import { diskParams, diskState, force, hvState, jobIdListResult, macPrefix } from "./fields.ts";

/** UID ranges, `[[first, last], ...]` (both inclusive). */
const uidRanges = t.maybe(t.listOf(t.tuple(t.int, t.int)));
/** Changes to an OS list, `[["add" | "remove", os_name], ...]`. */
const osListChanges = t.maybe(t.listOf(t.tuple(t.oneOf(...DDM_VALUES), t.nonEmptyString)));

export const OpClusterRedistConf = defineOpcode({
  id: "OP_CLUSTER_REDIST_CONF",
  className: "OpClusterRedistConf",
  doc: "Force a full push of the cluster configuration.",
  result: "None",
  params: {},
});

export const OpClusterQuery = defineOpcode({
  id: "OP_CLUSTER_QUERY",
  className: "OpClusterQuery",
  doc: "Query cluster information.",
  result: "Dictionary with keys of Anything and values of Anything",
  params: {},
});

export const OpClusterSetParams = defineOpcode({
  id: "OP_CLUSTER_SET_PARAMS",
  className: "OpClusterSetParams",
  doc: "Change the parameters of the cluster.",
  result: `None or (${jobIdListResult})`,
  params: {
    force,
    hv_state: hvState,
    disk_state: diskState,
    vg_name: opt(t.maybe(t.string), null, "Volume group name"),
    enabled_hypervisors: opt(t.maybe(t.listOf(t.hypervisor)), null, "List of enabled hypervisors"),
    hvparams: opt(
      t.maybe(t.dictOf(t.anyDict, t.string)),
      null,
      "Cluster-wide hypervisor parameters, hypervisor-dependent",
    ),
    beparams: opt(t.maybe(t.anyDict), null, "Cluster-wide backend parameter defaults"),
    os_hvp: opt(
      t.maybe(t.dictOf(t.anyDict, t.string)),
      null,
      "Cluster-wide per-OS hypervisor parameter defaults",
    ),
    osparams: opt(
      t.maybe(t.dictOf(t.anyDict, t.string)),
      null,
      "Cluster-wide OS parameter defaults",
    ),
    osparams_private_cluster: opt(
      t.maybe(t.dictOf(t.dictOf(t.private(t.any)), t.string)),
      null,
      "Cluster-wide private OS parameter defaults",
    ),
    diskparams: diskParams,
    candidate_pool_size: opt(t.maybe(t.positiveInt), null, "Master candidate pool size"),
    max_running_jobs: opt(
      t.maybe(t.positiveInt),
      null,
      "Maximal number of jobs to run simultaneously",
    ),
    max_tracked_jobs: opt(
      t.maybe(t.positiveInt),
      null,
      "Maximal number of jobs tracked in the job queue",
    ),
    uid_pool: opt(
      uidRanges,
      null,
      "Set UID pool, must be list of lists describing UID ranges (two items, start and end inclusive)",
    ),
    add_uids: opt(
      uidRanges,
      null,
      "Extend UID pool, must be list of lists describing UID ranges (two items, start and end inclusive)",
    ),
    remove_uids: opt(
      uidRanges,
      null,
      "Shrink UID pool, must be list of lists describing UID ranges (two items, start and end inclusive) to be removed",
    ),
    maintain_node_health: opt(
      t.maybe(t.bool),
      null,
      "Whether to automatically maintain node health",
    ),
    prealloc_wipe_disks: opt(
      t.maybe(t.bool),
      null,
      "Whether to wipe disks before allocating them to instances",
    ),
    nicparams: opt(t.maybe(t.nicParams), null, "Cluster-wide NIC parameter defaults"),
    ndparams: opt(t.maybe(t.anyDict), null, "Cluster-wide node parameter defaults"),
    ipolicy: opt(t.maybe(t.anyDict), null, "Cluster-wide ipolicy specs"),
    drbd_helper: opt(t.maybe(t.string), null, "DRBD helper program"),
    default_iallocator: opt(t.maybe(t.string), null, "Default iallocator for cluster"),
    default_iallocator_params: opt(
      t.maybe(t.anyDict),
      null,
      "Default iallocator parameters for cluster",
    ),
    mac_prefix: macPrefix,
    master_netdev: opt(t.maybe(t.string), null, "Master network device"),
    master_netmask: opt(t.maybe(t.nonNegInt), null, "Netmask of the master IP"),
    reserved_lvs: opt(t.maybe(t.listOf(t.nonEmptyString)), null, "List of reserved LVs"),
    hidden_os: opt(
      osListChanges,
      null,
      "Modify list of hidden operating systems: each modification must have two items, the operation and the OS name; the operation can be add or remove",
    ),
    blacklisted_os: opt(
      osListChanges,
      null,
      "Modify list of blacklisted operating systems: each modification must have two items, the operation and the OS name; the operation can be add or remove",
    ),
    use_external_mip_script: opt(
      t.maybe(t.bool),
      null,
      "Whether to use an external master IP address setup script",
    ),
    enabled_disk_templates: opt(
      t.maybe(t.listOf(t.diskTemplate)),
      null,
      "List of enabled disk templates",
    ),
    modify_etc_hosts: opt(t.maybe(t.bool), null),
    file_storage_dir: opt(t.maybe(t.string), null),
    shared_file_storage_dir: opt(t.maybe(t.string), null),
    gluster_storage_dir: opt(t.maybe(t.string), null),
    install_image: opt(
      t.maybe(t.string),
      null,
      "OS image for running OS scripts in a safe environment",
    ),
    instance_communication_network: opt(t.maybe(t.string), null),
    zeroing_image: opt(t.maybe(t.string), null),
    compression_tools: opt(
      t.maybe(t.listOf(t.nonEmptyString)),
      null,
      "List of enabled compression tools",
    ),
    enabled_user_shutdown: opt(
      t.maybe(t.bool),
      null,
      "Whether user shutdown is enabled cluster wide",
    ),
    enabled_data_collectors: opt(
      t.maybe(t.dictOf(t.bool, t.string)),
      null,
      "Set the active data collectors",
    ),
    data_collector_interval: opt(
      t.maybe(t.dictOf(t.int, t.string)),
      null,
      "Sets the interval in that data collectors are run",
    ),
    auto_balancing: extension(
      t.maybe(autoBalanceChange),
      "Corral: automatic balancing (enabled, threshold, cooldown seconds, max_moves per round); the keys given change",
    ),
  },
});

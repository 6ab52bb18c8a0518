// Over 450 lines: on purpose, the whole protocol (types, call list, deadlines, kinds) in one table.
// The master↔node call table: every call the master can make on a node agent, with its argument
// and result types. Both transports (in-process and HTTPS) carry exactly these calls as JSON,
// so an argument or result must be plain JSON data (no undefined, no Dates). Names follow
// Ganeti's node RPCs (instance_start → instanceStart, blockdev_grow → blockdevGrow).

import type { Disk, Nic, ParamDict } from "../model/objects.ts";
import type { DhcpLease, NetConfigureArgs, NetConfigureResult, StorageBackendKind, StorageReply, StorageRequest } from "../model/pvc-node.ts";

/** Bumped when a call changes incompatibly; `version` reports it so the master can refuse old agents. */
export const PROTOCOL_VERSION = 1;

/**
 * A disk as the agent needs it: the config object's identity, size and template-specific
 * `logical_id` (file: [driver, path]; sharedfile: [driver, path]; ext: [provider, volume]).
 * A config `Disk` is assignable to it.
 */
export type DiskSpec = Pick<Disk, "uuid" | "name" | "size" | "mode" | "dev_type" | "logical_id" | "params">;

/** What an OS script may learn about the network a NIC is connected to. */
export interface NicNetInfo {
  name: string;
  uuid: string;
  network: string | null;
  gateway: string | null;
  network6: string | null;
  gateway6: string | null;
  mac_prefix: string | null;
  tags: string[];
}

/** A NIC with its nicparams already filled from the cluster defaults (mode, link, vlan). */
export type NicSpec = Pick<Nic, "uuid" | "name" | "mac" | "ip" | "network" | "nicparams"> & {
  netinfo?: NicNetInfo | null;
};

/**
 * An instance as the agent needs it. `hvparams` and `beparams` are the *filled* values
 * (cluster → OS → instance); beparams must carry `maxmem`, `minmem` and `vcpus`. A config
 * `Instance` with filled params is assignable to it.
 */
export interface InstanceSpec {
  name: string;
  uuid: string;
  os: string;
  hypervisor: string;
  primary_node: string;
  secondary_nodes: string[];
  hvparams: ParamDict;
  beparams: ParamDict;
  osparams: ParamDict;
  osparams_private: ParamDict;
  disks: DiskSpec[];
  nics: NicSpec[];
  network_port: number | null;
  ctime: number;
  mtime: number;
}

export interface AgentVersion {
  protocol: number;
  agent: "corral-node";
  /** The node name the agent was started with. */
  node: string;
  hypervisors: string[];
  disk_templates: string[];
}

/** Space of one storage unit in MiB (Ganeti's storage info dict). Null when unknown. */
export interface StorageUnitInfo {
  type: string;
  name: string;
  storage_size: number | null;
  storage_free: number | null;
}

/** The hypervisor's view of node resources in MiB (Ganeti's hv node info dict). */
export interface HvNodeInfo {
  memory_total: number;
  /** What is left for instances: total − node OS − instances. */
  memory_free: number;
  /** Memory the node OS keeps (Ganeti's memory_dom0, the `mnode` field). */
  memory_dom0: number;
  /** Memory held by running, paused and incoming instances. */
  memory_instances: number;
  cpu_total: number;
  cpu_dom0: number;
  cpu_nodes: number;
  cpu_sockets: number;
}

/**
 * Node facts: the hypervisor's resources plus storage units and `host`, the real machine
 * as its OS sees it, whatever the hypervisor says.
 */
export interface NodeInfo extends HvNodeInfo {
  name: string;
  hostname: string;
  bootid: string;
  hypervisor: string;
  /** kernel, os and arch are optional: agents before the PVC API did not send them. */
  host: { memory_total: number; memory_free: number; cpu_total: number; loadavg: number[]; kernel?: string; os?: string; arch?: string };
  storage: StorageUnitInfo[];
}

/** "shutdown": the guest powered off and the domain is kept for the user to restart (user_shutdown). */
export type HvInstanceState = "running" | "paused" | "shutdown";

/** An instance as the hypervisor sees it (Ganeti: name, id, memory, vcpus, state, time). */
export interface RunningInstance {
  name: string;
  hypervisor: string;
  id: number;
  memory: number;
  vcpus: number;
  state: HvInstanceState;
  /** Seconds since the (simulated) domain started. */
  uptime: number;
}

export interface ShutdownResult {
  /** False when the instance was not running (nothing to do, as in Ganeti). */
  was_running: boolean;
  /** True when the soft shutdown timed out and the instance was destroyed. */
  forced: boolean;
}

export type RebootType = "soft" | "hard" | "full";

/** Ganeti's InstanceConsole dict (FIELDS.md §6.2): keys that do not apply are absent. */
export interface ConsoleInfo {
  instance: string;
  kind: "ssh" | "vnc" | "spice" | "msg";
  message?: string;
  host?: string;
  port?: number;
  user?: string;
  command?: string[];
  display?: number;
}

/** A hypervisor event as the agent keeps it for the master (see HvEvent in node/hypervisor). */
export interface InstanceEvent {
  /** Position in the agent's event sequence. */
  seq: number;
  instance: string;
  hypervisor: string;
  kind: "stopped" | "user-down" | "crashed" | "started" | "reset";
  detail: string;
  /** Epoch ms. */
  at: number;
}

export interface InstanceEvents {
  /** Changes each time the agent starts: a new epoch means events may have been missed. */
  epoch: string;
  /** The `since` to ask with next. */
  next: number;
  events: InstanceEvent[];
  /** True when events after `since` were dropped (too old, or another epoch): refresh everything. */
  missed: boolean;
}

export interface MigrationStatus {
  status: "active" | "completed" | "failed" | "cancelled";
  // What a hypervisor that measures its migration (kvm) adds: the job log's progress lines.
  /** precopy, or postcopy once the guest runs on the target and pulls the rest. */
  mode?: "precopy" | "postcopy";
  transferredMiB?: number;
  totalMiB?: number;
  remainingMiB?: number;
  /** Passes over the guest's memory so far (QEMU's dirty-sync-count). */
  pass?: number;
  dirtyRateMiBps?: number;
  expectedDowntimeMs?: number;
  /** The downtime limit in force (the convergence policy may have raised it). */
  downtimeLimitMs?: number;
  /** Since the migration started (while active), or its whole duration (once completed). */
  elapsedMs?: number;
  /** The guest's pause at the switch-over (once completed). */
  downtimeMs?: number;
  /** Why it failed or was cancelled; what the convergence policy did. */
  message?: string;
  /** With node-local disks: "storage" while they are mirrored to the target, then "memory". */
  stage?: "storage" | "memory";
  /** Disk data mirrored so far and in all (QEMU's block job offset and length, summed over the disks). */
  diskDoneMiB?: number;
  diskTotalMiB?: number;
  /** How long the disks took to reach the target (once the memory moves). */
  storageMs?: number;
}

/** The disks a migration target serves over NBD (QEMU's own NBD server) while the source mirrors into them. */
export interface DiskExports {
  port: number;
  /** Export name of each disk, by disk uuid. */
  exports: Record<string, string>;
}

/** Where the created disk lives; the master stores `logical_id` in the config. */
export interface CreatedDisk {
  logical_id: unknown[];
  path: string | null;
}

export interface AttachedDisk {
  /** Local path (block device or file); null for userspace-only storage. */
  path: string | null;
  /** Userspace URIs as `<hypervisor>:<uri>`, from ExtStorage attach. */
  uris: string[];
}

export interface DiskStatus {
  exists: boolean;
  /** Actual size in MiB when it can be measured. */
  size: number | null;
  path: string | null;
}

/** One (possibly invalid) OS definition found on the node (Ganeti's os_diagnose row). */
export interface OsDiagnosis {
  name: string;
  path: string;
  valid: boolean;
  /** Why it is invalid; "" when valid. */
  diagnose: string;
  variants: string[];
  /** [name, description] pairs from parameters.list. */
  parameters: [string, string][];
  api_versions: number[];
}

export interface ExtStorageDiagnosis {
  name: string;
  path: string;
  valid: boolean;
  diagnose: string;
  parameters: [string, string][];
}

/** Non-zero blocks of a file as [offset, base64 data] pairs, and the file's size in bytes. */
export interface FileExtents {
  size: number;
  extents: [number, string][];
}

export interface ScriptRun {
  /** The log file on the node holding the script's output. */
  log_file: string;
}

/**
 * Every call an agent serves. Arguments are one JSON object; results are JSON (null where
 * there is nothing to return). A failed call rejects with an RpcCallError.
 */
export interface NodeRpc {
  // --- node
  version(args: Record<string, never>): Promise<AgentVersion>;
  nodeInfo(args: { hypervisor?: string }): Promise<NodeInfo>;
  /** Simulated for the fake hypervisor: resets the agent's own simulated state only. */
  nodePowercycle(args: { hypervisor: string }): Promise<{ message: string }>;

  // --- hypervisor
  instanceStart(args: { instance: InstanceSpec; startup_paused?: boolean }): Promise<RunningInstance>;
  /** Soft shutdown, waiting up to `timeout` seconds, then forced. */
  instanceShutdown(args: { name: string; hypervisor: string; timeout: number }): Promise<ShutdownResult>;
  instanceReboot(args: { instance: InstanceSpec; type: RebootType; shutdown_timeout: number }): Promise<RunningInstance>;
  instanceBalloonMemory(args: { name: string; hypervisor: string; memory: number }): Promise<RunningInstance>;
  instanceList(args: { hypervisors?: string[] }): Promise<RunningInstance[]>;
  instanceInfo(args: { name: string; hypervisor: string }): Promise<RunningInstance | null>;
  instanceConsole(args: { instance: InstanceSpec; host: string }): Promise<ConsoleInfo>;
  /**
   * Events of this node's hypervisors after `since` (a long poll: answers at once when there
   * are some, else after `timeout` seconds with none). How the master hears at once of a
   * guest that powered off or a hypervisor process that died.
   */
  instanceEvents(args: { epoch: string | null; since: number; timeout: number }): Promise<InstanceEvents>;
  /** Tells the running instance that disk `index` grew to `size` MiB (after blockdevGrow). */
  instanceDiskResize(args: { instance: InstanceSpec; index: number; size: number }): Promise<null>;
  /**
   * Plugs device `index` of the instance into its running domain, or unplugs it (Ganeti's
   * hotplug_device). For "add" the instance lists the new device; for "remove" it still does.
   */
  instanceHotplug(args: { instance: InstanceSpec; action: "add" | "remove"; device: "disk" | "nic"; index: number }): Promise<null>;

  // --- migration: source migrationInfo → target acceptInstance → source migrateInstance
  //     → target finalizeMigrationDst → source finalizeMigrationSource
  migrationInfo(args: { instance: InstanceSpec }): Promise<{ info: string }>;
  /** With `tls` the target takes only a TLS stream from a holder of a cluster-signed certificate. With `storage`, the target also serves the instance's (new, empty) disks over NBD for the source to mirror into. */
  acceptInstance(args: { instance: InstanceSpec; info: string; target: string; storage?: boolean; tls?: boolean }): Promise<{ disks: DiskExports | null }>;
  /** With `storage` (what the target's acceptInstance answered), the disks are mirrored first, then the memory moves. */
  migrateInstance(args: { instance: InstanceSpec; target: string; live: boolean; storage?: DiskExports; tls?: boolean }): Promise<null>;
  /** With `wait_ms` (at most 2000) an active migration is answered once it ends or after that long. */
  migrationStatus(args: { instance: InstanceSpec; wait_ms?: number }): Promise<MigrationStatus>;
  finalizeMigrationDst(args: { instance: InstanceSpec; info: string; success: boolean }): Promise<null>;
  finalizeMigrationSource(args: { instance: InstanceSpec; success: boolean; live: boolean }): Promise<null>;

  // --- disks (blockdev_*)
  /** An empty logical_id lets the agent choose one (Ganeti's naming); the result says which. */
  blockdevCreate(args: { instance: string; index: number; disk: DiskSpec; info?: string }): Promise<CreatedDisk>;
  blockdevRemove(args: { disk: DiskSpec }): Promise<null>;
  /** Grows by `amount` MiB; returns the new size in MiB. */
  blockdevGrow(args: { disk: DiskSpec; amount: number; dry_run?: boolean }): Promise<{ size: number }>;
  blockdevRename(args: { disk: DiskSpec; new_logical_id: unknown[] }): Promise<{ logical_id: unknown[] }>;
  blockdevAssemble(args: { instance: string; disk: DiskSpec }): Promise<AttachedDisk>;
  blockdevShutdown(args: { disk: DiskSpec }): Promise<null>;
  blockdevSetInfo(args: { disk: DiskSpec; info: string }): Promise<null>;
  blockdevFind(args: { disks: DiskSpec[] }): Promise<DiskStatus[]>;
  extStorageDiagnose(args: Record<string, never>): Promise<ExtStorageDiagnosis[]>;

  // --- OS definitions (Ganeti OS API 20)
  osDiagnose(args: Record<string, never>): Promise<OsDiagnosis[]>;
  /** Runs the OS verify script (`parameters` check); rejects when the params are invalid. */
  osValidate(args: { name: string; osparams: ParamDict; checks: "parameters"[] }): Promise<null>;
  instanceOsAdd(args: { instance: InstanceSpec; reinstall: boolean; debug: number }): Promise<ScriptRun>;
  instanceOsRename(args: { instance: InstanceSpec; old_name: string; debug: number }): Promise<ScriptRun>;

  // --- exports (Ganeti's export_*/finalize_export; data moves through the OS export and
  //     import scripts, as Ganeti's IEIO_SCRIPT transfers do)
  /** Starts an export of the instance `name` on this node (a fresh "<name>.new"). */
  exportPrepare(args: { name: string }): Promise<null>;
  /** Runs the OS export script of disk `index` into the export being made; the dump is named after the disk uuid. */
  exportDisk(args: { instance: InstanceSpec; index: number; name: string; debug?: number }): Promise<{ file: string; size: number }>;
  /** Writes config.ini and puts the export in place. */
  exportFinalize(args: { name: string; config: string }): Promise<{ path: string }>;
  /** Drops a half-made export. */
  exportAbort(args: { name: string }): Promise<null>;
  /** Finished exports on this node, by name, sorted (Ganeti's export_list; read by /2/query/export). */
  exportList(args: Record<string, never>): Promise<string[]>;
  /** An export's config.ini; `path` is an export name or its absolute path on the node. */
  exportInfo(args: { path: string }): Promise<{ path: string; config: string }>;
  exportRemove(args: { name: string }): Promise<null>;
  /** Blocks of a dump, to copy an export to another node. */
  exportRead(args: { path: string; file: string; offset: number; length: number }): Promise<FileExtents>;
  /** Writes blocks of a dump into export `name` (receiving a copy). */
  exportWrite(args: { name: string; file: string; size: number; extents: [number, string][] }): Promise<null>;
  /** Runs the OS import script of disk `index` with a dump of export `path` on stdin. */
  importDisk(args: { instance: InstanceSpec; index: number; path: string; file: string; debug?: number }): Promise<ScriptRun>;
  /** Copies the data of `src` into `dst` (disk template conversion, both on this node). */
  blockdevConvert(args: { src: DiskSpec; dst: DiskSpec }): Promise<null>;

  // --- PVC API support (types in pvc.ts). New calls only, so protocol 1 stands: an older
  //     agent answers them with UnknownCall.
  /** Pools, volumes, snapshots and OSDs of the storage layer (local files or Ceph). */
  storage(args: { backend: StorageBackendKind; request: StorageRequest }): Promise<StorageReply>;
  /** Renders managed networks into nftables rules (and dnsmasq on the gateway), validates, applies. */
  netConfigure(args: NetConfigureArgs): Promise<NetConfigureResult>;
  /** Dynamic DHCP leases dnsmasq holds for network `vni` (gateway node). */
  netLeases(args: { vni: number }): Promise<DhcpLease[]>;
}

export type RpcCall = keyof NodeRpc;
export type RpcArgs<C extends RpcCall> = Parameters<NodeRpc[C]>[0];
export type RpcResult<C extends RpcCall> = Awaited<ReturnType<NodeRpc[C]>>;

/** The call names at run time: a server dispatches only these. */
export const NODE_RPC_CALLS = [
  "version", "nodeInfo", "nodePowercycle",
  "instanceStart", "instanceShutdown", "instanceReboot", "instanceBalloonMemory",
  "instanceList", "instanceInfo", "instanceConsole", "instanceEvents", "instanceDiskResize", "instanceHotplug",
  "migrationInfo", "acceptInstance", "migrateInstance", "migrationStatus",
  "finalizeMigrationDst", "finalizeMigrationSource",
  "blockdevCreate", "blockdevRemove", "blockdevGrow", "blockdevRename", "blockdevAssemble",
  "blockdevShutdown", "blockdevSetInfo", "blockdevFind", "extStorageDiagnose",
  "osDiagnose", "osValidate", "instanceOsAdd", "instanceOsRename",
  "exportPrepare", "exportDisk", "exportFinalize", "exportAbort", "exportList", "exportInfo", "exportRemove",
  "exportRead", "exportWrite", "importDisk", "blockdevConvert",
  "storage", "netConfigure", "netLeases",
] as const satisfies readonly RpcCall[];

// Compile-time guard: a call added to NodeRpc but not to NODE_RPC_CALLS fails here.
type Missing = Exclude<RpcCall, (typeof NODE_RPC_CALLS)[number]>;
const allCallsListed: [Missing] extends [never] ? true : Missing = true;
void allCallsListed;

const callSet: ReadonlySet<string> = new Set(NODE_RPC_CALLS);
export function isRpcCall(name: string): name is RpcCall {
  return callSet.has(name);
}

const SECOND = 1000;
/** The longest instanceEvents long poll an agent serves, seconds. */
export const MAX_EVENT_WAIT_S = 60;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** What the agent gives the scripts it runs (src/node): the master waits a little longer, so the agent's own timeout error is what a job reports. */
const OS_SCRIPT_LIMIT = 4 * HOUR;
const EXT_SCRIPT_LIMIT = 10 * MINUTE;
const SCRIPT_MARGIN = 2 * MINUTE;

/**
 * How long the master waits for each call's answer, in ms, and why. A call that outlives
 * its deadline fails as RpcTimeout (the node did not answer), failing only the job that
 * made it. Calls that read the agent's memory answer in milliseconds, so a few seconds
 * tell a frozen agent from a busy one; calls that run scripts or move data wait as long as
 * the agent lets the work run. Ganeti's RPC_TMO_* classes are the model, shorter where the
 * work here is shorter.
 */
const CALL_DEADLINES: { readonly [C in RpcCall]: number | ((args: RpcArgs<C>) => number) } = {
  // Reads of the agent's own state (its hypervisor's table, /proc, its directories).
  version: 5 * SECOND,
  nodeInfo: 5 * SECOND,
  instanceList: 5 * SECOND,
  instanceInfo: 5 * SECOND,
  instanceConsole: 5 * SECOND,
  // A long poll: the agent answers after `timeout` s at the latest.
  instanceEvents: (args) => Math.min(Math.max(0, Number(args.timeout) || 0), MAX_EVENT_WAIT_S) * SECOND + 5 * SECOND,
  // One QMP command each (block_resize; device_add/del and what it needs).
  instanceDiskResize: MINUTE,
  instanceHotplug: 2 * MINUTE,
  migrationStatus: 5 * SECOND,
  exportList: 5 * SECOND,
  exportInfo: 5 * SECOND,
  netLeases: 5 * SECOND,
  osDiagnose: 10 * SECOND, // reads every OS definition directory in the search path
  extStorageDiagnose: 10 * SECOND, // reads every ExtStorage provider directory
  // The agent schedules the reboot and answers at once.
  nodePowercycle: 30 * SECOND,
  // Launching the hypervisor's process for the guest; the guest boots after the answer.
  instanceStart: 2 * MINUTE,
  // The soft shutdown waits up to `timeout` s, then the instance is destroyed: a minute for that.
  instanceShutdown: (a) => (positiveSeconds(a.timeout) * SECOND) + MINUTE,
  // A shutdown as above, then a start.
  instanceReboot: (a) => (positiveSeconds(a.shutdown_timeout) * SECOND) + 2 * MINUTE,
  instanceBalloonMemory: MINUTE, // the guest's balloon driver may take a while to give memory back
  // Migration steps that prepare or settle state on one side.
  migrationInfo: MINUTE,
  acceptInstance: MINUTE,
  finalizeMigrationDst: MINUTE,
  finalizeMigrationSource: MINUTE,
  // The memory copy of a large guest over the secondary network (Ganeti's RPC_TMO_SLOW).
  migrateInstance: HOUR,
  // Disk calls may run an ExtStorage script (create, attach, grow, remove...).
  blockdevCreate: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevRemove: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevGrow: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevRename: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevAssemble: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevShutdown: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevSetInfo: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  blockdevFind: EXT_SCRIPT_LIMIT + SCRIPT_MARGIN,
  // The OS verify script: short by the OS API's contract (Ganeti's RPC_TMO_FAST).
  osValidate: 5 * MINUTE,
  // OS create/rename/export/import scripts copy whole disks.
  instanceOsAdd: OS_SCRIPT_LIMIT + SCRIPT_MARGIN,
  instanceOsRename: OS_SCRIPT_LIMIT + SCRIPT_MARGIN,
  exportDisk: OS_SCRIPT_LIMIT + SCRIPT_MARGIN,
  importDisk: OS_SCRIPT_LIMIT + SCRIPT_MARGIN,
  // A whole-disk copy (cp, which the agent gives an hour).
  blockdevConvert: HOUR + SCRIPT_MARGIN,
  // Export bookkeeping: directories and config.ini; removing one deletes its disk dumps.
  exportPrepare: MINUTE,
  exportFinalize: MINUTE,
  exportAbort: 5 * MINUTE,
  exportRemove: 5 * MINUTE,
  // One 16 MiB window of a dump (read or written and synced).
  exportRead: 2 * MINUTE,
  exportWrite: 2 * MINUTE,
  // Ceph tools run up to 5 min each on the agent; a request may run two.
  storage: 10 * MINUTE + SCRIPT_MARGIN,
  // nft and dnsmasq checks and loads, 30 s each on the agent.
  netConfigure: 2 * MINUTE,
};

function positiveSeconds(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0;
}

/** The deadline of one call with its arguments, in ms (see CALL_DEADLINES). */
export function callTimeoutMs<C extends RpcCall>(call: C, args: RpcArgs<C> | unknown): number {
  const deadline = CALL_DEADLINES[call] as number | ((args: RpcArgs<C>) => number);
  if (typeof deadline === "number") return deadline;
  // Arguments come from the master's own code; guard anyway, a deadline must be a number.
  const a = (typeof args === "object" && args !== null ? args : {}) as RpcArgs<C>;
  return deadline(a);
}

/**
 * A leading master's term, sent with every call it makes (issue 17): the store whose
 * leadership it holds and its epoch there (the fence of its writes). An epoch only grows within
 * one store; `store` tells a new store (a cluster moved to another backend) from an old master.
 */
export interface MasterTerm {
  store: string;
  epoch: number;
}

/**
 * "order": the call changes the host (guests, disks, files, networks): an agent obeys it only
 * from the newest master it knows of (an agent that keeps terms: node/agent/terms.ts), and a
 * master that does not lead sends none. "read": facts only, from any master, standbys included.
 */
export type CallKind = "order" | "read";

/** Storage requests that only read (the others create, change or remove). */
const STORAGE_READS: ReadonlySet<string> = new Set(["status", "df", "pool_list", "volume_list", "volume_disk", "snapshot_list", "osd_list"]);

const CALL_KINDS: { readonly [C in RpcCall]: CallKind | ((args: RpcArgs<C>) => CallKind) } = {
  version: "read",
  nodeInfo: "read",
  // Resets the (simulated) node: an order.
  nodePowercycle: "order",
  instanceStart: "order",
  instanceShutdown: "order",
  instanceReboot: "order",
  instanceBalloonMemory: "order",
  instanceList: "read",
  instanceInfo: "read",
  // Says how to reach the console; the console channel itself is no node call.
  instanceConsole: "read",
  instanceEvents: "read",
  instanceDiskResize: "order",
  instanceHotplug: "order",
  migrationInfo: "read",
  // Both sides of a migration are ordered by the master, each under its term: the source
  // then talks only to the QEMU the target's acceptInstance prepared, not to its agent.
  acceptInstance: "order",
  migrateInstance: "order",
  migrationStatus: "read",
  finalizeMigrationDst: "order",
  finalizeMigrationSource: "order",
  blockdevCreate: "order",
  blockdevRemove: "order",
  blockdevGrow: "order",
  blockdevRename: "order",
  blockdevAssemble: "order",
  blockdevShutdown: "order",
  blockdevSetInfo: "order",
  blockdevFind: "read",
  extStorageDiagnose: "read",
  osDiagnose: "read",
  // The OS verify script checks parameters and changes nothing (OS API contract).
  osValidate: "read",
  instanceOsAdd: "order",
  instanceOsRename: "order",
  exportPrepare: "order",
  exportDisk: "order",
  exportFinalize: "order",
  exportAbort: "order",
  exportList: "read",
  exportInfo: "read",
  exportRemove: "order",
  exportRead: "read",
  exportWrite: "order",
  importDisk: "order",
  blockdevConvert: "order",
  storage: (a) => (STORAGE_READS.has(String((a.request as { op?: unknown } | undefined)?.op)) ? "read" : "order"),
  netConfigure: "order",
  netLeases: "read",
};

/** Whether call `call` with these arguments is an order or a read (see CALL_KINDS). */
export function callKind<C extends RpcCall>(call: C, args: RpcArgs<C> | unknown): CallKind {
  const kind = CALL_KINDS[call] as CallKind | ((args: RpcArgs<C>) => CallKind);
  if (typeof kind === "string") return kind;
  // The agent asks with arguments from the wire: guard, an unreadable request is an order.
  const a = (typeof args === "object" && args !== null ? args : {}) as RpcArgs<C>;
  return kind(a);
}

/** The HTTP header carrying the term (JSON) on the HTTPS transport. */
export const TERM_HEADER = "x-corral-master-term";

/** A term from the wire, or an Error saying what is wrong with it. */
export function parseMasterTerm(text: string): MasterTerm | Error {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return new Error("the master term is not valid JSON");
  }
  const t = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof t.store !== "string" || t.store === "" || t.store.length > 200) return new Error("the master term's store must be a non-empty string");
  if (typeof t.epoch !== "number" || !Number.isSafeInteger(t.epoch) || t.epoch < 0) return new Error("the master term's epoch must be a non-negative integer");
  return { store: t.store, epoch: t.epoch };
}

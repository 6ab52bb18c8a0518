// The node agent: serves every NodeRpc call on one node, over hypervisors (fake and kvm),
// disk backends (diskless, file, sharedfile, ext) and OS definitions. It owns a state dir;
// everything it must remember across restarts lives there. It knows nothing of the master's
// config, jobs or API: all it learns comes in the call arguments.
// Over 450 lines: one method per node call, each short; splitting it by call family (power,
// migration, disks, exports) is the house issue's work (12).

import { stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ECODE } from "../../model/errors.ts";
import { migrationCapsOf } from "../../model/hvparams.ts";
import type { ParamDict } from "../../model/objects.ts";
import {
  PROTOCOL_VERSION,
  type AgentVersion,
  type AttachedDisk,
  type ConsoleInfo,
  type CreatedDisk,
  type DiskExports,
  type DiskSpec,
  type DiskStatus,
  type ExtStorageDiagnosis,
  type FileExtents,
  type InstanceEvents,
  type InstanceSpec,
  type MigrationStatus,
  type NodeInfo,
  type NodeRpc,
  type OsDiagnosis,
  type RebootType,
  type RunningInstance,
  type ScriptRun,
  type ShutdownResult,
  type StorageUnitInfo,
  MAX_EVENT_WAIT_S,
} from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { ExportStore } from "../export/exports.ts";
import { hostFacts } from "../facts/facts.ts";
import { FakeHypervisor, FAKE_HV } from "../hypervisor/fake.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import { KvmHypervisor, type KvmOptions } from "../hypervisor/kvm/kvm.ts";
import { OsRunner } from "../os/runner.ts";
import { DEFAULT_EXTSTORAGE_SEARCH_PATH, DEFAULT_OS_SEARCH_PATH } from "../paths.ts";
import type { DiskBackend } from "../storage/backend.ts";
import { DisklessBackend } from "../storage/diskless.ts";
import { diagnoseExtStorage, ExtStorageBackend } from "../storage/ext.ts";
import { FileBackend } from "../storage/file.ts";
import { KeyedMutex } from "../util/lock.ts";
import { copySparse } from "../util/sparse.ts";
import { argError, checkInt, checkName, checkNumber, checkObject, checkString } from "../util/names.ts";
import { EventLog } from "./events.ts";
import { checkDiskExports, checkDiskSpec, checkInstanceSpec, memoryParams } from "./spec.ts";
import type { DhcpLease, NetConfigureArgs, NetConfigureResult, StorageBackendKind, StorageReply, StorageRequest } from "../../model/pvc-node.ts";
import { NetworkConfigurator } from "../network/apply.ts";
import { NodeStorage } from "../volumes/index.ts";

export interface NodeAgentOptions {
  /** The agent's own directory: hypervisor state, file storage (by default), logs. */
  stateDir: string;
  /** The node's name in the cluster (default: the host name). */
  nodeName?: string;
  /** Fake hypervisor memory budget, MiB (default 32768). */
  memoryTotal?: number;
  /** Part of the budget kept by the simulated node OS, MiB (default 1024). */
  memoryDom0?: number;
  /** CPUs the fake hypervisor reports (default: this machine's). */
  cpuTotal?: number;
  fileStorageDir?: string;
  sharedFileStorageDir?: string;
  osSearchPath?: string[];
  extStorageSearchPath?: string[];
  /** Limit for one OS script run, ms (default 4 h). */
  osScriptTimeoutMs?: number;
  /** Limit for one ExtStorage script run, ms (default 10 min). */
  extScriptTimeoutMs?: number;
  /** Replaces the default hypervisors (fake and kvm). */
  hypervisors?: Hypervisor[];
  /**
   * Options of the kvm hypervisor (QEMU), whose instances live under <stateDir>/kvm; false
   * leaves it out. It is there by default: a node runs kvm instances once the cluster
   * enables kvm and QEMU is installed (starting one without QEMU fails saying so).
   */
  kvm?: Omit<KvmOptions, "stateDir"> | false;
  /** How often a soft shutdown is checked for completion, ms (default 250). */
  shutdownPollMs?: number;
  /** The cluster certificate and key (PEM): kvm signs the certificates of encrypted migrations with it. */
  clusterCert?: { cert: string; key: string };
  /** Managed networks (PVC API): load nftables/dnsmasq for real (default: render and check only), in a netns. */
  networkApply?: { apply: boolean; netns?: string };
}

/** Longest wait of a migrationStatus long poll, ms. */
const MAX_MIGRATION_WAIT_MS = 2000;

/** Longest soft-shutdown wait accepted, seconds: bounds every wait loop. */
const MAX_SHUTDOWN_TIMEOUT = 24 * 3600;

export class NodeAgent implements NodeRpc {
  readonly stateDir: string;
  readonly nodeName: string;
  readonly fileStorageDir: string;
  readonly sharedFileStorageDir: string;
  private readonly hypervisors = new Map<string, Hypervisor>();
  private readonly backends = new Map<string, DiskBackend>();
  private readonly os: OsRunner;
  private readonly exports: ExportStore;
  private readonly extSearchPath: string[];
  private readonly locks = new KeyedMutex();
  private readonly pollMs: number;
  private readonly pvcStorage: NodeStorage;
  /** What the hypervisors noticed by themselves (a guest powered off, a process died). */
  private readonly events = new EventLog();
  readonly networks: NetworkConfigurator;
  /** Whether managed networks are applied, and in which namespace, as the agent was started. */
  readonly networkApply: { readonly apply: boolean; readonly netns?: string };

  constructor(opts: NodeAgentOptions) {
    this.stateDir = resolve(opts.stateDir);
    this.nodeName = opts.nodeName ?? hostname();
    this.fileStorageDir = resolve(opts.fileStorageDir ?? join(this.stateDir, "file-storage"));
    this.sharedFileStorageDir = resolve(opts.sharedFileStorageDir ?? join(this.stateDir, "shared-file-storage"));
    this.pollMs = opts.shutdownPollMs ?? 250;
    let hvs = opts.hypervisors ?? [
      new FakeHypervisor({
        stateDir: join(this.stateDir, "hypervisor"),
        memoryTotal: opts.memoryTotal,
        memoryDom0: opts.memoryDom0,
        cpuTotal: opts.cpuTotal,
      }),
    ];
    if (!opts.hypervisors && opts.kvm !== false) hvs = [...hvs, new KvmHypervisor({ ...opts.kvm, stateDir: join(this.stateDir, "kvm"), ...(opts.clusterCert ? { clusterCert: opts.clusterCert } : {}) })];
    for (const hv of hvs) {
      this.hypervisors.set(hv.name, hv);
      hv.onEvent((e) => this.events.add({ ...e, hypervisor: hv.name }));
    }
    this.extSearchPath = opts.extStorageSearchPath ?? DEFAULT_EXTSTORAGE_SEARCH_PATH;
    const backends: DiskBackend[] = [
      new DisklessBackend(),
      new FileBackend("file", this.fileStorageDir),
      new FileBackend("sharedfile", this.sharedFileStorageDir),
      new ExtStorageBackend({
        searchPath: this.extSearchPath,
        logDir: join(this.stateDir, "log", "extstorage"),
        timeoutMs: opts.extScriptTimeoutMs,
      }),
    ];
    for (const b of backends) this.backends.set(b.template, b);
    this.exports = new ExportStore(join(this.stateDir, "export"));
    this.pvcStorage = new NodeStorage({ nodeName: this.nodeName, stateDir: this.stateDir, localRoot: join(this.sharedFileStorageDir, "pvc") });
    this.networkApply = { apply: false, ...opts.networkApply };
    this.networks = new NetworkConfigurator({ dir: join(this.stateDir, "network"), ...this.networkApply });
    this.os = new OsRunner({
      searchPath: opts.osSearchPath ?? DEFAULT_OS_SEARCH_PATH,
      logDir: join(this.stateDir, "log", "os"),
      timeoutMs: opts.osScriptTimeoutMs,
    });
  }

  /** A hypervisor by name (for tests and the agent's owner; not a node call). */
  hypervisor(name: string): Hypervisor {
    const hv = this.hypervisors.get(name);
    if (!hv) {
      throw new AgentError(
        AGENT_ERRORS.hypervisor,
        `Hypervisor '${name}' is not available on node ${this.nodeName} (have: ${[...this.hypervisors.keys()].join(", ")})`,
        ECODE.environ,
      );
    }
    return hv;
  }

  /** Stops watching hypervisor domains (they keep running; the next agent adopts them). */
  async close(): Promise<void> {
    for (const hv of this.hypervisors.values()) await hv.close?.();
  }

  /** The fake one when present, else the first configured. */
  private defaultHypervisor(): string {
    return this.hypervisors.has(FAKE_HV) ? FAKE_HV : [...this.hypervisors.keys()][0];
  }

  private backend(disk: DiskSpec): DiskBackend {
    const b = this.backends.get(disk.dev_type);
    if (!b) {
      throw new AgentError(
        AGENT_ERRORS.blockDevice,
        `Disk template '${disk.dev_type}' is not supported on node ${this.nodeName} (have: ${[...this.backends.keys()].join(", ")})`,
        ECODE.inval,
      );
    }
    return b;
  }

  // --- node

  async version(): Promise<AgentVersion> {
    return {
      protocol: PROTOCOL_VERSION,
      agent: "corral-node",
      node: this.nodeName,
      hypervisors: [...this.hypervisors.keys()],
      disk_templates: [...this.backends.keys()],
    };
  }

  async nodeInfo(args: { hypervisor?: string }): Promise<NodeInfo> {
    // The cluster's default hypervisor when this node has it, else the node's own default:
    // facts are still facts, and `hypervisor` in the answer says whose they are.
    const wanted = args.hypervisor === undefined ? undefined : checkString(args.hypervisor, "hypervisor");
    const hv = this.hypervisor(wanted !== undefined && this.hypervisors.has(wanted) ? wanted : this.defaultHypervisor());
    const [hvInfo, host, bootid] = await Promise.all([hv.nodeInfo(), hostFacts(), hv.bootId()]);
    const storage: StorageUnitInfo[] = [];
    for (const b of this.backends.values()) {
      const info = await b.spaceInfo();
      if (info) storage.push(info);
    }
    return {
      name: this.nodeName,
      hostname: host.hostname,
      bootid,
      hypervisor: hv.name,
      ...hvInfo,
      host: {
        memory_total: host.memory_total, memory_free: host.memory_free, cpu_total: host.cpu_total, loadavg: host.loadavg,
        kernel: host.kernel, os: host.os, arch: host.arch,
      },
      storage,
    };
  }

  async nodePowercycle(args: { hypervisor: string }): Promise<{ message: string }> {
    const hv = this.hypervisor(checkString(args.hypervisor, "hypervisor"));
    return { message: await hv.powercycle() };
  }

  // --- hypervisor

  async instanceStart(args: { instance: InstanceSpec; startup_paused?: boolean }): Promise<RunningInstance> {
    const inst = checkInstanceSpec(args.instance);
    return this.locks.run(inst.name, () => this.start(inst, args.startup_paused === true));
  }

  /** Starts `inst` (instance lock held). Already running is success, as in Ganeti. */
  private async start(inst: InstanceSpec, paused: boolean): Promise<RunningInstance> {
    const hv = this.hypervisor(inst.hypervisor);
    const running = await hv.instanceInfo(inst.name);
    // A domain kept after its guest powered off (user_shutdown) starts afresh.
    if (running?.state === "shutdown") await hv.stop(inst.name, true);
    else if (running) return running;
    const disks = await this.attachAll(inst.name, inst.disks);
    const { maxmem, minmem, vcpus } = memoryParams(inst);
    return this.locks.run("memory", async () => {
      const free = (await hv.nodeInfo()).memory_free;
      if (free < minmem) {
        throw new AgentError(
          AGENT_ERRORS.hypervisor,
          `Not enough memory on node ${this.nodeName} to start instance ${inst.name}: needs ${minmem} MiB, ${free} MiB free`,
          ECODE.noRes,
        );
      }
      // Ganeti's startup memory: as much as maxmem allows, never below minmem.
      const memory = Math.max(minmem, Math.min(maxmem, free));
      return hv.start({ instance: inst, memory, vcpus, disks, paused });
    });
  }

  async instanceShutdown(args: { name: string; hypervisor: string; timeout: number }): Promise<ShutdownResult> {
    const name = checkName(args.name, "instance name");
    const hvName = checkString(args.hypervisor, "hypervisor");
    const timeout = Math.min(checkNumber(args.timeout, "timeout"), MAX_SHUTDOWN_TIMEOUT);
    // A node without that hypervisor runs none of its domains: there is nothing to stop.
    if (!this.hypervisors.has(hvName)) return { was_running: false, forced: false };
    const hv = this.hypervisor(hvName);
    return this.locks.run(name, () => this.shutdown(hv, name, timeout));
  }

  /** Soft stop, wait up to `timeout` s, then forced (instance lock held). */
  private async shutdown(hv: Hypervisor, name: string, timeout: number): Promise<ShutdownResult> {
    if (!(await hv.instanceInfo(name))) return { was_running: false, forced: false };
    const deadline = Date.now() + timeout * 1000;
    try {
      await hv.stop(name, false);
    } catch (err) {
      if (await hv.instanceInfo(name)) throw this.stopFailed(name, err);
      return { was_running: true, forced: false };
    }
    while (Date.now() < deadline) {
      if (!(await hv.instanceInfo(name))) return { was_running: true, forced: false };
      await sleep(Math.max(1, Math.min(this.pollMs, deadline - Date.now())));
    }
    if (!(await hv.instanceInfo(name))) return { was_running: true, forced: false };
    try {
      await hv.stop(name, true);
    } catch (err) {
      if (await hv.instanceInfo(name)) throw this.stopFailed(name, err);
    }
    if (await hv.instanceInfo(name)) {
      throw new AgentError(AGENT_ERRORS.hypervisor, `Could not shutdown instance ${name} even by destroy`);
    }
    return { was_running: true, forced: true };
  }

  private stopFailed(name: string, err: unknown): AgentError {
    return new AgentError(AGENT_ERRORS.hypervisor, `Failed to stop instance ${name}: ${err instanceof Error ? err.message : String(err)}`);
  }

  async instanceReboot(args: { instance: InstanceSpec; type: RebootType; shutdown_timeout: number }): Promise<RunningInstance> {
    const inst = checkInstanceSpec(args.instance);
    const type = args.type;
    if (type !== "soft" && type !== "hard" && type !== "full") {
      throw argError(`Invalid reboot type ${JSON.stringify(type)}, expected soft, hard or full`);
    }
    const timeout = Math.min(checkNumber(args.shutdown_timeout, "shutdown_timeout"), MAX_SHUTDOWN_TIMEOUT);
    return this.locks.run(inst.name, async () => {
      const hv = this.hypervisor(inst.hypervisor);
      if (!(await hv.instanceInfo(inst.name))) {
        throw new AgentError(AGENT_ERRORS.hypervisor, `Cannot reboot instance ${inst.name} that is not running`, ECODE.state);
      }
      if (type === "soft") {
        await hv.softReboot(inst.name);
        return (await hv.instanceInfo(inst.name))!;
      }
      // hard: recreate the domain; full: the same from the node's point of view (Ganeti's
      // master turns "full" into stop + start, which is what this does).
      await this.shutdown(hv, inst.name, timeout);
      return this.start(inst, false);
    });
  }

  async instanceBalloonMemory(args: { name: string; hypervisor: string; memory: number }): Promise<RunningInstance> {
    const name = checkName(args.name, "instance name");
    const hv = this.hypervisor(checkString(args.hypervisor, "hypervisor"));
    const memory = checkInt(args.memory, "memory", 1);
    return this.locks.run(name, () => this.locks.run("memory", () => hv.balloon(name, memory)));
  }

  async instanceList(args: { hypervisors?: string[] }): Promise<RunningInstance[]> {
    const names = args.hypervisors ?? [...this.hypervisors.keys()];
    if (!Array.isArray(names)) throw argError("hypervisors must be a list");
    const out: RunningInstance[] = [];
    for (const n of names) out.push(...(await this.hypervisor(checkString(n, "hypervisor")).listInstances()));
    return out;
  }

  async instanceInfo(args: { name: string; hypervisor: string }): Promise<RunningInstance | null> {
    const name = checkName(args.name, "instance name");
    return this.hypervisor(checkString(args.hypervisor, "hypervisor")).instanceInfo(name);
  }

  async instanceConsole(args: { instance: InstanceSpec; host: string }): Promise<ConsoleInfo> {
    const inst = checkInstanceSpec(args.instance);
    const hv = this.hypervisor(inst.hypervisor);
    if (!(await hv.instanceInfo(inst.name))) {
      throw new AgentError(AGENT_ERRORS.hypervisor, `Instance ${inst.name} is not running`, ECODE.state);
    }
    return hv.console(inst, typeof args.host === "string" && args.host !== "" ? args.host : this.nodeName);
  }

  async instanceEvents(args: { epoch: string | null; since: number; timeout: number }): Promise<InstanceEvents> {
    const epoch = args.epoch === null || args.epoch === undefined ? null : checkString(args.epoch, "epoch");
    const since = checkInt(args.since, "since", 0);
    const timeout = Math.min(checkNumber(args.timeout, "timeout"), MAX_EVENT_WAIT_S);
    return this.events.since(epoch, since, Math.max(0, timeout) * 1000);
  }

  async instanceDiskResize(args: { instance: InstanceSpec; index: number; size: number }): Promise<null> {
    const inst = checkInstanceSpec(args.instance);
    const index = checkInt(args.index, "index", 0);
    const size = checkInt(args.size, "size", 1);
    const disk = inst.disks[index];
    if (!disk) throw argError(`Instance ${inst.name} has no disk ${index}`);
    await this.locks.run(inst.name, async () => {
      const hv = this.hypervisor(inst.hypervisor);
      if (!(await hv.instanceInfo(inst.name))) return; // not running: the next start sees the new size
      const attached = await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).attach(disk));
      await hv.resizeDisk(inst.name, index, attached, size);
    });
    return null;
  }

  async instanceHotplug(args: { instance: InstanceSpec; action: "add" | "remove"; device: "disk" | "nic"; index: number }): Promise<null> {
    const inst = checkInstanceSpec(args.instance);
    const { action, device } = args;
    if (action !== "add" && action !== "remove") throw argError(`Invalid hotplug action ${JSON.stringify(action)}, expected add or remove`);
    if (device !== "disk" && device !== "nic") throw argError(`Invalid hotplug device ${JSON.stringify(device)}, expected disk or nic`);
    const index = checkInt(args.index, "index", 0);
    await this.locks.run(inst.name, async () => {
      const hv = this.hypervisor(inst.hypervisor);
      if (!(await hv.instanceInfo(inst.name))) {
        throw new AgentError(AGENT_ERRORS.hypervisor, `Cannot hotplug into instance ${inst.name}: it is not running`, ECODE.state);
      }
      if (device === "nic") {
        const nic = inst.nics[index];
        if (!nic) throw argError(`Instance ${inst.name} has no NIC ${index}`);
        return hv.hotplugNic(inst.name, action, index, nic);
      }
      const disk = inst.disks[index];
      if (!disk) throw argError(`Instance ${inst.name} has no disk ${index}`);
      const attached = action === "add" ? (await this.attachAll(inst.name, [disk]))[0] : null;
      return hv.hotplugDisk(inst.name, action, index, disk, attached);
    });
    return null;
  }

  // --- migration

  async migrationInfo(args: { instance: InstanceSpec }): Promise<{ info: string }> {
    const inst = checkInstanceSpec(args.instance);
    return { info: await this.hypervisor(inst.hypervisor).migrationInfo(inst.name) };
  }

  async acceptInstance(args: { instance: InstanceSpec; info: string; target: string; storage?: boolean; tls?: boolean }): Promise<{ disks: DiskExports | null }> {
    const inst = checkInstanceSpec(args.instance);
    const info = checkString(args.info, "info");
    const hv = this.hypervisor(inst.hypervisor);
    return this.locks.run(inst.name, async () => {
      const disks = await this.attachAll(inst.name, inst.disks);
      const options = { storage: args.storage === true, tls: args.tls === true };
      return { disks: await this.locks.run("memory", () => hv.acceptInstance(inst, info, disks, options)) };
    });
  }

  async migrateInstance(args: { instance: InstanceSpec; target: string; live: boolean; storage?: DiskExports; tls?: boolean }): Promise<null> {
    const inst = checkInstanceSpec(args.instance);
    const target = checkString(args.target, "target");
    const hv = this.hypervisor(inst.hypervisor);
    const hvp = inst.hvparams;
    const options = {
      live: args.live === true,
      bandwidth: typeof hvp.migration_bandwidth === "number" ? hvp.migration_bandwidth : undefined,
      downtime: typeof hvp.migration_downtime === "number" ? hvp.migration_downtime : undefined,
      caps: migrationCapsOf(hvp.migration_caps),
      ...(args.storage === undefined ? {} : { storage: checkDiskExports(args.storage) }),
      tls: args.tls === true,
    };
    await this.locks.run(inst.name, () => hv.migrate(inst.name, target, options));
    return null;
  }

  async migrationStatus(args: { instance: InstanceSpec; wait_ms?: number }): Promise<MigrationStatus> {
    const inst = checkInstanceSpec(args.instance);
    const waitMs = args.wait_ms === undefined ? 0 : Math.min(checkInt(args.wait_ms, "wait_ms"), MAX_MIGRATION_WAIT_MS);
    return this.hypervisor(inst.hypervisor).migrationStatus(inst.name, waitMs);
  }

  async finalizeMigrationDst(args: { instance: InstanceSpec; info: string; success: boolean }): Promise<null> {
    const inst = checkInstanceSpec(args.instance);
    const info = checkString(args.info, "info");
    const hv = this.hypervisor(inst.hypervisor);
    await this.locks.run(inst.name, () => hv.finalizeMigrationDst(inst, info, args.success === true));
    return null;
  }

  async finalizeMigrationSource(args: { instance: InstanceSpec; success: boolean; live: boolean }): Promise<null> {
    const inst = checkInstanceSpec(args.instance);
    const hv = this.hypervisor(inst.hypervisor);
    await this.locks.run(inst.name, () => hv.finalizeMigrationSource(inst.name, args.success === true));
    return null;
  }

  // --- disks

  async blockdevCreate(args: { instance: string; index: number; disk: DiskSpec; info?: string }): Promise<CreatedDisk> {
    const instance = checkName(args.instance, "instance name");
    const index = checkInt(args.index, "disk index");
    const disk = checkDiskSpec(args.disk);
    const info = args.info === undefined ? `originstname+${instance}` : checkString(args.info, "info");
    return this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).create(disk, { instance, index, info }));
  }

  async blockdevRemove(args: { disk: DiskSpec }): Promise<null> {
    const disk = checkDiskSpec(args.disk);
    await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).remove(disk));
    return null;
  }

  async blockdevGrow(args: { disk: DiskSpec; amount: number; dry_run?: boolean }): Promise<{ size: number }> {
    const disk = checkDiskSpec(args.disk);
    const amount = checkInt(args.amount, "amount", 1);
    const size = await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).grow(disk, amount, args.dry_run === true));
    return { size };
  }

  async blockdevRename(args: { disk: DiskSpec; new_logical_id: unknown[] }): Promise<{ logical_id: unknown[] }> {
    const disk = checkDiskSpec(args.disk);
    if (!Array.isArray(args.new_logical_id)) throw argError("new_logical_id must be a list");
    const logical_id = await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).rename(disk, args.new_logical_id));
    return { logical_id };
  }

  async blockdevAssemble(args: { instance: string; disk: DiskSpec }): Promise<AttachedDisk> {
    checkName(args.instance, "instance name");
    const disk = checkDiskSpec(args.disk);
    return this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).attach(disk));
  }

  async blockdevShutdown(args: { disk: DiskSpec }): Promise<null> {
    const disk = checkDiskSpec(args.disk);
    await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).detach(disk));
    return null;
  }

  async blockdevSetInfo(args: { disk: DiskSpec; info: string }): Promise<null> {
    const disk = checkDiskSpec(args.disk);
    const info = checkString(args.info, "info");
    await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).setInfo(disk, info));
    return null;
  }

  async blockdevFind(args: { disks: DiskSpec[] }): Promise<DiskStatus[]> {
    if (!Array.isArray(args.disks)) throw argError("disks must be a list");
    const out: DiskStatus[] = [];
    for (const [i, d] of args.disks.entries()) {
      const disk = checkDiskSpec(d, `disk ${i}`);
      out.push(await this.backend(disk).find(disk));
    }
    return out;
  }

  async extStorageDiagnose(): Promise<ExtStorageDiagnosis[]> {
    return diagnoseExtStorage(this.extSearchPath);
  }

  private async attachAll(instance: string, disks: DiskSpec[]): Promise<AttachedDisk[]> {
    const out: AttachedDisk[] = [];
    for (const disk of disks) {
      out.push(await this.locks.run(`disk:${disk.uuid}`, () => this.backend(disk).attach(disk)).catch((err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        throw new AgentError(AGENT_ERRORS.blockDevice, `Cannot activate disk ${disk.uuid} of instance ${instance}: ${msg}`);
      }));
    }
    return out;
  }

  // --- OS definitions

  async osDiagnose(): Promise<OsDiagnosis[]> {
    return this.os.diagnose();
  }

  async osValidate(args: { name: string; osparams: ParamDict; checks: "parameters"[] }): Promise<null> {
    const name = checkString(args.name, "OS name");
    const osparams = checkObject(args.osparams ?? {}, "osparams");
    const checks = args.checks ?? ["parameters"];
    if (!Array.isArray(checks) || checks.some((c) => c !== "parameters")) {
      throw argError(`Unknown OS validation checks ${JSON.stringify(checks)}; supported: parameters`);
    }
    await this.os.validate(name, osparams, checks);
    return null;
  }

  async instanceOsAdd(args: { instance: InstanceSpec; reinstall: boolean; debug: number }): Promise<ScriptRun> {
    const inst = checkInstanceSpec(args.instance);
    const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
    return this.locks.run(inst.name, async () => {
      const disks = await this.attachAll(inst.name, inst.disks);
      return { log_file: await this.os.create(inst, disks, args.reinstall === true, debug) };
    });
  }

  async instanceOsRename(args: { instance: InstanceSpec; old_name: string; debug: number }): Promise<ScriptRun> {
    const inst = checkInstanceSpec(args.instance);
    const oldName = checkName(args.old_name, "old instance name");
    const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
    return this.locks.run(inst.name, async () => {
      const disks = await this.attachAll(inst.name, inst.disks);
      return { log_file: await this.os.rename(inst, oldName, disks, debug) };
    });
  }

  // --- exports

  async exportPrepare(args: { name: string }): Promise<null> {
    await this.exports.prepare(checkName(args.name, "export name"));
    return null;
  }

  async exportDisk(args: { instance: InstanceSpec; index: number; name: string; debug?: number }): Promise<{ file: string; size: number }> {
    const inst = checkInstanceSpec(args.instance);
    const index = checkInt(args.index, "disk index");
    const disk = inst.disks[index];
    if (!disk) throw argError(`Instance ${inst.name} has no disk ${index}`);
    const file = checkName(disk.uuid, "disk uuid");
    const out = this.exports.newDumpPath(checkName(args.name, "export name"), file);
    const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
    await this.locks.run(inst.name, async () => {
      const disks = await this.attachAll(inst.name, inst.disks);
      await this.os.exportDisk(inst, disks, index, out, debug);
    });
    return { file, size: (await stat(out)).size };
  }

  async exportFinalize(args: { name: string; config: string }): Promise<{ path: string }> {
    return { path: await this.exports.finalize(checkName(args.name, "export name"), checkString(args.config, "config")) };
  }

  async exportAbort(args: { name: string }): Promise<null> {
    await this.exports.abort(checkName(args.name, "export name"));
    return null;
  }

  async exportList(): Promise<string[]> {
    return this.exports.list();
  }

  async exportInfo(args: { path: string }): Promise<{ path: string; config: string }> {
    return this.exports.info(checkString(args.path, "export path"));
  }

  async exportRemove(args: { name: string }): Promise<null> {
    await this.exports.remove(checkName(args.name, "export name"));
    return null;
  }

  async exportRead(args: { path: string; file: string; offset: number; length: number }): Promise<FileExtents> {
    return this.exports.read(checkString(args.path, "export path"), checkString(args.file, "file"),
      checkInt(args.offset, "offset"), checkInt(args.length, "length", 1));
  }

  async exportWrite(args: { name: string; file: string; size: number; extents: [number, string][] }): Promise<null> {
    if (!Array.isArray(args.extents)) throw argError("extents must be a list");
    const extents = args.extents.map((e, i): [number, string] => {
      if (!Array.isArray(e) || e.length !== 2) throw argError(`extent ${i} must be [offset, data]`);
      return [checkInt(e[0], `extent ${i} offset`), checkString(e[1], `extent ${i} data`)];
    });
    this.exports.write(checkName(args.name, "export name"), checkString(args.file, "file"), checkInt(args.size, "size"), extents);
    return null;
  }

  async importDisk(args: { instance: InstanceSpec; index: number; path: string; file: string; debug?: number }): Promise<ScriptRun> {
    const inst = checkInstanceSpec(args.instance);
    const index = checkInt(args.index, "disk index");
    if (!inst.disks[index]) throw argError(`Instance ${inst.name} has no disk ${index}`);
    const dump = this.exports.dumpPath(checkString(args.path, "export path"), checkString(args.file, "file"));
    const debug = args.debug === undefined ? 0 : checkInt(args.debug, "debug");
    return this.locks.run(inst.name, async () => {
      const disks = await this.attachAll(inst.name, inst.disks);
      return { log_file: await this.os.importDisk(inst, disks, index, dump, debug) };
    });
  }

  async blockdevConvert(args: { src: DiskSpec; dst: DiskSpec }): Promise<null> {
    const src = checkDiskSpec(args.src, "source disk");
    const dst = checkDiskSpec(args.dst, "target disk");
    const [from, to] = [await this.backend(src).attach(src), await this.backend(dst).attach(dst)];
    if (!from.path || !to.path) {
      throw new AgentError(AGENT_ERRORS.blockDevice, `Can't copy disk ${src.uuid} to ${dst.uuid}: both need a local path`);
    }
    try {
      copySparse(from.path, to.path);
    } catch (err) {
      throw new AgentError(AGENT_ERRORS.blockDevice, `Can't copy ${from.path} to ${to.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return null;
  }

  // --- PVC API support: the storage layer and managed networks (src/node/volumes, src/node/network)

  storage(args: { backend: StorageBackendKind; request: StorageRequest }): Promise<StorageReply> {
    return this.locks.run("pvc-storage", () => this.pvcStorage.run(args));
  }

  netConfigure(args: NetConfigureArgs): Promise<NetConfigureResult> {
    return this.locks.run("pvc-network", () => this.networks.configure(args));
  }

  netLeases(args: { vni: number }): Promise<DhcpLease[]> {
    return this.networks.leases(args.vni);
  }
}

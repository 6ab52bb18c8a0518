// The node agent: serves every NodeRpc call on one node, over hypervisors (fake and kvm),
// disk backends (diskless, file, sharedfile, ext) and OS definitions. It owns a state dir;
// everything it must remember across restarts lives there. It knows nothing of the master's
// config, jobs or API: all it learns comes in the call arguments.
// Here: the agent's parts and the node, storage-layer and network calls. The other calls come
// by family, each a file: instance-calls.ts (domains), migration-calls.ts, disk-calls.ts and
// os-calls.ts (OS scripts, exports and imports); the console channel, which is no node call
// (a byte stream), comes from console-channel.ts.

import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { ECODE } from "../../model/errors.ts";
import { PROTOCOL_VERSION, type AgentVersion, type AttachedDisk, type DiskSpec, type MasterTerm, type NodeInfo, type NodeRpc, type RpcCall, type StorageUnitInfo } from "../../rpc/calls.ts";
import type { TermGate } from "../../rpc/dispatch.ts";
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
import { ExtStorageBackend } from "../storage/ext.ts";
import { FileBackend } from "../storage/file.ts";
import { KeyedMutex } from "../util/lock.ts";
import { checkString } from "../util/names.ts";
import { EventLog } from "./events.ts";
import type { DhcpLease, NetConfigureArgs, NetConfigureResult, StorageBackendKind, StorageReply, StorageRequest } from "../../model/pvc-node.ts";
import { NetworkConfigurator } from "../network/apply.ts";
import { NodeStorage } from "../volumes/index.ts";
import type { ConsoleOpener } from "../../rpc/console.ts";
import { consoleChannel } from "./console-channel.ts";
import { diskCalls, type DiskCalls } from "./disk-calls.ts";
import { instanceCalls, type InstanceCalls } from "./instance-calls.ts";
import { migrationCalls, type MigrationCalls } from "./migration-calls.ts";
import { osCalls, type OsCalls } from "./os-calls.ts";
import type { AgentParts } from "./parts.ts";
import { TermKeeper } from "./terms.ts";

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
  /** Where the agent says what it decided alone (a master of a new store adopted); default: nowhere. */
  log?: (line: string) => void;
}

// The calls of each family are set on the agent by its constructor (Object.assign below);
// this declaration tells the type checker they are there.
export interface NodeAgent extends InstanceCalls, MigrationCalls, DiskCalls, OsCalls, ConsoleOpener {}

export class NodeAgent implements NodeRpc, TermGate {
  readonly stateDir: string;
  readonly nodeName: string;
  readonly fileStorageDir: string;
  readonly sharedFileStorageDir: string;
  private readonly hypervisors = new Map<string, Hypervisor>();
  private readonly backends = new Map<string, DiskBackend>();
  private readonly locks = new KeyedMutex();
  private readonly pvcStorage: NodeStorage;
  readonly networks: NetworkConfigurator;
  /** Whether managed networks are applied, and in which namespace, as the agent was started. */
  readonly networkApply: { readonly apply: boolean; readonly netns?: string };
  /** The newest master term obeyed (issue 17), kept in the state dir. */
  readonly terms: TermKeeper;

  constructor(opts: NodeAgentOptions) {
    this.stateDir = resolve(opts.stateDir);
    this.nodeName = opts.nodeName ?? hostname();
    this.fileStorageDir = resolve(opts.fileStorageDir ?? join(this.stateDir, "file-storage"));
    this.sharedFileStorageDir = resolve(opts.sharedFileStorageDir ?? join(this.stateDir, "shared-file-storage"));
    this.terms = new TermKeeper(this.stateDir, this.nodeName, opts.log ?? (() => undefined));
    const events = new EventLog();
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
      hv.onEvent((e) => events.add({ ...e, hypervisor: hv.name }));
    }
    const extSearchPath = opts.extStorageSearchPath ?? DEFAULT_EXTSTORAGE_SEARCH_PATH;
    const backends: DiskBackend[] = [
      new DisklessBackend(),
      new FileBackend("file", this.fileStorageDir),
      new FileBackend("sharedfile", this.sharedFileStorageDir),
      new ExtStorageBackend({
        searchPath: extSearchPath,
        logDir: join(this.stateDir, "log", "extstorage"),
        timeoutMs: opts.extScriptTimeoutMs,
      }),
    ];
    for (const b of backends) this.backends.set(b.template, b);
    this.pvcStorage = new NodeStorage({ nodeName: this.nodeName, stateDir: this.stateDir, localRoot: join(this.sharedFileStorageDir, "pvc") });
    this.networkApply = { apply: false, ...opts.networkApply };
    this.networks = new NetworkConfigurator({ dir: join(this.stateDir, "network"), ...this.networkApply });
    const parts: AgentParts = {
      nodeName: this.nodeName,
      locks: this.locks,
      events,
      pollMs: opts.shutdownPollMs ?? 250,
      os: new OsRunner({
        searchPath: opts.osSearchPath ?? DEFAULT_OS_SEARCH_PATH,
        logDir: join(this.stateDir, "log", "os"),
        timeoutMs: opts.osScriptTimeoutMs,
      }),
      exports: new ExportStore(join(this.stateDir, "export")),
      extSearchPath,
      hypervisor: (name) => this.hypervisor(name),
      hasHypervisor: (name) => this.hypervisors.has(name),
      hypervisorNames: () => [...this.hypervisors.keys()],
      backend: (disk) => this.backend(disk),
      attachAll: (instance, disks) => this.attachAll(instance, disks),
    };
    Object.assign(this, instanceCalls(parts), migrationCalls(parts), diskCalls(parts), osCalls(parts), consoleChannel(parts));
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

  /** Both transports ask this before every call: orders of a fenced-out master are refused (terms.ts). */
  admitTerm(call: RpcCall, args: object, term: MasterTerm | undefined): Promise<void> {
    return this.terms.admit(call, args, term);
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

  // --- what the call families share

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

// The fake hypervisor: domains are records in one JSON file in the agent's state dir, so
// they survive an agent restart, and memory comes from a configured budget so tests can
// exhaust it. Like Ganeti's hv_fake it runs nothing; unlike it, a power-cycle only resets
// this simulated state and never touches the real machine.

import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { ECODE } from "../../model/errors.ts";
import { EventEmitter } from "node:events";
import type { AttachedDisk, ConsoleInfo, DiskSpec, InstanceSpec, MigrationStatus, NicSpec, RunningInstance } from "../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../rpc/errors.ts";
import { readJsonSync, writeJsonAtomic } from "../util/fsutil.ts";
import type { HvAcceptOptions, HvEvent, HvMigrateOptions, HvNodeInfo, HvStartSpec, Hypervisor } from "./hypervisor.ts";

export const FAKE_HV = "fake";

export interface FakeHypervisorOptions {
  /** Directory for the state file. */
  stateDir: string;
  /** Memory budget of the simulated node, MiB (default 32768). */
  memoryTotal?: number;
  /** Part of the budget the simulated node OS keeps, MiB (default 1024). */
  memoryDom0?: number;
  /** CPUs reported (default: this machine's). */
  cpuTotal?: number;
}

type DomainState = "running" | "paused" | "incoming" | "migrating";

interface FakeDomain {
  name: string;
  id: number;
  memory: number;
  vcpus: number;
  state: DomainState;
  /** Epoch ms of the last (re)start. */
  started: number;
  disks: (string | null)[];
  /** Disk sizes as the domain was last told (resizeDisk), MiB, by index. */
  disk_sizes?: Record<number, number>;
  /** NIC MACs plugged into the domain, by index. */
  nics?: Record<number, string>;
  reboots: number;
  /** Simulated guest that ignores soft shutdown requests (ACPI), for tests of forced stop. */
  ignore_shutdown?: boolean;
  migration_target?: string;
}

interface FakeState {
  version: 1;
  bootid: string;
  next_id: number;
  domains: Record<string, FakeDomain>;
}

interface MigrationInfo {
  memory: number;
  vcpus: number;
}

function hvError(message: string, ecode?: (typeof ECODE)[keyof typeof ECODE]): AgentError {
  return new AgentError(AGENT_ERRORS.hypervisor, message, ecode);
}

export class FakeHypervisor implements Hypervisor {
  readonly name = FAKE_HV;
  readonly memoryTotal: number;
  readonly memoryDom0: number;
  private readonly cpuTotal: number;
  private readonly file: string;
  private readonly state: FakeState;
  private saving: Promise<void> = Promise.resolve();
  private readonly events = new EventEmitter<{ event: [HvEvent] }>();

  constructor(opts: FakeHypervisorOptions) {
    this.memoryTotal = opts.memoryTotal ?? 32768;
    this.memoryDom0 = opts.memoryDom0 ?? 1024;
    if (this.memoryDom0 > this.memoryTotal) throw new Error("Fake hypervisor: node OS memory exceeds the memory budget");
    this.cpuTotal = opts.cpuTotal ?? availableParallelism();
    this.file = join(opts.stateDir, "fake-hypervisor.json");
    this.state = readJsonSync<FakeState>(this.file, { version: 1, bootid: randomUUID(), next_id: 1, domains: {} });
  }

  async nodeInfo(): Promise<HvNodeInfo> {
    const used = Object.values(this.state.domains).reduce((sum, d) => sum + d.memory, 0);
    return {
      memory_total: this.memoryTotal,
      memory_free: Math.max(0, this.memoryTotal - this.memoryDom0 - used),
      memory_dom0: this.memoryDom0,
      memory_instances: used,
      cpu_total: this.cpuTotal,
      cpu_dom0: this.cpuTotal,
      cpu_nodes: 1,
      cpu_sockets: 1,
    };
  }

  async listInstances(): Promise<RunningInstance[]> {
    return Object.values(this.state.domains)
      .filter((d) => d.state !== "incoming")
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((d) => this.view(d));
  }

  async instanceInfo(name: string): Promise<RunningInstance | null> {
    const d = this.state.domains[name];
    return d && d.state !== "incoming" ? this.view(d) : null;
  }

  async start(spec: HvStartSpec): Promise<RunningInstance> {
    const name = spec.instance.name;
    if (this.state.domains[name]) {
      throw hvError(`Failed to start instance ${name}: already running`, ECODE.state);
    }
    await this.reserve(name, spec.memory);
    const d: FakeDomain = {
      name,
      id: this.state.next_id++,
      memory: spec.memory,
      vcpus: spec.vcpus,
      state: spec.paused ? "paused" : "running",
      started: Date.now(),
      disks: spec.disks.map((disk) => disk.path),
      nics: Object.fromEntries(spec.instance.nics.map((n, i) => [i, n.mac])),
      reboots: 0,
    };
    this.state.domains[name] = d;
    await this.save();
    return this.view(d);
  }

  async stop(name: string, force: boolean): Promise<void> {
    const d = this.state.domains[name];
    if (!d || d.state === "incoming") throw hvError(`Failed to stop instance ${name}: not running`, ECODE.state);
    if (!force && d.ignore_shutdown) return; // the simulated guest did not react
    delete this.state.domains[name];
    await this.save();
  }

  async softReboot(name: string): Promise<void> {
    const d = this.running(name, "reboot");
    d.reboots += 1;
    await this.save();
  }

  async balloon(name: string, memory: number): Promise<RunningInstance> {
    const d = this.running(name, "balloon memory for");
    if (memory > d.memory) await this.reserve(name, memory - d.memory);
    d.memory = memory;
    await this.save();
    return this.view(d);
  }

  async resizeDisk(name: string, index: number, _disk: AttachedDisk, sizeMiB: number): Promise<void> {
    const d = this.running(name, "resize a disk of");
    const known = d.disk_sizes?.[index];
    if (known !== undefined && sizeMiB < known) throw hvError(`Refusing to shrink disk ${index} of instance ${name} from ${known} to ${sizeMiB} MiB`, ECODE.inval);
    d.disk_sizes = { ...d.disk_sizes, [index]: sizeMiB };
    await this.save();
  }

  async hotplugDisk(name: string, action: "add" | "remove", index: number, _spec: DiskSpec, disk: AttachedDisk | null): Promise<void> {
    const d = this.running(name, "hotplug a disk into");
    if (action === "add") d.disks[index] = disk?.path ?? null;
    else d.disks.splice(index, 1);
    await this.save();
  }

  async hotplugNic(name: string, action: "add" | "remove", index: number, nic: NicSpec): Promise<void> {
    const d = this.running(name, "hotplug a NIC into");
    const nics = { ...d.nics };
    if (action === "add") nics[index] = nic.mac;
    else delete nics[index];
    d.nics = nics;
    await this.save();
  }

  onEvent(listener: (event: HvEvent) => void): () => void {
    this.events.on("event", listener);
    return () => this.events.off("event", listener);
  }

  /** Test hook (not a node call): the simulated guest powers itself off, or its domain dies. */
  async simulateExit(name: string, kind: "stopped" | "crashed"): Promise<void> {
    this.running(name, "stop");
    delete this.state.domains[name];
    await this.save();
    this.events.emit("event", { instance: name, kind, detail: kind === "stopped" ? "guest-shutdown" : "simulated crash", at: Date.now() });
  }

  console(instance: InstanceSpec): ConsoleInfo {
    return { instance: instance.name, kind: "msg", message: "Console not available for fake hypervisor" };
  }

  async migrationInfo(name: string): Promise<string> {
    const d = this.running(name, "migrate");
    return JSON.stringify({ memory: d.memory, vcpus: d.vcpus } satisfies MigrationInfo);
  }

  /** No traffic to encrypt: `tls` changes nothing for a simulated domain. */
  async acceptInstance(instance: InstanceSpec, info: string, disks: AttachedDisk[], options: HvAcceptOptions): Promise<null> {
    if (this.state.domains[instance.name]) throw hvError("Can't accept instance, already running", ECODE.state);
    // No domain holds the disks' data here: nothing could be mirrored.
    if (options.storage) throw hvError("The fake hypervisor cannot migrate an instance's storage", ECODE.inval);
    const mi = parseMigrationInfo(info);
    await this.reserve(instance.name, mi.memory);
    this.state.domains[instance.name] = {
      name: instance.name,
      id: this.state.next_id++,
      memory: mi.memory,
      vcpus: mi.vcpus,
      state: "incoming",
      started: Date.now(),
      disks: disks.map((disk) => disk.path),
      reboots: 0,
    };
    await this.save();
    return null;
  }

  /** Live or not, and how fast, makes no difference to a simulated domain. */
  async migrate(name: string, target: string, _options: HvMigrateOptions): Promise<void> {
    const d = this.running(name, "migrate");
    if (d.state === "migrating") throw hvError(`Instance ${name} is already migrating to ${d.migration_target}`, ECODE.state);
    d.state = "migrating";
    d.migration_target = target;
    await this.save();
  }

  /** Never active, so never waits. */
  async migrationStatus(name: string, _waitMs: number): Promise<MigrationStatus> {
    const d = this.state.domains[name];
    // The fake's transfer is instantaneous: once handed over it is complete.
    return { status: d && d.state === "migrating" ? "completed" : "failed" };
  }

  async finalizeMigrationDst(instance: InstanceSpec, info: string, success: boolean): Promise<void> {
    const d = this.state.domains[instance.name];
    if (!success) {
      if (d && d.state === "incoming") {
        delete this.state.domains[instance.name];
        await this.save();
      }
      return;
    }
    if (!d || d.state !== "incoming") {
      throw hvError(`Instance ${instance.name} was not accepted for migration on this node`, ECODE.state);
    }
    const mi = parseMigrationInfo(info);
    d.memory = mi.memory;
    d.vcpus = mi.vcpus;
    d.state = "running";
    d.started = Date.now();
    await this.save();
  }

  async finalizeMigrationSource(name: string, success: boolean): Promise<void> {
    const d = this.state.domains[name];
    if (!d) return;
    if (success) delete this.state.domains[name];
    else if (d.state === "migrating") {
      d.state = "running";
      delete d.migration_target;
    }
    await this.save();
  }

  async powercycle(): Promise<string> {
    const lost = Object.keys(this.state.domains).length;
    this.state.domains = {};
    this.state.bootid = randomUUID();
    await this.save();
    return `Simulated power-cycle done: ${lost} fake instance(s) stopped`;
  }

  async bootId(): Promise<string> {
    return this.state.bootid;
  }

  /** Test hook (not a node call): make the simulated guest ignore soft shutdown requests. */
  async setGuestBehaviour(name: string, behaviour: { ignoreShutdown: boolean }): Promise<void> {
    const d = this.running(name, "configure");
    d.ignore_shutdown = behaviour.ignoreShutdown;
    await this.save();
  }

  /** Fails unless `memory` more MiB fit in the budget next to every other domain. */
  private async reserve(name: string, memory: number): Promise<void> {
    const { memory_free } = await this.nodeInfo();
    if (memory > memory_free) {
      throw hvError(
        `Not enough memory on the node to start instance ${name}: needed ${memory} MiB, available ${memory_free} MiB`,
        ECODE.noRes,
      );
    }
  }

  private running(name: string, what: string): FakeDomain {
    const d = this.state.domains[name];
    if (!d || d.state === "incoming") throw hvError(`Failed to ${what} instance ${name}: not running`, ECODE.state);
    return d;
  }

  private view(d: FakeDomain): RunningInstance {
    return {
      name: d.name,
      hypervisor: FAKE_HV,
      id: d.id,
      memory: d.memory,
      vcpus: d.vcpus,
      state: d.state === "paused" ? "paused" : "running",
      uptime: Math.max(0, Math.floor((Date.now() - d.started) / 1000)),
    };
  }

  /** Persists the current state; writes are queued so the file always ends at the latest state. */
  private save(): Promise<void> {
    const next = this.saving.then(() => writeJsonAtomic(this.file, this.state));
    this.saving = next.catch(() => undefined);
    return next;
  }
}

function parseMigrationInfo(info: string): MigrationInfo {
  try {
    const v = JSON.parse(info) as Partial<MigrationInfo>;
    if (typeof v.memory === "number" && v.memory >= 0 && typeof v.vcpus === "number") return { memory: v.memory, vcpus: v.vcpus };
  } catch {
    // fall through
  }
  throw new AgentError(AGENT_ERRORS.argument, "Migration info from the source node is not the fake hypervisor's");
}

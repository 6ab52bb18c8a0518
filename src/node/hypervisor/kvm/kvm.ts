// The kvm hypervisor: one QEMU process per instance, started daemonized from a command line
// built out of the instance's hvparams (cmdline.ts), driven over one long-lived QMP connection
// per VM (qmp.ts), its files in <stateDir>/<instance>/ (process.ts). A restarted driver
// re-adopts the QEMUs that still run and cleans up after those that died meanwhile.
// Over 450 lines: one class behind the Hypervisor interface, the domains' life cycle and
// adoption; the rest is apart (command line, processes, taps, device changes in devices.ts,
// the migration policy, disk mirrors and TLS).
//
// How an exit is reported: a stop() we asked for → stopped/"requested"; the guest powered off
// (QMP SHUTDOWN guest:true) → stopped/<reason>, or user-down while QEMU is kept (-no-shutdown);
// another host-side shutdown (SIGTERM by someone else) → stopped/<reason>; the process died
// with no SHUTDOWN at all (SIGKILL, crash) → crashed. Deaths are noticed through QMP EOF plus a
// /proc check, and a once-a-second /proc poll as a safety net.

import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { ConsoleKind } from "../../../model/console.ts";
import { ECODE } from "../../../model/errors.ts";
import { migrationCapsOf } from "../../../model/hvparams.ts";
import type { AttachedDisk, ConsoleInfo, DiskExports, DiskSpec, InstanceSpec, MigrationStatus, NicSpec, RunningInstance } from "../../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../../rpc/errors.ts";
import { errText, writeJsonAtomic } from "../../util/fsutil.ts";
import type { HvAcceptOptions, HvEvent, HvMigrateOptions, HvNodeInfo, HvStartSpec, Hypervisor } from "../hypervisor.ts";
import { QmpClient, type QmpClosedError, type QmpEvent, type QmpEventMap } from "../qmp.ts";
import { type Accelerator, buildCommandLine, KvmConfigError } from "./cmdline.ts";
import { connectConsole } from "./console.ts";
import {
  type InstanceFiles, instanceDirs, instanceFiles, isAlive, isInstanceQemu, processUptime, readPid, readRuntimeText,
  removeStaleFiles, residentMiB, signalQemu, socketPathProblem, startDaemonized, waitForExit,
} from "./process.ts";
import { migrationCapabilities, OutgoingMigration, statusOf } from "./migration.ts";
import { DiskMirrors, exportDisks, nbdPort, stopExports } from "./mirror.ts";
import { hotplugDisk, hotplugNic, resizeDisk, type DeviceHost } from "./devices.ts";
import { hvError, type Domain, type MigrationInfo, type Runtime } from "./domain.ts";
import { addMigrationCreds, dropMigrationCreds, migrationCreds, TLS_CREDS_ID, type ClusterCertPems } from "./tls.ts";
import { createTap, removeTap, tapName } from "./taps.ts";

export const KVM_HV = "kvm";

export interface KvmOptions {
  /** Root of the per-instance directories (the agent passes <its state dir>/kvm). */
  stateDir: string;
  /** Accelerator for kvm_flag "" (default tcg: never guessed from /dev/kvm, see QEMU-FACTS §2). */
  defaultAccelerator?: Accelerator;
  /** Run QEMU and its tap devices inside this network namespace (tests). */
  netns?: string;
  /** Address a migration target listens on (default 0.0.0.0). */
  migrationBindAddress?: string;
  /** The shortest time a precopy migration may take before it is cancelled, ms (default 60 s; see migration.ts). */
  migrationDeadlineFloorMs?: number;
  /** Deadline of each QMP command, ms (default 10 s). */
  qmpTimeoutMs?: number;
  /** How long QEMU may take to build the machine and daemonize, ms (default 60 s). */
  startTimeoutMs?: number;
  /** How long a guest may take to release an unplugged device, ms (default 20 s). */
  unplugTimeoutMs?: number;
  /** The cluster certificate and key: encrypted migrations sign their certificates with it. */
  clusterCert?: ClusterCertPems;
}

const POLL_MS = 1000;
/** How long a migration target may take to load the last device state once the source says completed. */
const INCOMING_END_MS = 30_000;


export class KvmHypervisor implements Hypervisor {
  readonly name = KVM_HV;
  private readonly root: string;
  private readonly options: Required<Omit<KvmOptions, "netns" | "clusterCert">> & Pick<KvmOptions, "netns" | "clusterCert">;
  private readonly domains = new Map<string, Domain>();
  /** Cleanups of exited QEMUs still running, by instance name; a new start of that name awaits its own. */
  private readonly cleaning = new Map<string, Promise<void>>();
  /** Migrations leaving this node, until finalizeMigrationSource. */
  private readonly outgoing = new Map<string, OutgoingMigration>();
  private readonly events = new EventEmitter<{ event: [HvEvent] }>();
  private readonly ready: Promise<void>;
  private readonly poller: NodeJS.Timeout;
  private closing = false;

  constructor(opts: KvmOptions) {
    this.root = opts.stateDir;
    this.options = {
      defaultAccelerator: "tcg", migrationBindAddress: "0.0.0.0", migrationDeadlineFloorMs: 60_000, qmpTimeoutMs: 10_000, startTimeoutMs: 60_000, unplugTimeoutMs: 20_000, ...opts,
    };
    this.ready = this.adoptAll();
    this.poller = setInterval(() => void this.poll(), POLL_MS).unref();
  }

  // --- information

  async nodeInfo(): Promise<HvNodeInfo> {
    await this.ready;
    const meminfo = await readFile("/proc/meminfo", "utf8");
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(meminfo)?.[1] ?? 0);
    const total = Math.floor(kib("MemTotal") / 1024);
    const used = total - Math.floor(kib("MemAvailable") / 1024);
    const live = [...this.domains.values()];
    const instances = live.reduce((sum, d) => sum + d.runtime.memory, 0);
    // The host's own use: everything in use except what the QEMU processes hold now.
    const dom0 = Math.max(0, used - live.reduce((sum, d) => sum + residentMiB(d.pid), 0));
    const cpus = availableParallelism();
    return {
      memory_total: total,
      memory_free: Math.max(0, total - dom0 - instances),
      memory_dom0: dom0,
      memory_instances: instances,
      cpu_total: cpus,
      cpu_dom0: cpus,
      cpu_nodes: await numaNodes(),
      cpu_sockets: await cpuSockets(),
    };
  }

  async listInstances(): Promise<RunningInstance[]> {
    await this.ready;
    const out: RunningInstance[] = [];
    for (const d of [...this.domains.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const view = await this.liveView(d);
      if (view) out.push(view);
    }
    return out;
  }

  async instanceInfo(name: string): Promise<RunningInstance | null> {
    await this.ready;
    const d = this.domains.get(name);
    return d ? this.liveView(d) : null;
  }

  console(instance: InstanceSpec, host: string): ConsoleInfo {
    const hv = instance.hvparams;
    if (hv.serial_console !== false) {
      const serial = instanceFiles(this.root, instance.name).serial;
      return { instance: instance.name, kind: "ssh", host, user: "root", command: ["/usr/bin/socat", "STDIO,raw,echo=0,escape=0x1d", `UNIX-CONNECT:${serial}`] };
    }
    const bind = typeof hv.vnc_bind_address === "string" ? hv.vnc_bind_address : "";
    const port = instance.network_port;
    if (bind && !bind.startsWith("/") && port !== null && port > 5900) {
      // A wildcard bind address is no place to connect to: the node is.
      const vncHost = bind === "0.0.0.0" || bind === "::" ? host : bind;
      return { instance: instance.name, kind: "vnc", host: vncHost, port, display: port - 5900 };
    }
    return { instance: instance.name, kind: "msg", message: `No serial shell for instance ${instance.name}` };
  }

  /** A byte stream to the instance's private VNC display or its serial console (the agent's console channel). */
  async openConsole(name: string, kind: ConsoleKind): Promise<Socket> {
    return connectConsole(await this.domain(name, `open the ${kind} console of`), kind);
  }

  // --- power

  async start(spec: HvStartSpec): Promise<RunningInstance> {
    await this.ready;
    const name = spec.instance.name;
    if (this.domains.has(name)) throw hvError(`Failed to start instance ${name}: already running`, ECODE.state);
    const d = await this.launch(spec.instance, { memory: spec.memory, vcpus: spec.vcpus, disks: spec.disks, paused: spec.paused, incoming: false });
    return this.view(d);
  }

  async stop(name: string, force: boolean): Promise<void> {
    const d = await this.domain(name, "stop");
    d.stopRequested = true;
    if (force || d.state === "shutdown") return this.destroy(d);
    await d.qmp.execute("system_powerdown");
  }

  async softReboot(name: string): Promise<void> {
    const d = await this.domain(name, "reboot");
    await d.qmp.execute("system_reset");
    if (d.state === "shutdown") {
      await d.qmp.execute("cont");
      d.state = "running";
    }
  }

  async balloon(name: string, memory: number): Promise<RunningInstance> {
    const d = await this.domain(name, "balloon memory for");
    if (memory !== d.runtime.memory) throw hvError(`Instance ${name} has no balloon device: its memory stays ${d.runtime.memory} MiB`, ECODE.inval);
    return this.view(d);
  }

  // --- disks and NICs of a running VM (devices.ts)

  async resizeDisk(name: string, index: number, disk: AttachedDisk, sizeMiB: number): Promise<void> {
    return resizeDisk(await this.domain(name, "resize a disk of"), index, disk, sizeMiB);
  }

  async hotplugDisk(name: string, action: "add" | "remove", index: number, spec: DiskSpec, disk: AttachedDisk | null): Promise<void> {
    return hotplugDisk(this.deviceHost, await this.domain(name, "hotplug a disk into"), action, index, spec, disk);
  }

  async hotplugNic(name: string, action: "add" | "remove", index: number, nic: NicSpec): Promise<void> {
    return hotplugNic(this.deviceHost, await this.domain(name, "hotplug a NIC into"), action, index, nic);
  }

  /** What device changes need of the driver. */
  private readonly deviceHost: DeviceHost = {
    save: (d) => this.saveRuntime(d),
    config: (fn) => this.config(fn),
    unplugTimeoutMs: () => this.options.unplugTimeoutMs,
  };

  // --- migration (the source's side and its convergence policy: migration.ts)

  async migrationInfo(name: string): Promise<string> {
    const d = await this.domain(name, "migrate");
    const slots: Record<string, number> = {};
    for (const s of d.runtime.layout.disks) if (s.slot !== null) slots[s.uuid] = s.slot;
    for (const s of d.runtime.layout.nics) slots[s.mac] = s.slot;
    return JSON.stringify({ memory: d.runtime.memory, vcpus: d.runtime.vcpus, slots } satisfies MigrationInfo);
  }

  async acceptInstance(instance: InstanceSpec, info: string, disks: AttachedDisk[], options: HvAcceptOptions): Promise<DiskExports | null> {
    await this.ready;
    if (this.domains.has(instance.name)) throw hvError(`Can't accept instance ${instance.name}: already running here`, ECODE.state);
    const mi = parseMigrationInfo(info);
    const cluster = options.tls ? this.clusterCert() : undefined;
    const d = await this.launch(instance, { memory: mi.memory, vcpus: mi.vcpus, disks, paused: false, incoming: true, slots: mi.slots });
    try {
      // Capabilities go on both sides (postcopy needs the target's consent too).
      await d.qmp.execute("migrate-set-capabilities", migrationCapabilities(migrationCapsOf(instance.hvparams.migration_caps), options.storage));
      if (cluster) {
        await addMigrationCreds(d.qmp, await migrationCreds(join(this.root, "migration-tls"), cluster, "server"), "server");
        await d.qmp.execute("migrate-set-parameters", { "tls-creds": TLS_CREDS_ID });
        d.runtime.tlsIncoming = true;
      }
      await d.qmp.execute("migrate-incoming", { uri: `tcp:${this.options.migrationBindAddress}:${migrationPort(instance)}` });
      if (!options.storage) return null;
      d.runtime.exportsDisks = true;
      await this.saveRuntime(d);
      return await exportDisks(d.qmp, d.runtime.layout.disks, this.options.migrationBindAddress, nbdPort(migrationPort(instance)), cluster !== undefined);
    } catch (err) {
      d.silent = true;
      await this.destroy(d);
      throw hvError(`Can't accept instance ${instance.name}: ${errText(err)}`);
    }
  }

  async migrate(name: string, target: string, options: HvMigrateOptions): Promise<void> {
    const d = await this.domain(name, "migrate");
    this.outgoing.get(name)?.stop();
    const outgoing: NonNullable<Runtime["outgoing"]> = {
      bandwidth: options.bandwidth ?? 0, downtimeMs: options.downtime ?? 30, caps: [...(options.caps ?? [])],
      ...(options.storage ? { storage: { ...options.storage, host: target } } : {}),
      ...(options.tls ? { tls: true } : {}),
    };
    if (options.tls) await addMigrationCreds(d.qmp, await migrationCreds(join(this.root, "migration-tls"), this.clusterCert(), "client"), "client");
    const migration = this.config(() => this.outgoingMigration(d, outgoing));
    const host = target.includes(":") ? `[${target}]` : target;
    // Recorded first: an agent restarted meanwhile finds the mirrors it must end.
    d.runtime.outgoing = outgoing;
    await this.saveRuntime(d);
    try {
      await migration.start(`tcp:${host}:${migrationPort(d.runtime.instance)}`, options.live);
    } catch (err) {
      delete d.runtime.outgoing;
      await this.saveRuntime(d);
      throw err;
    }
    this.outgoing.set(name, migration);
  }

  private outgoingMigration(d: Domain, o: NonNullable<Runtime["outgoing"]>): OutgoingMigration {
    const disks = d.runtime.layout.disks;
    const mirrors = o.storage
      ? {
        disks: new DiskMirrors(d.qmp, disks, o.storage.host, o.storage, o.tls === true),
        totalMiB: this.diskMiB(d, o.storage),
      }
      : undefined;
    return new OutgoingMigration(d.qmp, {
      name: d.name, bandwidth: o.bandwidth, downtimeMs: o.downtimeMs, caps: o.caps, memoryMiB: d.runtime.memory, deadlineFloorMs: this.options.migrationDeadlineFloorMs, tls: o.tls === true,
      ...(mirrors ? { mirrors } : {}),
    });
  }

  /** The cluster certificate, which an encrypted migration needs. */
  private clusterCert(): ClusterCertPems {
    const cert = this.options.clusterCert;
    if (!cert) throw hvError("Encrypted migration needs the cluster certificate, and this node agent was started without it", ECODE.environ);
    return cert;
  }

  /** After a migration: its TLS credentials leave QEMU (a later migration may not encrypt). */
  private async dropCreds(d: Domain): Promise<void> {
    if (d.runtime.outgoing?.tls !== true && d.runtime.tlsIncoming !== true) return;
    await d.qmp.execute("migrate-set-parameters", { "tls-creds": "", "tls-hostname": "" }).catch(() => undefined);
    await dropMigrationCreds(d.qmp);
    delete d.runtime.tlsIncoming;
  }

  /** The size of the disks a migration mirrors, MiB (from the instance's disks). */
  private diskMiB(d: Domain, storage: DiskExports): number {
    return d.runtime.instance.disks.filter((disk) => storage.exports[disk.uuid] !== undefined).reduce((sum, disk) => sum + disk.size, 0);
  }

  async migrationStatus(name: string, waitMs: number): Promise<MigrationStatus> {
    await this.ready;
    const watched = this.outgoing.get(name);
    if (watched) {
      if (waitMs > 0) await watched.settled(waitMs);
      return watched.status();
    }
    // Not started by this driver (an agent restarted meanwhile): QEMU's own word.
    const d = this.domains.get(name);
    if (!d || !d.qmp.connected) return { status: "failed", message: `instance ${name} is not running on this node` };
    return statusOf(await d.qmp.execute("query-migrate"), false);
  }

  async finalizeMigrationDst(instance: InstanceSpec, _info: string, success: boolean): Promise<void> {
    await this.ready;
    const d = this.domains.get(instance.name);
    if (!success) {
      if (d) {
        d.silent = true;
        await this.destroy(d);
      }
      return;
    }
    if (!d) throw hvError(`Instance ${instance.name} was not accepted for migration on this node`, ECODE.state);
    await this.awaitIncomingEnd(d);
    if (d.runtime.exportsDisks) await stopExports(d.qmp);
    delete d.runtime.exportsDisks;
    await this.dropCreds(d);
    d.state = "running";
    d.runtime.incoming = false;
    await this.saveRuntime(d);
  }

  /**
   * Waits for a migration target to finish loading (the source says "completed" before the
   * target has read the last device state): it resumes by itself then. A `cont` sent while it
   * is still `inmigrate` would activate its block nodes early, so it is only for one left paused.
   */
  private async awaitIncomingEnd(d: Domain): Promise<void> {
    const deadline = Date.now() + INCOMING_END_MS;
    for (;;) {
      const { status } = await d.qmp.execute<{ status: string }>("query-status");
      if (status === "running") return;
      if (status === "paused" || status === "prelaunch") {
        await d.qmp.execute("cont");
        return;
      }
      if (status !== "inmigrate") throw hvError(`Instance ${d.name} is '${status}' after its migration, not running`, ECODE.state);
      if (Date.now() > deadline) throw hvError(`Instance ${d.name} is still loading its migration ${INCOMING_END_MS / 1000} s after the source completed it`, ECODE.environ);
      await sleep(20);
    }
  }

  async finalizeMigrationSource(name: string, success: boolean): Promise<void> {
    await this.ready;
    const watched = this.outgoing.get(name);
    watched?.stop();
    this.outgoing.delete(name);
    const d = this.domains.get(name);
    if (!d) return;
    if (success) {
      d.silent = true;
      d.stopRequested = true;
      return this.destroy(d);
    }
    const { status } = await d.qmp.execute<{ status?: string }>("query-migrate");
    // Past the switch-over the target holds the guest (it resumed by itself): resuming here too would run it twice.
    if (status === "completed" || status?.startsWith("postcopy")) {
      throw hvError(`Can't resume instance ${name} on this node: its migration ${status === "completed" ? "completed" : `is in ${status}`}, the target runs it`, ECODE.state);
    }
    if (status === "active" || status === "setup" || status === "pre-switchover") await d.qmp.execute("migrate_cancel");
    const outgoing = d.runtime.outgoing;
    if (outgoing?.storage) await (watched ?? this.outgoingMigration(d, outgoing)).abortMirrors().catch(() => undefined);
    await this.dropCreds(d);
    const run = await d.qmp.execute<{ status: string }>("query-status");
    if (run.status !== "running") await d.qmp.execute("cont");
    d.state = "running";
    delete d.runtime.outgoing;
    await this.saveRuntime(d);
  }

  // --- events and the node

  onEvent(listener: (event: HvEvent) => void): () => void {
    this.events.on("event", listener);
    return () => this.events.off("event", listener);
  }

  async powercycle(): Promise<string> {
    throw hvError("Power-cycling the node is not supported by Corral's kvm hypervisor", ECODE.inval);
  }

  async bootId(): Promise<string> {
    return (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  }

  /** Stops watching; the QEMU processes keep running and a new driver adopts them. */
  async close(): Promise<void> {
    await this.ready;
    this.closing = true;
    clearInterval(this.poller);
    for (const d of this.domains.values()) d.qmp.close();
    this.domains.clear();
  }

  // --- internals

  private async launch(
    instance: InstanceSpec,
    how: { memory: number; vcpus: number; disks: AttachedDisk[]; paused: boolean; incoming: boolean; slots?: Record<string, number> },
  ): Promise<Domain> {
    const name = instance.name;
    await this.cleaning.get(name)?.catch(() => undefined);
    const files = instanceFiles(this.root, name);
    const problem = socketPathProblem(files);
    if (problem) throw hvError(`Failed to start instance ${name}: ${problem}`, ECODE.environ);
    await mkdir(files.dir, { recursive: true, mode: 0o750 });
    const stalePid = readPid(files.pidfile);
    if (stalePid !== null && isInstanceQemu(stalePid, files.pidfile)) {
      throw hvError(`Failed to start instance ${name}: a QEMU (pid ${stalePid}) not known to this agent already runs it`, ECODE.state);
    }
    await removeStaleFiles(files);
    const taps = instance.nics.map((_, i) => tapName(name, i));
    const cmd = this.config(() =>
      buildCommandLine({ instance, ...how, taps, paths: files, defaultAccelerator: this.options.defaultAccelerator }),
    );
    const netns = this.options.netns;
    const runtime: Runtime = {
      version: 1, instance, binary: cmd.binary, args: cmd.args, memory: how.memory, vcpus: how.vcpus, layout: cmd.layout,
      netns: netns ?? null, incoming: how.incoming, nextTap: taps.length,
    };
    // Written first: an agent that dies mid-start leaves what its successor must clean up.
    await writeJsonAtomic(files.runtime, runtime);
    const made: string[] = [];
    const undo = async () => {
      for (const tap of made) await removeTap(tap, netns).catch(() => undefined);
      await removeStaleFiles(files);
      await rm(files.runtime, { force: true });
    };
    try {
      for (const [i, nic] of instance.nics.entries()) {
        await this.config(() => createTap(taps[i], nic, netns));
        made.push(taps[i]);
      }
    } catch (err) {
      await undo();
      throw err instanceof AgentError ? err : hvError(`Failed to start instance ${name}: ${errText(err)}`);
    }
    const started = await startDaemonized(cmd.binary, cmd.args, files, { netns, timeoutMs: this.options.startTimeoutMs });
    if (!started.ok) {
      await undo();
      throw hvError(`Failed to start instance ${name}: ${started.message}`);
    }
    const d: Domain = {
      name, files, pid: started.pid, runtime, qmp: new QmpClient(files.qmp, { commandTimeoutMs: this.options.qmpTimeoutMs }),
      state: how.incoming ? "incoming" : how.paused ? "paused" : "running",
      stopRequested: false, silent: false, shutdown: null, exited: false, reconnecting: false,
    };
    this.watch(d);
    try {
      await d.qmp.open();
    } catch (err) {
      d.silent = true;
      await this.destroy(d);
      throw hvError(`Failed to start instance ${name}: no QMP monitor: ${errText(err)}`);
    }
    this.domains.set(name, d);
    return d;
  }

  /** Runs `fn`; a refused configuration becomes a wrong-input hypervisor error. */
  private config<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof KvmConfigError) throw hvError(err.message, ECODE.inval);
      throw err;
    }
  }

  private watch(d: Domain): void {
    const q = d.qmp;
    q.on("SHUTDOWN", (e: QmpEvent<QmpEventMap["SHUTDOWN"]>) => {
      d.shutdown = { guest: e.data.guest, reason: e.data.reason, at: Math.round(e.timestampMs) };
      if (!e.data.guest || !d.runtime.args.includes("-no-shutdown")) return;
      // -no-shutdown keeps QEMU after a guest poweroff.
      if (d.stopRequested) {
        void this.destroy(d);
      } else {
        d.state = "shutdown";
        this.emit({ instance: d.name, kind: "user-down", detail: e.data.reason, at: Math.round(e.timestampMs) });
      }
    });
    q.on("STOP", () => {
      if (d.state === "running") d.state = "paused";
    });
    q.on("RESUME", () => {
      d.state = "running";
    });
    q.on("closed", (err: QmpClosedError) => {
      if (!err.byClient && !d.exited && !this.closing) void this.monitorLost(d);
    });
  }

  /** QMP went away: either QEMU exited (usual) or only the connection broke. */
  private async monitorLost(d: Domain): Promise<void> {
    // QMP closes some ms before the process is gone (quit, guest poweroff).
    if (await waitForExit(d.pid, 1000)) return this.handleExit(d);
    await this.reconnect(d);
  }

  private async reconnect(d: Domain): Promise<void> {
    // Only the current domain of its name: the socket path of one that exited may already be
    // a new QEMU's, whose single monitor connection belongs to that QEMU's own domain.
    if (d.reconnecting || d.exited || d.qmp.connected || this.domains.get(d.name) !== d) return;
    d.reconnecting = true;
    try {
      await d.qmp.open();
      if (d.exited || this.domains.get(d.name) !== d) d.qmp.close();
    } catch {
      // the poll retries while the process lives
    } finally {
      d.reconnecting = false;
    }
  }

  private async poll(): Promise<void> {
    for (const d of [...this.domains.values()]) {
      if (!isAlive(d.pid)) await this.handleExit(d);
      else if (!d.qmp.connected) await this.reconnect(d);
    }
  }

  /** The view of a domain whose process still lives; a dead one is cleaned up first. */
  private async liveView(d: Domain): Promise<RunningInstance | null> {
    if (!isAlive(d.pid)) {
      await this.handleExit(d);
      return null;
    }
    return d.state === "incoming" ? null : this.view(d);
  }

  private view(d: Domain): RunningInstance {
    return {
      name: d.name, hypervisor: KVM_HV, id: d.pid, memory: d.runtime.memory, vcpus: d.runtime.vcpus,
      state: d.state === "shutdown" ? "shutdown" : d.state === "paused" ? "paused" : "running",
      uptime: processUptime(d.pid),
    };
  }

  private async domain(name: string, what: string): Promise<Domain> {
    await this.ready;
    const d = this.domains.get(name);
    if (!d || d.state === "incoming" || !isAlive(d.pid)) {
      if (d) await this.handleExit(d);
      throw hvError(`Failed to ${what} instance ${name}: not running`, ECODE.state);
    }
    return d;
  }

  /** quit → SIGTERM → SIGKILL, each given a moment, then the cleanup. */
  private async destroy(d: Domain): Promise<void> {
    d.stopRequested = true;
    if (d.qmp.connected) await d.qmp.execute("quit", undefined, { timeoutMs: 2000 }).catch(() => undefined);
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (await waitForExit(d.pid, 3000)) break;
      signalQemu(d.pid, d.files.pidfile, signal);
    }
    await waitForExit(d.pid, 3000);
    await this.handleExit(d);
  }

  private async handleExit(d: Domain): Promise<void> {
    if (d.exited) return;
    if (isAlive(d.pid)) return;
    d.exited = true;
    d.qmp.close();
    this.outgoing.get(d.name)?.stop(`QEMU (pid ${d.pid}) exited during the migration`);
    // A start of the same name may follow at once; it waits for this cleanup, which would
    // otherwise remove the new QEMU's pidfile, sockets and runtime.json.
    const cleaned = this.cleanup(d.files, d.runtime);
    this.cleaning.set(d.name, cleaned);
    if (this.domains.get(d.name) === d) this.domains.delete(d.name);
    try {
      await cleaned;
    } finally {
      if (this.cleaning.get(d.name) === cleaned) this.cleaning.delete(d.name);
    }
    if (d.silent || d.state === "incoming") return;
    const s = d.shutdown;
    if (d.stopRequested) this.emit({ instance: d.name, kind: "stopped", detail: s ? `requested (${s.reason})` : "requested", at: s?.at ?? Date.now() });
    else if (s) this.emit({ instance: d.name, kind: "stopped", detail: s.reason, at: s.at });
    else this.emit({ instance: d.name, kind: "crashed", detail: `QEMU (pid ${d.pid}) died without shutting down (killed or crashed)`, at: Date.now() });
  }

  /** Removes what a stopped QEMU leaves behind: pidfile, sockets, taps, runtime.json. */
  private async cleanup(files: InstanceFiles, runtime: Runtime): Promise<void> {
    await removeStaleFiles(files);
    for (const nic of runtime.layout.nics) await removeTap(nic.tap, runtime.netns ?? undefined).catch(() => undefined);
    await rm(files.runtime, { force: true });
  }

  private emit(event: HvEvent): void {
    this.events.emit("event", event);
  }

  private async saveRuntime(d: Domain): Promise<void> {
    await writeJsonAtomic(d.files.runtime, d.runtime);
  }

  /** Re-adopts the QEMUs of a previous driver; cleans up after those that died meanwhile. */
  private async adoptAll(): Promise<void> {
    for (const name of await instanceDirs(this.root)) {
      const files = instanceFiles(this.root, name);
      const text = await readRuntimeText(files);
      if (text === null) continue; // a stopped instance's console history
      let runtime: Runtime;
      try {
        runtime = JSON.parse(text) as Runtime; // written by this driver
      } catch {
        continue;
      }
      const pid = readPid(files.pidfile);
      if (pid !== null && isInstanceQemu(pid, files.pidfile)) {
        await this.adopt(name, files, pid, runtime);
        continue;
      }
      await this.cleanup(files, runtime);
      if (runtime.incoming) continue;
      const event: HvEvent = pid !== null
        ? { instance: name, kind: "crashed", detail: `QEMU (pid ${pid}) died while the agent was away`, at: Date.now() }
        : { instance: name, kind: "stopped", detail: "QEMU exited while the agent was away", at: Date.now() };
      setImmediate(() => this.emit(event)); // after the agent has subscribed
    }
  }

  private async adopt(name: string, files: InstanceFiles, pid: number, runtime: Runtime): Promise<void> {
    const d: Domain = {
      name, files, pid, runtime, qmp: new QmpClient(files.qmp, { commandTimeoutMs: this.options.qmpTimeoutMs }),
      state: runtime.incoming ? "incoming" : "running",
      stopRequested: false, silent: false, shutdown: null, exited: false, reconnecting: false,
    };
    this.watch(d);
    this.domains.set(name, d);
    try {
      await d.qmp.open();
      const { status } = await d.qmp.execute<{ status: string }>("query-status");
      if (runtime.incoming && status === "inmigrate") {
        // A migration target the previous agent prepared: no job can finalize it through this
        // agent, so it goes (the source, its stream broken, resumes and the job fails there).
        d.silent = true;
        await this.destroy(d);
        return;
      }
      if (runtime.incoming) {
        // The migration completed while the agent was away: the guest runs here now.
        runtime.incoming = false;
        await this.saveRuntime(d);
      }
      if (status === "shutdown") d.state = "shutdown";
      else if (status === "running") d.state = "running";
      else d.state = "paused";
      if (runtime.outgoing) {
        const q = await d.qmp.execute<{ status?: string }>("query-migrate");
        const migration = this.outgoingMigration(d, runtime.outgoing);
        if (["setup", "active", "pre-switchover", "device", "postcopy-active"].includes(q.status ?? "")) {
          await migration.resume();
          this.outgoing.set(name, migration);
        } else if (runtime.outgoing.storage && q.status !== "completed") {
          // Its disks were still being mirrored: nobody would start the memory, so the mirrors end
          // (the job, finding this agent back, fails the migration and the source runs on).
          await migration.abortMirrors();
          migration.stop();
        }
      }
    } catch {
      // QEMU lives but its monitor does not answer yet: the poll keeps trying
    }
  }
}

function migrationPort(instance: InstanceSpec): number {
  const port = instance.hvparams.migration_port;
  return typeof port === "number" ? port : 8102;
}

function parseMigrationInfo(info: string): MigrationInfo {
  try {
    const v = JSON.parse(info) as Partial<MigrationInfo>;
    if (typeof v.memory === "number" && typeof v.vcpus === "number" && typeof v.slots === "object" && v.slots !== null) return v as MigrationInfo;
  } catch {
    // fall through
  }
  throw new AgentError(AGENT_ERRORS.argument, "Migration info from the source node is not the kvm hypervisor's");
}

async function numaNodes(): Promise<number> {
  try {
    return Math.max(1, (await readdir("/sys/devices/system/node")).filter((n) => /^node\d+$/.test(n)).length);
  } catch {
    return 1;
  }
}

async function cpuSockets(): Promise<number> {
  try {
    const ids = new Set((await readFile("/proc/cpuinfo", "utf8")).match(/^physical id\s*:\s*\d+$/gm) ?? []);
    return Math.max(1, ids.size);
  } catch {
    return 1;
  }
}

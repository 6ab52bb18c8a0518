// Node-local disks in a live migration, moved the way libvirt, Proxmox and Incus move them:
// the target QEMU serves its new, empty disks over its own NBD server; the source adds an NBD
// client node for each and mirrors its disk into it (blockdev-mirror, sync full). Once every
// mirror is ready (in sync, each guest write copied as it happens) the memory moves, the
// migration told to pause before the switch-over (pause-before-switchover): with the guest
// stopped, the mirrors are completed without a pivot (block-job-cancel of a ready job leaves the
// target consistent) and only then does the migration go on, so the target resumes on disks
// that hold every write. The source's own disks are never written by any of this.

import type { DiskExports } from "../../../rpc/calls.ts";
import type { QmpClient, QmpEvent, QmpEventMap } from "../qmp.ts";
import type { DiskSlot } from "./cmdline.ts";
import { TLS_CREDS_ID, TLS_HOSTNAME } from "./tls.ts";

const MiB = 1024 * 1024;
/** How long completing the ready mirrors may take at the switch-over (the guest is stopped meanwhile). */
const COMPLETE_MS = 30_000;
/** How long a forced cancel may take to let go of the NBD connection. */
const ABORT_MS = 10_000;

/** The NBD port of a migration target: the one after its migration port (Ganeti has no parameter for it). */
export function nbdPort(migrationPort: number): number {
  return migrationPort + 1;
}

/** The source's names for one mirrored disk: its NBD client node and its block job. */
function names(disk: Pick<DiskSlot, "node">): { client: string; job: string } {
  const id = disk.node.replace(/^disk-/, "");
  return { client: `nbd-${id}`, job: `mirror-${id}` };
}

/** Target: serves each disk's node, writable, on `bind`:`port` (a taken port is a QMP error); over TLS with the migration's credentials. */
export async function exportDisks(qmp: QmpClient, disks: readonly DiskSlot[], bind: string, port: number, tls: boolean): Promise<DiskExports> {
  await qmp.execute("nbd-server-start", { addr: { type: "inet", data: { host: bind, port: String(port) } }, ...(tls ? { "tls-creds": TLS_CREDS_ID } : {}) });
  const exports: Record<string, string> = {};
  try {
    for (const disk of disks) {
      // Exporting also activates the node, which an incoming QEMU opened inactive.
      await qmp.execute("block-export-add", { type: "nbd", id: `export-${disk.node}`, "node-name": disk.node, name: disk.node, writable: true });
      exports[disk.uuid] = disk.node;
    }
  } catch (err) {
    await stopExports(qmp);
    throw err;
  }
  return { port, exports };
}

/** Target: ends the NBD server and its exports (nothing to do when none runs). */
export async function stopExports(qmp: QmpClient): Promise<void> {
  await qmp.execute("nbd-server-stop").catch(() => undefined);
}

/** Where the mirrors stand: the sum over the disks. */
export interface MirrorProgress {
  ready: boolean;
  doneMiB: number;
  totalMiB: number;
  /** Set when a mirror stopped by itself (its NBD connection broke, a write failed). */
  error?: string;
}

/** Source: one mirror job per node-local disk, into what the target exports at `host`. */
export class DiskMirrors {
  private readonly qmp: QmpClient;
  private readonly disks: readonly DiskSlot[];
  private readonly host: string;
  private readonly target: DiskExports;
  private readonly tls: boolean;
  /** Why a job ended by itself, by job id (from BLOCK_JOB_COMPLETED). */
  private readonly ended = new Map<string, string>();
  private readonly onCompleted = (e: QmpEvent<QmpEventMap["BLOCK_JOB_COMPLETED"]>) => {
    this.ended.set(e.data.device, e.data.error ?? "the job ended");
  };
  private readonly onReady = () => this.onChange?.();
  /** Called when a mirror gets in sync (the memory may start at once). */
  onChange: (() => void) | undefined;

  constructor(qmp: QmpClient, disks: readonly DiskSlot[], host: string, target: DiskExports, tls: boolean) {
    this.qmp = qmp;
    this.tls = tls;
    this.host = host;
    this.target = target;
    this.disks = disks;
    const missing = disks.filter((d) => target.exports[d.uuid] === undefined).map((d) => d.uuid);
    if (missing.length > 0) throw new Error(`the target exports no disk for ${missing.join(", ")}`);
    qmp.on("BLOCK_JOB_COMPLETED", this.onCompleted);
    qmp.on("BLOCK_JOB_READY", this.onReady);
  }

  /** Connects to each export and starts copying; `speedMiBps` 0 = unlimited. */
  async start(speedMiBps: number): Promise<void> {
    for (const disk of this.disks) {
      const { client, job } = names(disk);
      await this.qmp.execute("blockdev-add", {
        driver: "nbd", "node-name": client, export: this.target.exports[disk.uuid],
        server: { type: "inet", host: this.host, port: String(this.target.port) },
        ...(this.tls ? { "tls-creds": TLS_CREDS_ID, "tls-hostname": TLS_HOSTNAME } : {}),
      });
      await this.qmp.execute("blockdev-mirror", {
        "job-id": job, device: disk.node, target: client, sync: "full", ...(speedMiBps > 0 ? { speed: speedMiBps * MiB } : {}),
      });
    }
  }

  async progress(): Promise<MirrorProgress> {
    const jobs = await this.qmp.execute<{ device: string; len: number; offset: number; ready: boolean }[]>("query-block-jobs");
    const out: MirrorProgress = { ready: true, doneMiB: 0, totalMiB: 0 };
    for (const disk of this.disks) {
      const { job } = names(disk);
      const j = jobs.find((x) => x.device === job);
      if (!j) {
        out.ready = false;
        out.error = `the mirror of disk ${disk.uuid} stopped: ${this.ended.get(job) ?? "its job is gone"}`;
        continue;
      }
      out.doneMiB += j.offset / MiB;
      out.totalMiB += j.len / MiB;
      if (!j.ready) out.ready = false;
    }
    out.doneMiB = Math.round(out.doneMiB * 10) / 10;
    out.totalMiB = Math.round(out.totalMiB * 10) / 10;
    return out;
  }

  /** At the switch-over (guest stopped): lets each ready mirror copy what is left and end, target consistent. */
  async complete(): Promise<void> {
    for (const disk of this.disks) await this.qmp.execute("block-job-cancel", { device: names(disk).job });
    await this.awaitJobsGone(COMPLETE_MS);
    const failed = this.disks.map((d) => names(d).job).filter((job) => this.ended.has(job) && this.ended.get(job) !== "the job ended");
    if (failed.length > 0) throw new Error(`completing the disk mirrors failed: ${failed.map((j) => this.ended.get(j)).join("; ")}`);
    await this.dropClients();
  }

  /** Stops copying at once (the migration failed or was cancelled) and lets go of the target. */
  async abort(): Promise<void> {
    for (const disk of this.disks) await this.qmp.execute("block-job-cancel", { device: names(disk).job, force: true }).catch(() => undefined);
    await this.awaitJobsGone(ABORT_MS).catch(() => undefined);
    await this.dropClients();
  }

  /** Stops listening to the QMP client (the migration is over). */
  close(): void {
    this.qmp.off("BLOCK_JOB_COMPLETED", this.onCompleted);
    this.qmp.off("BLOCK_JOB_READY", this.onReady);
  }

  private async awaitJobsGone(withinMs: number): Promise<void> {
    const ours = new Set(this.disks.map((d) => names(d).job));
    const deadline = Date.now() + withinMs;
    for (;;) {
      const jobs = await this.qmp.execute<{ device: string }[]>("query-block-jobs");
      if (!jobs.some((j) => ours.has(j.device))) return;
      if (Date.now() > deadline) throw new Error(`the disk mirrors did not end within ${withinMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async dropClients(): Promise<void> {
    // A node gone already (a previous attempt) or still held is left: on success the QEMU is quit anyway.
    for (const disk of this.disks) await this.qmp.execute("blockdev-del", { "node-name": names(disk).client }).catch(() => undefined);
  }
}

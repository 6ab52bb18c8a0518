// Outgoing live migration of a kvm domain and the convergence policy that never leaves one
// hanging. QEMU never reports a precopy that does not converge: it stays `active` forever
// (shared/spec/qemu/QEMU-FACTS.md §5). So the source side watches query-migrate itself and,
// once a pass (dirty-sync-count) has ended with the expected downtime still above the limit:
//   1. with postcopy-ram allowed (migration_caps), it switches to postcopy at pass 2 or later
//      (Ganeti's threshold): the guest runs on the target at once and pulls what is missing;
//   2. else, unless the user chose auto-converge (QEMU then throttles the vCPUs itself), it
//      doubles the downtime limit, once per pass, up to DOWNTIME_ESCALATION × migration_downtime.
//      A longer but bounded pause beats auto-converge, which measured 82–102 s with the guest
//      throttled to 99 % for tens of seconds;
//   3. past a deadline derived from memory size and bandwidth (never under a floor) it cancels:
//      the source runs on, the target QEMU exits by itself. A postcopy is never cancelled:
//      neither side would hold the whole guest.
// With node-local disks (mirror.ts) the disks are mirrored first, under a deadline of their own
// derived the same way from their size; the memory moves once every mirror is in sync.
// Just over 400 lines: the policy and the watcher it steers are one object's state.

import { KVM_MIGRATION_CAPS } from "../../../model/hvparams.ts";
import type { MigrationStatus } from "../../../rpc/calls.ts";
import { errText } from "../../util/fsutil.ts";
import type { QmpClient, QmpEvent, QmpEventMap } from "../qmp.ts";
import type { DiskMirrors } from "./mirror.ts";
import { TLS_CREDS_ID, TLS_HOSTNAME } from "./tls.ts";

const MiB = 1024 * 1024;
/** How often the policy looks at the migration (the job log wants a line at least every second). */
const WATCH_MS = 250;
/** Ganeti's _POSTCOPY_SYNC_COUNT_THRESHOLD: postcopy no earlier than this pass. */
const POSTCOPY_FROM_PASS = 2;
/** Downtime escalation starts once the first full copy and one re-copy did not converge. */
const ESCALATE_FROM_PASS = 3;
/** The downtime limit may grow up to this many times migration_downtime (30 ms → 300 ms, QEMU's own default). */
export const DOWNTIME_ESCALATION = 10;
/** "Unlimited" bandwidth as QEMU is given it (its parameter has no "no limit" value in 7.2). */
const UNLIMITED_MIBPS = 10 * 1024;
/** The link speed a deadline assumes when the bandwidth is unlimited: about 1 GbE. */
const ASSUMED_LINK_MIBPS = 100;
/** A deadline leaves time for this many full copies of the guest's memory. */
const DEADLINE_COPIES = 3;
/** Seconds without any byte sent after which the cancel message says the stream stalled. */
const STALLED_S = 3;
/** Consecutive failed query-migrate calls after which the migration counts as failed. */
const MAX_QUERY_FAILURES = 5;

/** The part of QEMU's query-migrate answer the policy reads. */
interface QueryMigrate {
  status?: string;
  "total-time"?: number;
  "expected-downtime"?: number;
  downtime?: number;
  "error-desc"?: string;
  ram?: {
    transferred: number;
    remaining: number;
    total: number;
    "dirty-sync-count": number;
    "dirty-pages-rate": number;
    "page-size"?: number;
  };
}

export interface OutgoingOptions {
  /** The instance, for messages. */
  name: string;
  /** MiB/s; 0 = unlimited. */
  bandwidth: number;
  /** migration_downtime, ms. */
  downtimeMs: number;
  /** migration_caps, already validated. */
  caps: readonly string[];
  /** The guest's memory, MiB (for the deadline). */
  memoryMiB: number;
  /** The shortest deadline, ms. */
  deadlineFloorMs: number;
  /** Encrypt the stream with the credentials loaded as tls.ts's TLS_CREDS_ID. */
  tls: boolean;
  /** Node-local disks to mirror to the target before the memory moves, and their size in MiB. */
  mirrors?: { disks: DiskMirrors; totalMiB: number };
}

/** migrate-set-capabilities' argument: events always, each known capability on or off (a previous migration's stay set otherwise). */
export function migrationCapabilities(caps: readonly string[], pauseBeforeSwitchover = false): { capabilities: { capability: string; state: boolean }[] } {
  return {
    capabilities: [
      { capability: "events", state: true },
      // Mirrored disks are completed at the switch-over, with the guest stopped (mirror.ts).
      { capability: "pause-before-switchover", state: pauseBeforeSwitchover },
      ...KVM_MIGRATION_CAPS.map((capability) => ({ capability, state: caps.includes(capability) })),
    ],
  };
}

/** How long a precopy may take before it is cancelled, ms. */
export function migrationDeadlineMs(memoryMiB: number, bandwidth: number, floorMs: number): number {
  const rate = bandwidth > 0 ? bandwidth : ASSUMED_LINK_MIBPS;
  return Math.max(floorMs, Math.ceil((DEADLINE_COPIES * memoryMiB * 1000) / rate));
}

const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

/** A MigrationStatus out of one query-migrate answer. */
export function statusOf(q: QueryMigrate, postcopy: boolean): MigrationStatus {
  const s = q.status;
  const status: MigrationStatus["status"] =
    s === "completed" || s === "failed" || s === "cancelled" ? s : s === undefined || s === "none" ? "failed" : "active";
  const out: MigrationStatus = { status, mode: postcopy || s === "postcopy-active" ? "postcopy" : "precopy" };
  const ram = q.ram;
  if (ram) {
    out.transferredMiB = mib(ram.transferred);
    out.totalMiB = mib(ram.total);
    out.remainingMiB = mib(ram.remaining);
    out.pass = ram["dirty-sync-count"];
    out.dirtyRateMiBps = mib(ram["dirty-pages-rate"] * (ram["page-size"] ?? 4096));
  }
  if (q["expected-downtime"] !== undefined) out.expectedDowntimeMs = q["expected-downtime"];
  if (q["total-time"] !== undefined) out.elapsedMs = q["total-time"];
  if (s === "completed" && q.downtime !== undefined) out.downtimeMs = q.downtime;
  if (s === "failed" && q["error-desc"]) out.message = q["error-desc"];
  return out;
}

/** One migration leaving this node: started, watched and steered until it ends. */
export class OutgoingMigration {
  private readonly deadlineMs: number;
  private readonly postcopyAllowed: boolean;
  private readonly escalationAllowed: boolean;
  private readonly downtimeCeilingMs: number;
  private downtimeLimitMs: number;
  private startedAt = 0;
  private lastPass = 0;
  private postcopy = false;
  private cancelReason: string | null = null;
  private queryFailures = 0;
  /** Bytes sent at the last look that saw them grow, and when (a broken link shows as no growth). */
  private lastTransferred = -1;
  private lastMovedAt = 0;
  private notes: string[] = [];
  private latest: MigrationStatus = { status: "active", mode: "precopy" };
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Mirroring the disks (the memory waits), then moving the memory. */
  private stage: "storage" | "memory" = "memory";
  private uri = "";
  private storageMs: number | undefined;
  private switching: Promise<void> | undefined;
  private looking = false;
  private lookAgain = false;
  /** Long polls waiting for the end. */
  private readonly waiters = new Set<() => void>();
  private readonly qmp: QmpClient;
  private readonly o: OutgoingOptions;

  constructor(qmp: QmpClient, o: OutgoingOptions) {
    this.qmp = qmp;
    this.o = o;
    this.deadlineMs = migrationDeadlineMs(o.memoryMiB, o.bandwidth, o.deadlineFloorMs);
    this.postcopyAllowed = o.caps.includes("postcopy-ram");
    this.escalationAllowed = !o.caps.includes("auto-converge");
    this.downtimeLimitMs = o.downtimeMs;
    this.downtimeCeilingMs = o.downtimeMs * DOWNTIME_ESCALATION;
  }

  /** Sets capabilities and parameters, starts the migration to `uri` and begins watching it. */
  async start(uri: string, live: boolean): Promise<void> {
    const bandwidth = this.o.bandwidth > 0 ? this.o.bandwidth : UNLIMITED_MIBPS;
    const mirrors = this.o.mirrors;
    await this.qmp.execute("migrate-set-capabilities", migrationCapabilities(this.o.caps, mirrors !== undefined));
    await this.qmp.execute("migrate-set-parameters", {
      "max-bandwidth": bandwidth * MiB, "downtime-limit": this.downtimeLimitMs,
      // Set either way: QEMU keeps a previous migration's parameters.
      "tls-creds": this.o.tls ? TLS_CREDS_ID : "", "tls-hostname": this.o.tls ? TLS_HOSTNAME : "",
    });
    if (!live) await this.qmp.execute("stop");
    this.startedAt = Date.now();
    this.uri = uri;
    this.qmp.on("MIGRATION", this.onMigrationEvent);
    try {
      if (mirrors) {
        mirrors.disks.onChange = () => this.schedule(0);
        this.stage = "storage";
        this.latest = { status: "active", stage: "storage", diskDoneMiB: 0, diskTotalMiB: mirrors.totalMiB };
        await mirrors.disks.start(this.o.bandwidth);
      } else {
        await this.qmp.execute("migrate", { uri });
      }
    } catch (err) {
      await this.abortMirrors().catch(() => undefined);
      this.stop();
      throw err;
    }
    this.schedule();
  }

  /**
   * Watches a migration a previous agent started (it died or restarted meanwhile): QEMU kept
   * sending, the policy carries on from QEMU's own figures (its total-time keeps the deadline).
   */
  async resume(): Promise<void> {
    const p = await this.qmp.execute<{ "downtime-limit"?: number }>("query-migrate-parameters");
    if (p["downtime-limit"] !== undefined) this.downtimeLimitMs = p["downtime-limit"];
    this.qmp.on("MIGRATION", this.onMigrationEvent);
    this.startedAt = Date.now();
    this.schedule();
  }

  /** The figures of the last look (the job log's progress line). */
  status(): MigrationStatus {
    const s: MigrationStatus = { ...this.latest, downtimeLimitMs: this.downtimeLimitMs };
    if (this.o.mirrors) {
      s.stage = this.stage;
      if (this.storageMs !== undefined) s.storageMs = this.storageMs;
    }
    const message = [this.latest.message, ...this.notes].filter((m) => m).join("; ");
    this.notes = [];
    if (message) s.message = message;
    return s;
  }

  /** Stops watching (the migration ended, or its QEMU is gone: then it failed). */
  stop(why?: string): void {
    clearTimeout(this.timer);
    if (!this.ended && why !== undefined) this.latest = { ...this.latest, status: "failed", message: why };
    this.ended = true;
    this.o.mirrors?.disks.close();
    this.qmp.off("MIGRATION", this.onMigrationEvent);
    for (const done of [...this.waiters]) done();
  }

  /**
   * At the pause before the switch-over (the guest is stopped): the mirrors copy what is left
   * and end, then the migration goes on. Started by QEMU's MIGRATION event (the guest waits for
   * it), or by a look that finds the migration there; runs once.
   */
  private switchover(): Promise<void> {
    this.switching ??= (async () => {
      try {
        await this.o.mirrors?.disks.complete();
        await this.qmp.execute("migrate-continue", { state: "pre-switchover" });
      } catch (err) {
        this.cancelReason = `completing the disk mirrors at the switch-over failed: ${errText(err)}; cancelled, the instance runs on on the source node`;
        await this.qmp.execute("migrate_cancel").catch(() => undefined);
      }
    })();
    return this.switching;
  }

  /** QEMU's MIGRATION events: the switch-over pause is answered at once, an end is looked at at once. */
  private readonly onMigrationEvent = (e: QmpEvent<QmpEventMap["MIGRATION"]>) => {
    if (this.ended) return;
    if (e.data.status === "pre-switchover") void this.switchover();
    else if (["completed", "failed", "cancelled"].includes(e.data.status)) this.schedule(0);
  };

  /** Stops the disk mirrors, if any (the migration failed, was cancelled, or is given up). */
  async abortMirrors(): Promise<void> {
    await this.o.mirrors?.disks.abort();
  }

  /** The storage stage: mirrors in sync start the memory; a stopped one or the deadline fails the migration. */
  private async lookAtMirrors(mirrors: NonNullable<OutgoingOptions["mirrors"]>): Promise<void> {
    const p = await mirrors.disks.progress();
    const elapsedMs = Date.now() - this.startedAt;
    this.latest = { status: "active", stage: "storage", diskDoneMiB: p.doneMiB, diskTotalMiB: p.totalMiB || mirrors.totalMiB, elapsedMs };
    const deadline = migrationDeadlineMs(mirrors.totalMiB, this.o.bandwidth, this.o.deadlineFloorMs);
    const failure = p.error ?? (elapsedMs > deadline
      ? `the disks (${mirrors.totalMiB} MiB) were not mirrored within ${Math.round(deadline / 1000)} s (${p.doneMiB} MiB copied); cancelled, the instance runs on on the source node`
      : null);
    if (failure !== null) {
      await mirrors.disks.abort();
      this.latest = { ...this.latest, status: p.error ? "failed" : "cancelled", message: failure };
      return this.stop();
    }
    if (!p.ready) return this.schedule();
    this.storageMs = elapsedMs;
    this.stage = "memory";
    this.startedAt = Date.now();
    this.notes.push(`disks mirrored: ${mirrors.totalMiB} MiB in ${(elapsedMs / 1000).toFixed(2)} s (${p.doneMiB} MiB copied, guest writes included); moving the memory`);
    await this.qmp.execute("migrate", { uri: this.uri });
    this.schedule();
  }

  /** The next look in `delayMs` (an earlier planned one is replaced). */
  private schedule(delayMs = WATCH_MS): void {
    if (this.ended) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runLook(), delayMs).unref();
  }

  /** One look at a time: a wake-up during one runs another right after it. */
  private async runLook(): Promise<void> {
    if (this.looking) {
      this.lookAgain = true;
      return;
    }
    this.looking = true;
    try {
      await this.look();
    } finally {
      this.looking = false;
      if (this.lookAgain) {
        this.lookAgain = false;
        this.schedule(0);
      }
    }
  }

  /** Resolves once the migration has ended, or after `withinMs` (the job's long poll). */
  settled(withinMs: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, withinMs);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  private async look(): Promise<void> {
    if (this.stage === "storage" && this.o.mirrors) {
      try {
        await this.lookAtMirrors(this.o.mirrors);
      } catch (err) {
        if (++this.queryFailures >= MAX_QUERY_FAILURES) {
          await this.abortMirrors().catch(() => undefined);
          this.stop(`QEMU does not answer about the disk mirrors: ${errText(err)}`);
        } else this.schedule();
      }
      return;
    }
    let q: QueryMigrate;
    try {
      q = await this.qmp.execute<QueryMigrate>("query-migrate", undefined, { timeoutMs: 5000 });
      this.queryFailures = 0;
    } catch (err) {
      if (++this.queryFailures >= MAX_QUERY_FAILURES) this.stop(`QEMU does not answer query-migrate: ${errText(err)}`);
      return this.schedule();
    }
    const s = statusOf(q, this.postcopy);
    if (s.elapsedMs === undefined) s.elapsedMs = Date.now() - this.startedAt;
    const sent = q.ram?.transferred ?? 0;
    if (sent > this.lastTransferred || this.lastMovedAt === 0) {
      this.lastTransferred = sent;
      this.lastMovedAt = Date.now();
    }
    if (s.status === "cancelled" && this.cancelReason) s.message = this.cancelReason;
    if (this.storageMs !== undefined && s.status === "completed") s.storageMs = this.storageMs;
    this.latest = s;
    if (s.status !== "active") {
      if (s.status !== "completed") await this.abortMirrors().catch(() => undefined);
      return this.stop();
    }
    if (q.status === "pre-switchover") {
      await this.switchover();
      return this.schedule();
    }
    try {
      await this.steer(q, s);
    } catch (err) {
      this.notes.push(`convergence policy: ${errText(err)}`);
    }
    this.schedule();
  }

  /** The convergence policy (see the top of this file). */
  private async steer(q: QueryMigrate, s: MigrationStatus): Promise<void> {
    if (q.status === "postcopy-active" || this.postcopy || this.cancelReason) return;
    if ((s.elapsedMs ?? 0) > this.deadlineMs) {
      this.cancelReason = this.noConvergence(s);
      await this.qmp.execute("migrate_cancel");
      return;
    }
    const pass = s.pass ?? 0;
    if (q.status !== "active" || pass <= this.lastPass) return;
    this.lastPass = pass;
    const expected = s.expectedDowntimeMs;
    if (expected === undefined || expected <= this.downtimeLimitMs) return;
    if (this.postcopyAllowed && pass >= POSTCOPY_FROM_PASS) {
      await this.qmp.execute("migrate-start-postcopy");
      this.postcopy = true;
      this.notes.push(`switching to postcopy at pass ${pass}: expected downtime ${expected} ms is over the ${this.downtimeLimitMs} ms limit`);
    } else if (this.escalationAllowed && pass >= ESCALATE_FROM_PASS && this.downtimeLimitMs < this.downtimeCeilingMs) {
      const limit = Math.min(this.downtimeCeilingMs, this.downtimeLimitMs * 2);
      await this.qmp.execute("migrate-set-parameters", { "downtime-limit": limit });
      this.notes.push(`raising the downtime limit from ${this.downtimeLimitMs} to ${limit} ms at pass ${pass}: expected downtime ${expected} ms`);
      this.downtimeLimitMs = limit;
    }
  }

  private noConvergence(s: MigrationStatus): string {
    const stalledS = Math.floor((Date.now() - this.lastMovedAt) / 1000);
    // Nothing sent for a while is no convergence problem: the target stopped taking data.
    const stalled = stalledS >= STALLED_S ? `; no data moved for the last ${stalledS} s (is the link to the target down?)` : "";
    const bandwidth = this.o.bandwidth > 0 ? `${this.o.bandwidth} MiB/s` : "unlimited bandwidth";
    return `migration did not converge within ${Math.round(this.deadlineMs / 1000)} s (the deadline for ${this.o.memoryMiB} MiB at ${bandwidth}, `
      + `at least ${Math.round(this.o.deadlineFloorMs / 1000)} s): pass ${s.pass ?? "?"}, ${s.remainingMiB ?? "?"} of ${s.totalMiB ?? "?"} MiB left, `
      + `guest dirtying ${s.dirtyRateMiBps ?? "?"} MiB/s, expected downtime ${s.expectedDowntimeMs ?? "?"} ms over the ${this.downtimeLimitMs} ms limit`
      + `${this.postcopyAllowed ? "" : " (postcopy-ram not in migration_caps)"}${stalled}; cancelled, the instance runs on on the source node`;
  }
}

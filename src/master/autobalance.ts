// Automatic balancing (issue 16): every interval the master checks whether a round is due —
// the cluster's auto_balancing setting enabled, the last round more than its cooldown ago, no
// balancing job (automatic or POST /corral/1/balance) unfinished — and if so plans each node
// group on the worker thread, as GET /corral/1/balance does, and submits the plan of every
// group scoring above the threshold, as POST /corral/1/balance does: normal jobs, whose
// reason trail names the round. A failed round is logged and tried again after the cooldown.
// The last round is kept on disk (the database's meta table): after a restart the master shows
// it and counts the cooldown from it.

import { currentPlan, planJobs } from "../api/corral/balance.ts";
import type { RapiServices } from "../api/rapi/services.ts";
import type { ComputationRunner } from "../balance/offloop.ts";
import type { Plan } from "../balance/plan.ts";
import {
  AUTO_BALANCE_REASON, autoBalanceOf, type AutoBalanceGroupRound, type AutoBalanceRound, type AutoBalanceStatus,
} from "../model/autobalance.ts";
import { calcJobStatus, FINALIZED, type Job } from "../model/job.ts";
import type { Log } from "./log.ts";

/** How often the master checks whether a round is due (tests make it short). */
export const AUTO_BALANCE_INTERVAL_MS = 60_000;

/** Reason trail sources of balancing jobs: POST /corral/1/balance's and the automatic rounds'. */
const BALANCE_SOURCES: ReadonlySet<string> = new Set(["gnt:library:rlib2:corral_balance", AUTO_BALANCE_REASON]);
const AUTOMATIC: ReadonlySet<string> = new Set([AUTO_BALANCE_REASON]);

/** Whether an opcode of the job has a reason trail entry from one of the sources. */
function hasReasonFrom(job: Job, sources: ReadonlySet<string>): boolean {
  return job.ops.some((op) => (op.input.reason ?? []).some((entry) => Array.isArray(entry) && sources.has(entry[0] as string)));
}

/** Where the last round is kept across restarts (store/meta.ts's MetaRecord in the master). */
export interface KeptRound {
  get(): AutoBalanceRound | undefined;
  /** Resolves once the round is on disk. */
  put(round: AutoBalanceRound): Promise<void>;
}

export interface AutoBalancerOptions {
  services: RapiServices;
  runner: ComputationRunner;
  log: Log;
  lastRound: KeptRound;
  intervalMs?: number;
  /** Whether this master leads (a standby on etcd checks nothing; default: always). */
  leads?: () => boolean;
}

export class AutoBalancer {
  private readonly s: RapiServices;
  private readonly runner: ComputationRunner;
  private readonly log: Log;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private checks = 0;
  private readonly kept: KeptRound;
  private readonly leads: (() => boolean) | undefined;
  private lastRound: AutoBalanceRound | null = null;
  /** When the last round started, ms (after a restart, a newer automatic job's arrival if the queue holds one). */
  private lastRoundAtMs: number | null = null;

  constructor(o: AutoBalancerOptions) {
    this.s = o.services;
    this.runner = o.runner;
    this.log = o.log;
    this.kept = o.lastRound;
    this.intervalMs = o.intervalMs ?? AUTO_BALANCE_INTERVAL_MS;
    this.leads = o.leads;
  }

  /**
   * Starts checking; the cooldown counts from the last round kept on disk, or from the newest
   * automatic job the queue holds when that is newer (a round whose record did not reach the disk).
   */
  start(): void {
    this.lastRound = this.kept.get() ?? null;
    if (this.lastRound) this.lastRoundAtMs = this.lastRound.started * 1000;
    for (const job of this.s.queue.all()) {
      if (!hasReasonFrom(job, AUTOMATIC) || job.received_ts === null) continue;
      const ms = job.received_ts[0] * 1000 + job.received_ts[1] / 1000;
      if (this.lastRoundAtMs === null || ms > this.lastRoundAtMs) this.lastRoundAtMs = ms;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      const logFailure = (err: unknown) => this.log(`automatic balancing check failed: ${(err as Error).message}`, { level: "error" });
      this.running = this.check().catch(logFailure).finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops checking and waits for a check under way (its plan computation is abandoned). */
  async close(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    await this.running;
  }

  status(): AutoBalanceStatus {
    return {
      setting: autoBalanceOf(this.s.store.snapshot().cluster),
      interval: this.intervalMs / 1000,
      checks: this.checks,
      last_round: this.lastRound,
    };
  }

  /** One check: a round when one is due; a failed round is recorded and logged, not thrown. */
  private async check(): Promise<void> {
    if (this.leads && !this.leads()) return;
    this.checks++;
    // A round another master kept (before this one took over) counts toward the cooldown.
    const kept = this.kept.get();
    if (kept && (this.lastRoundAtMs === null || kept.started * 1000 > this.lastRoundAtMs)) {
      this.lastRound = kept;
      this.lastRoundAtMs = kept.started * 1000;
    }
    const snap = this.s.store.snapshot();
    const setting = autoBalanceOf(snap.cluster);
    if (!setting.enabled) return;
    const now = Date.now();
    if (this.lastRoundAtMs !== null && now - this.lastRoundAtMs < setting.cooldown * 1000) return;
    for (const job of this.s.queue.all()) if (!FINALIZED.has(calcJobStatus(job)) && hasReasonFrom(job, BALANCE_SOURCES)) return;

    const round = (this.lastRound?.round ?? 0) + 1;
    const record: AutoBalanceRound = { round, started: now / 1000, groups: [], error: null };
    try {
      // Groups in name order, each planned with the moves the round has left.
      const groups = [...snap.groups.values()]
        .filter((g) => [...snap.nodes.values()].some((n) => n.group === g.uuid))
        .map((g) => g.name)
        .sort();
      const plans: Plan[] = [];
      let movesLeft = setting.max_moves;
      for (const group of groups) {
        if (movesLeft <= 0) break;
        const plan = await currentPlan(this.s, this.runner, { group, maxMoves: movesLeft }, this.abort.signal);
        if (this.abort.signal.aborted) return;
        if (plan.initial_score <= setting.threshold || plan.moves.length === 0) continue;
        plans.push(plan);
        movesLeft -= plan.moves.length;
      }
      if (plans.length === 0) return; // nothing to do: no round, checked again next interval
      this.lastRoundAtMs = now;
      for (const plan of plans) record.groups.push(await this.submit(round, plan));
      // Shown once its jobs are: a reader never sees a round without the groups it submitted.
      this.lastRound = record;
      await this.kept.put(record);
      const summary = record.groups.map((g) => `group ${g.group} score ${g.initial_score.toFixed(4)} -> ${g.final_score.toFixed(4)}, ${g.moves} moves (jobs ${g.job_ids.join(", ")})`);
      this.log(`automatic balancing round ${round}: ${summary.join("; ")}`);
    } catch (err) {
      if (this.abort.signal.aborted) return; // the master is closing: not the round's failure
      this.lastRoundAtMs = now;
      this.lastRound = record;
      record.error = (err as Error).message;
      await this.kept.put(record);
      this.log(`automatic balancing round ${round} failed, next try after the cooldown (${setting.cooldown} s): ${record.error}`, { level: "error" });
    }
  }

  /** Submits one group's plan as POST /corral/1/balance does, with the round in the reason trail. */
  private async submit(round: number, plan: Plan): Promise<AutoBalanceGroupRound> {
    const what = `round ${round}: group ${plan.group}: score ${plan.initial_score} -> ${plan.final_score}, ${plan.moves.length} moves`;
    const jobs = planJobs(plan, [[AUTO_BALANCE_REASON, what, Date.now() * 1e6]]);
    // The master's own jobs: no API token's grants apply.
    const ids = await this.s.queue.submitJobs(jobs.map((j) => j.ops), { authority: null });
    const jobIds = plan.moves.map(() => 0);
    jobs.forEach((j, k) => (jobIds[j.move] = ids[k]));
    return { group: plan.group, initial_score: plan.initial_score, final_score: plan.final_score, moves: plan.moves.length, job_ids: jobIds };
  }
}

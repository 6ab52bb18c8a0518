// What a running opcode's logical unit gets as `ctx.master`: the master's services, with
// every node call (and live refresh, and child job submission) held back until what the job
// wrote so far is durable. Made once per opcode, on the hot path of every job: plain objects
// with prototype methods, and one promise reaction per write.

import { OpExecError } from "../model/errors.ts";
import type { MasterServices } from "../ops/lu.ts";
import type { LiveView } from "../query/live.ts";
import type { ConfigCommit, ConfigSnapshot, ConfigStore, ConfigTx, Staged } from "../store/store.ts";

/** Why a running job was stopped when its master lost leadership: it ends in error. */
export class LeadershipLost extends OpExecError {
  constructor(reason: string) {
    super(`The master lost leadership (${reason}) while the job ran; its outcome is unknown`);
  }
}

/**
 * The durability of what a job wrote so far: its running state and its config transactions.
 * They go into one ordered log (ConfigStore.stage, JobStore.write): once a write is durable so
 * is every one queued before it, and a failed write fails every one queued after it, so the
 * newest write stands for them all. A node call waits for it, so nothing reaches a node on the
 * strength of a write that may still fail (a rejected write rejects the call).
 */
class JobWrites {
  private newest!: Promise<void>;
  private durable = false;

  constructor(running: Promise<void>) {
    this.add(running);
  }

  add(write: Promise<void>): void {
    this.newest = write;
    this.durable = false;
    // Handled here; a failed write revokes leadership, which ends the job.
    write.then(() => {
      if (this.newest === write) this.durable = true;
    }, () => undefined);
  }

  /** Undefined once everything is durable (no need to wait a turn). */
  pending(): Promise<void> | undefined {
    return this.durable ? undefined : this.newest;
  }
}

/** One of the master's services as a job sees it: the service, and the job's writes so far. */
abstract class JobView<T> {
  protected readonly base: T;
  protected readonly writes: JobWrites;

  constructor(base: T, writes: JobWrites) {
    this.base = base;
    this.writes = writes;
  }
}

/**
 * The config store as a job sees it: transactions resolve once applied to the head (the job
 * reads the head, so its later steps see them) rather than once durable; the job's end goes
 * into the same ordered log after them, so it is durable (and its waiters told) only once
 * they are, and a short job's whole run still shares one group commit.
 */
class JobConfigStore extends JobView<ConfigStore> implements ConfigStore {
  snapshot(): ConfigSnapshot {
    return this.base.snapshot();
  }

  head(): ConfigSnapshot {
    return this.base.head();
  }

  stage<T>(fn: (tx: ConfigTx) => T): Staged<T> {
    const staged = this.base.stage(fn);
    this.writes.add(staged.durable);
    return staged;
  }

  transact<T>(fn: (tx: ConfigTx) => T): Promise<T> {
    try {
      return Promise.resolve(this.stage(fn).result);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  flush(): Promise<void> {
    return this.base.flush();
  }

  onCommit(listener: (snap: ConfigSnapshot, commit: ConfigCommit) => void): void {
    this.base.onCommit(listener);
  }

  close(): Promise<void> {
    return this.base.close();
  }
}

/** A refresh asks the nodes about the committed config: after the job's writes are durable. */
class JobLiveView extends JobView<LiveView> implements LiveView {
  get nodes(): LiveView["nodes"] {
    return this.base.nodes;
  }

  get instances(): LiveView["instances"] {
    return this.base.instances;
  }

  async refresh(nodeUuids?: Iterable<string>): Promise<void> {
    await this.writes.pending();
    await this.base.refresh(nodeUuids);
  }
}

type NodeClient = ReturnType<MasterServices["node"]>;

/** `running`: resolves once the opcode's "running" state is durable (never rejects: Queue.touch). */
export class JobServices implements MasterServices {
  readonly store: ConfigStore;
  readonly live: LiveView;
  private readonly services: MasterServices;
  private readonly writes: JobWrites;
  private readonly token: string | undefined;
  private readonly signal: AbortSignal;
  /** Made on the first node call: most opcodes make none. */
  private hold: ProxyHandler<NodeClient> | undefined;

  constructor(services: MasterServices, running: Promise<void>, token: string | undefined, signal: AbortSignal) {
    this.services = services;
    this.writes = new JobWrites(running);
    this.token = token;
    this.signal = signal;
    this.store = new JobConfigStore(services.store, this.writes);
    this.live = new JobLiveView(services.live, this.writes);
  }

  /**
   * A job's children act for the job's token (or for none), never for a request's being
   * handled; submitted once its writes are durable: they are checked against the committed config.
   */
  // Arrow properties, not methods: logical units pass `ctx.master.node` on as a function.
  readonly submitJobs = async (jobs: Parameters<MasterServices["submitJobs"]>[0]): Promise<number[]> => {
    await this.writes.pending();
    return await this.services.submitJobs(jobs, { authority: this.token === undefined ? null : { token: this.token } });
  };

  readonly node = (n: Parameters<MasterServices["node"]>[0]): NodeClient => {
    this.hold ??= holdUntilDurable(this.writes, this.signal);
    return new Proxy(this.services.node(n), this.hold);
  };
}

/** Each method of a node's client waits until the job's writes so far are durable. */
function holdUntilDurable(writes: JobWrites, signal: AbortSignal): ProxyHandler<NodeClient> {
  return {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      const pending = writes.pending();
      if (pending === undefined || typeof value !== "function" || key === "close") return value;
      return async (...args: unknown[]) => {
        await pending;
        await writes.pending();
        // The running state's write never rejects (touch); a failed one revoked leadership.
        if (signal.reason instanceof LeadershipLost) throw signal.reason;
        return Reflect.apply(value, target, args);
      };
    },
  };
}

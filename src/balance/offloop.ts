// The balancer's computations on a worker thread, off the master's event loop: a plan or a
// capacity run on a large cluster takes seconds, during which the master must keep serving
// requests, jobs and event streams. One worker, started on first use and kept; computations
// run one at a time in the order asked; at most `maxWaiting` wait behind the running one.

import { Worker } from "node:worker_threads";
import type { Computation, ComputationName, ComputationResult, RapiJson } from "./computations.ts";
import { ModelError } from "./model.ts";

/** What the worker answers for a computation (offloop-worker.ts). */
export type WorkerAnswer =
  | { id: number; result: unknown }
  | { id: number; error: { model: boolean; message: string } };

/** Refused: `maxWaiting` computations already wait. */
export class ComputationsBusy extends Error {
  readonly retryAfterSeconds: number;
  constructor(waiting: number, retryAfterSeconds: number) {
    super(`${waiting} balancing/capacity computations are already waiting; try again in ${retryAfterSeconds} s`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

interface Pending {
  readonly id: number;
  readonly computation: Computation<ComputationName, RapiJson>;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class ComputationRunner {
  private worker: Worker | undefined;
  private running: Pending | undefined;
  private readonly waiting: Pending[] = [];
  private nextId = 1;
  private closed = false;

  private readonly opts: { readonly maxWaiting: number; readonly retryAfterSeconds: number };

  constructor(opts: { maxWaiting?: number; retryAfterSeconds?: number } = {}) {
    this.opts = { maxWaiting: opts.maxWaiting ?? 8, retryAfterSeconds: opts.retryAfterSeconds ?? 5 };
  }

  /**
   * Runs a computation on the worker. Rejects with a ModelError for data the model cannot read,
   * ComputationsBusy when the queue is full, the signal's reason when it aborts while the
   * computation still waits (a running one finishes), an Error with the message otherwise.
   * The instances' pieces are handed over, not copied: the caller's are empty once it runs.
   */
  run<K extends ComputationName>(computation: Computation<K, RapiJson>, signal?: AbortSignal): Promise<ComputationResult<K>> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error("the balancing thread is closed"));
      if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      const busy = this.refusal();
      if (busy) return reject(busy);
      const pending: Pending = {
        id: this.nextId++,
        computation,
        resolve: (result) => resolve(result as ComputationResult<K>),
        reject,
        signal,
        onAbort: () => {
          const at = this.waiting.indexOf(pending);
          if (at < 0) return;
          this.waiting.splice(at, 1);
          reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
        },
      };
      signal?.addEventListener("abort", pending.onAbort, { once: true });
      if (this.running) this.waiting.push(pending);
      else this.start(pending);
    });
  }

  /** What run() would refuse with now (the queue is full), to check before gathering the data. */
  refusal(): ComputationsBusy | undefined {
    return this.running && this.waiting.length >= this.opts.maxWaiting ? new ComputationsBusy(this.waiting.length, this.opts.retryAfterSeconds) : undefined;
  }

  /** Computations waiting behind the running one. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Stops the worker; what runs or waits is rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.waiting.splice(0)) this.settle(p, { id: p.id, error: { model: false, message: "the balancing thread is closed" } });
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(p: Pending): void {
    p.signal?.removeEventListener("abort", p.onAbort);
    this.running = p;
    const worker = this.worker ?? this.spawn();
    // Keeps the process alive only while a computation runs.
    worker.ref();
    try {
      // The instances' pieces move to the worker (this side's copies become empty).
      worker.postMessage({ id: p.id, computation: p.computation }, p.computation.data.instances.map((piece) => piece.buffer as ArrayBuffer));
    } catch (err) {
      // Data that cannot be cloned: this computation fails, the worker stays.
      this.finish({ id: p.id, error: { model: false, message: err instanceof Error ? err.message : String(err) } });
    }
  }

  private spawn(): Worker {
    const worker = new Worker(new URL("./offloop-worker.ts", import.meta.url));
    worker.on("message", (m: WorkerAnswer) => this.finish(m));
    worker.on("error", (err) => this.stopped(worker, `the balancing thread failed: ${err.message}`));
    worker.on("exit", (code) => this.stopped(worker, `the balancing thread stopped (exit code ${code})`));
    this.worker = worker;
    return worker;
  }

  /** The worker is gone: the running computation fails; the next starts a new one. */
  private stopped(worker: Worker, message: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.running) this.finish({ id: this.running.id, error: { model: false, message } });
  }

  private finish(answer: WorkerAnswer): void {
    const p = this.running;
    if (p?.id !== answer.id) return;
    this.running = undefined;
    this.settle(p, answer);
    const next = this.waiting.shift();
    if (next && !this.closed) this.start(next);
    else this.worker?.unref();
  }

  private settle(p: Pending, answer: WorkerAnswer): void {
    p.signal?.removeEventListener("abort", p.onAbort);
    if ("result" in answer) p.resolve(answer.result);
    else p.reject(answer.error.model ? new ModelError(answer.error.message) : new Error(answer.error.message));
  }
}

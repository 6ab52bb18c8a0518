// The agent's recent hypervisor events, for the master's long poll (instanceEvents): a
// bounded buffer with sequence numbers, and waiters woken when an event arrives. The epoch
// changes with every agent start, so a master that polled a previous incarnation knows it
// may have missed events and refreshes everything.

import { randomUUID } from "node:crypto";
import type { InstanceEvent, InstanceEvents } from "../../rpc/calls.ts";

const KEPT_EVENTS = 1024;

export class EventLog {
  readonly epoch = randomUUID();
  private events: InstanceEvent[] = [];
  private next = 1;
  private waiters = new Set<() => void>();

  add(event: Omit<InstanceEvent, "seq">): void {
    this.events.push({ ...event, seq: this.next++ });
    if (this.events.length > KEPT_EVENTS) this.events.splice(0, this.events.length - KEPT_EVENTS);
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** Events after `since` of this epoch; waits up to `timeoutMs` for one when there are none. */
  async since(epoch: string | null, since: number, timeoutMs: number, signal?: AbortSignal): Promise<InstanceEvents> {
    if (epoch === this.epoch && since >= this.next - 1 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        // Unref'd: a pending long poll never keeps a stopping process alive.
        const timer = setTimeout(done, timeoutMs).unref();
        this.waiters.add(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
    return this.read(epoch, since);
  }

  private read(epoch: string | null, since: number): InstanceEvents {
    if (epoch !== this.epoch) return { epoch: this.epoch, next: this.next - 1, events: [], missed: true };
    const oldest = this.events[0]?.seq ?? this.next;
    const events = this.events.filter((e) => e.seq > since);
    return { epoch: this.epoch, next: this.next - 1, events, missed: since + 1 < oldest && since < this.next - 1 };
  }
}

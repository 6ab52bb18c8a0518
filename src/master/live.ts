// The master's view of what runs where: node facts and running instances, as the agents
// last reported them. Reads (bulk listings, single GETs) use this cache; jobs that change
// runtime state refresh the nodes they touched before they finish, and a background
// refresh picks up changes made outside Corral.

import { setTimeout as sleep } from "node:timers/promises";
import type { InstanceLive, LiveState, NodeFacts, NodeLive } from "../query/live.ts";
import type { ConfigStore } from "../store/store.ts";
import type { InstanceEvent, NodeInfo } from "../rpc/index.ts";
import type { NodeConnections } from "./nodes.ts";

/** Nodes asked at once, so a large cluster's refresh does not stall everything else. */
const REFRESH_CONCURRENCY = 64;
/** How long one instanceEvents long poll waits, seconds. */
const EVENT_POLL_S = 25;
/** Tries (0.5, 1, 2 s apart) before the event poll of an agent that stopped answering ends. */
const EVENT_RETRIES = 3;
/** A node that has not answered by then counts as not answering (its call may still finish). */
const REFRESH_TIMEOUT_MS = 5_000;

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer in time")), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function toFacts(info: NodeInfo): NodeFacts {
  return {
    memory_total: info.memory_total,
    memory_free: info.memory_free,
    memory_dom0: info.memory_dom0,
    cpu_total: info.cpu_total,
    cpu_nodes: info.cpu_nodes,
    cpu_sockets: info.cpu_sockets,
    cpu_dom0: info.cpu_dom0,
    bootid: info.bootid,
    storage: info.storage.map((s) => ({ name: s.name, type: s.type, total: s.storage_size ?? 0, free: s.storage_free ?? 0 })),
    host: { loadavg: info.host.loadavg, kernel: info.host.kernel, os: info.host.os, arch: info.host.arch },
  };
}

interface NodeReport {
  live: NodeLive;
  /** Running instances by name. */
  instances: Map<string, Omit<InstanceLive, "node">>;
}

export class LiveMonitor implements LiveState {
  private readonly store: ConfigStore;
  private readonly connections: NodeConnections;
  private readonly reports = new Map<string, NodeReport>();
  private nodesView = new Map<string, NodeLive>();
  private instancesView = new Map<string, InstanceLive>();
  /** Instance name → uuid as of some snapshot: checked against the current one when used. */
  private uuidByName = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Instance names map to uuids through the config: rebuilt lazily after config commits. */
  private stale = false;
  /** One long poll of instanceEvents per node being followed, stopped through its controller. */
  private readonly watchers = new Map<string, AbortController>();
  private readonly eventListeners: ((nodeUuid: string, event: InstanceEvent) => void)[] = [];
  private watching = false;

  constructor(store: ConfigStore, connections: NodeConnections) {
    this.store = store;
    this.connections = connections;
    store.onCommit(() => void (this.stale = true));
  }

  get nodes(): ReadonlyMap<string, NodeLive> {
    if (this.stale) this.rebuild();
    return this.nodesView;
  }

  get instances(): ReadonlyMap<string, InstanceLive> {
    if (this.stale) this.rebuild();
    return this.instancesView;
  }

  /** Asks the given nodes (default: every node not marked offline) and updates the view. */
  async refresh(nodeUuids?: Iterable<string>): Promise<void> {
    const snap = this.store.snapshot();
    const wanted = nodeUuids ? [...new Set(nodeUuids)] : [...snap.nodes.keys()];
    await forEachLimited(wanted, REFRESH_CONCURRENCY, async (uuid) => {
      const node = snap.nodes.get(uuid);
      if (!node || node.offline) {
        this.reports.delete(uuid);
        return;
      }
      const client = this.connections.client(node);
      try {
        const [info, running] = await withTimeout(
          Promise.all([client.nodeInfo({ hypervisor: snap.cluster.enabled_hypervisors[0] }), client.instanceList({})]),
          REFRESH_TIMEOUT_MS,
        );
        this.reports.set(uuid, {
          live: { facts: toFacts(info) },
          instances: new Map(running.map((r) => [r.name, { running: r.state === "running" || r.state === "paused", memory: r.memory, vcpus: r.vcpus }])),
        });
      } catch {
        this.reports.set(uuid, { live: { offline: true }, instances: new Map() });
      }
    });
    this.rebuild();
    this.syncWatchers();
  }

  /** Refreshes everything every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.refresh().finally(tick), intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watching = false;
    for (const c of this.watchers.values()) c.abort();
    this.watchers.clear();
  }

  /**
   * Follows every node's hypervisor events (a long poll per node): when a guest powers off or
   * a hypervisor process dies, that node is refreshed at once, not at the next periodic
   * refresh, and `onInstanceEvent` listeners hear of it.
   */
  watch(): void {
    this.watching = true;
    this.syncWatchers();
    // Only when the nodes changed: commits reuse the nodes map otherwise, and most commits
    // (tags, jobs' instances) touch no node.
    let nodes = this.store.snapshot().nodes;
    this.store.onCommit((snap) => {
      if (snap.nodes === nodes) return;
      nodes = snap.nodes;
      this.syncWatchers();
    });
  }

  onInstanceEvent(listener: (nodeUuid: string, event: InstanceEvent) => void): void {
    this.eventListeners.push(listener);
  }

  /** One watcher per node that is not offline; watchers of removed or offlined nodes stop. */
  private syncWatchers(): void {
    if (!this.watching) return;
    const nodes = this.store.snapshot().nodes;
    for (const [uuid, c] of this.watchers) {
      if (nodes.get(uuid)?.offline !== false) {
        c.abort();
        this.watchers.delete(uuid);
      }
    }
    for (const node of nodes.values()) {
      // Only agents that answered the last refresh: an unreachable one is retried by the
      // periodic refresh, not by a long poll per node (2,000 dead nodes would be 2,000 loops).
      const report = this.reports.get(node.uuid);
      if (node.offline || this.watchers.has(node.uuid) || !report || report.live.offline === true) continue;
      const c = new AbortController();
      this.watchers.set(node.uuid, c);
      void this.watchNode(node.uuid, c.signal);
    }
  }

  private async watchNode(uuid: string, signal: AbortSignal): Promise<void> {
    let epoch: string | null = null;
    let since = 0;
    let failures = 0;
    while (!signal.aborted) {
      const node = this.store.snapshot().nodes.get(uuid);
      if (!node || node.offline) return;
      try {
        const r = await this.connections.client(node).instanceEvents({ epoch, since, timeout: EVENT_POLL_S });
        failures = 0;
        // The first answer only tells the epoch; a new epoch (the agent restarted) or missed
        // events mean anything may have changed.
        const changed = epoch !== null && (r.events.length > 0 || r.missed || r.epoch !== epoch);
        epoch = r.epoch;
        since = r.next;
        if (signal.aborted || !changed) continue;
        await this.refresh([uuid]);
        for (const e of r.events) for (const l of this.eventListeners) l(uuid, e);
      } catch {
        // An agent that stopped answering: a few more tries, then the periodic refresh takes
        // over (it marks the node down, and starts a watcher again once it answers).
        if (++failures > EVENT_RETRIES) {
          if (this.watchers.get(uuid)?.signal === signal) this.watchers.delete(uuid);
          return;
        }
        await sleep(250 * 2 ** failures, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private rebuild(): void {
    this.stale = false;
    const snap = this.store.snapshot();
    // The names' uuids are taken over from the last rebuild while the snapshot agrees (names
    // are unique): scanning 100,000 instances after every commit held the event loop ~70 ms.
    let rescanned = false;
    const uuidOf = (name: string): string | undefined => {
      const known = this.uuidByName.get(name);
      if (known !== undefined && snap.instances.get(known)?.name === name) return known;
      if (rescanned) return undefined;
      rescanned = true;
      this.uuidByName = new Map([...snap.instances.values()].map((i) => [i.name, i.uuid]));
      return this.uuidByName.get(name);
    };
    const nodes = new Map<string, NodeLive>();
    const instances = new Map<string, InstanceLive>();
    for (const [uuid, report] of this.reports) {
      if (!snap.nodes.has(uuid)) continue;
      nodes.set(uuid, report.live);
      for (const [name, inst] of report.instances) {
        const instUuid = uuidOf(name);
        if (instUuid) instances.set(instUuid, { ...inst, node: uuid });
      }
    }
    this.nodesView = nodes;
    this.instancesView = instances;
  }
}

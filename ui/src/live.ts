// The cluster as the console shows it, kept current by the event stream (/corral/1/events), with
// no polling: the lists are read once from RAPI, then each event says what changed. An object
// event re-reads that object (RAPI's own fields, so the page never computes a second model);
// a job event carries the job's new status and log lines itself. A finished job also re-reads
// the instances and nodes its summary names, whose live state (running or not, free memory)
// is not config and so has no event of its own. A `gap` (the history no longer reaches back
// to where this page was) reloads everything.

import { useEffect, useState } from "preact/hooks";
import { enc, get } from "./api.ts";
import { FINALIZED, type GroupRow, type InstanceRow, type JobDetail, type JobEvent, type JobRow, type LogEntry, type NodeRow, type ObjectEvent } from "./model.ts";

export interface ClusterView {
  name: string;
  nodes: ReadonlyMap<string, NodeRow>;
  instances: ReadonlyMap<string, InstanceRow>;
  groups: ReadonlyMap<string, GroupRow>;
  jobs: ReadonlyMap<number, JobRow>;
  /** Whether the event stream is connected (the page is live). */
  live: boolean;
  /** The last error in reading the cluster, shown once. */
  error: string | null;
}

const JOB_FIELDS = "id,status,summary,received_ts,start_ts,end_ts";
/** Jobs the console keeps in its lists (the newest). */
const KEPT_JOBS = 200;
/** Object re-reads wait this long so that a burst of events reads each object once. */
const COALESCE_MS = 100;

type Kind = "instance" | "node" | "group";
const PATHS: Record<Kind, string> = { instance: "/2/instances/", node: "/2/nodes/", group: "/2/groups/" };

class LiveCluster {
  view: ClusterView = { name: "", nodes: new Map(), instances: new Map(), groups: new Map(), jobs: new Map(), live: false, error: null };
  private readonly listeners = new Set<() => void>();
  private readonly jobLogs = new Map<number, Set<(e: JobEvent) => void>>();
  private source: EventSource | null = null;
  private pending = new Map<string, Kind>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Calls `listener` with every event of job `id` (its status and new log lines). */
  followJob(id: number, listener: (e: JobEvent) => void): () => void {
    let set = this.jobLogs.get(id);
    if (!set) this.jobLogs.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.jobLogs.delete(id);
    };
  }

  stop(): void {
    this.source?.close();
    this.source = null;
    this.view = { ...this.view, live: false };
  }

  private start(): void {
    // Listen first, then read: whatever changes in between arrives as an event after the read.
    const source = (this.source = new EventSource("/corral/1/events"));
    source.addEventListener("open", () => this.set({ live: true }));
    source.addEventListener("error", () => this.set({ live: false }));
    for (const kind of ["instance", "node", "group"] as const) {
      source.addEventListener(kind, (e) => this.onObject(kind, JSON.parse((e as MessageEvent<string>).data) as ObjectEvent));
    }
    source.addEventListener("job", (e) => this.onJob(JSON.parse((e as MessageEvent<string>).data) as JobEvent));
    source.addEventListener("gap", () => void this.reload());
    source.addEventListener("overflow", () => {
      // The master dropped this listener for falling behind: start over.
      this.stop();
      this.start();
    });
    void this.reload();
  }

  private async reload(): Promise<void> {
    try {
      const [info, nodes, instances, groups, jobs] = await Promise.all([
        get<{ name: string }>("/2/info"),
        get<NodeRow[]>("/2/nodes?bulk=1"),
        get<InstanceRow[]>("/2/instances?bulk=1"),
        get<GroupRow[]>("/2/groups?bulk=1"),
        get<{ fields: { name: string }[]; data: [number, unknown][][] }>(`/2/query/job?fields=${JOB_FIELDS}`),
      ]);
      const names = jobs.fields.map((f) => f.name);
      const jobRows = jobs.data
        .map((row) => Object.fromEntries(row.map(([, value], i) => [names[i], value])) as unknown as JobRow)
        .sort((a, b) => a.id - b.id)
        .slice(-KEPT_JOBS);
      this.set({
        name: info.name,
        nodes: new Map(nodes.map((n) => [n.name, n])),
        instances: new Map(instances.map((i) => [i.name, i])),
        groups: new Map(groups.map((g) => [g.name, g])),
        jobs: new Map(jobRows.map((j) => [j.id, j])),
        error: null,
      });
    } catch (err) {
      this.set({ error: (err as Error).message });
    }
  }

  private onObject(kind: Kind, e: ObjectEvent): void {
    if (e.change === "removed") {
      const key = kind === "instance" ? "instances" : kind === "node" ? "nodes" : "groups";
      const next = new Map(this.view[key] as Map<string, unknown>);
      next.delete(e.name);
      this.set({ [key]: next });
      return;
    }
    this.reread(kind, e.name);
    if (kind === "instance") {
      const pnode = this.view.instances.get(e.name)?.pnode;
      if (pnode) this.reread("node", pnode);
    }
  }

  private onJob(e: JobEvent): void {
    const jobs = new Map(this.view.jobs);
    const { change: _change, log: _log, ...row } = e;
    jobs.set(e.id, { ...jobs.get(e.id), ...row });
    while (jobs.size > KEPT_JOBS) jobs.delete(jobs.keys().next().value as number);
    this.set({ jobs });
    for (const l of this.jobLogs.get(e.id) ?? []) l(e);
    if (e.change === "status" && FINALIZED.has(e.status)) this.rereadNamed(e.summary);
  }

  /** Re-reads the instances and nodes a finished job's summary names ("INSTANCE_STARTUP(web1)"). */
  private rereadNamed(summary: readonly string[]): void {
    for (const s of summary) {
      const m = /\(([^()]*)\)$/.exec(s);
      if (!m) continue;
      const instance = this.view.instances.get(m[1]);
      if (instance) {
        this.reread("instance", instance.name);
        for (const n of [instance.pnode, ...instance.snodes]) this.reread("node", n);
      }
      if (this.view.nodes.has(m[1])) this.reread("node", m[1]);
    }
  }

  private reread(kind: Kind, name: string): void {
    this.pending.set(`${kind}:${name}`, kind);
    this.timer ??= setTimeout(() => void this.flush(), COALESCE_MS);
  }

  private async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = new Map();
    this.timer = null;
    const results = await Promise.all(
      [...pending].map(async ([key, kind]) => {
        const name = key.slice(kind.length + 1);
        try {
          return { kind, name, row: await get<{ name: string }>(PATHS[kind] + enc(name)) };
        } catch {
          return { kind, name, row: null }; // gone meanwhile: its removal event follows
        }
      }),
    );
    const nodes = new Map(this.view.nodes);
    const instances = new Map(this.view.instances);
    const groups = new Map(this.view.groups);
    for (const { kind, name, row } of results) {
      const map = (kind === "instance" ? instances : kind === "node" ? nodes : groups) as Map<string, unknown>;
      if (row) map.set(name, row);
    }
    this.set({ nodes, instances, groups });
  }

  private set(change: Partial<ClusterView>): void {
    this.view = { ...this.view, ...change };
    for (const l of this.listeners) l();
  }
}

export const cluster = new LiveCluster();

/** The live cluster, re-rendering the component on every change. */
export function useCluster(): ClusterView {
  const [view, setView] = useState(cluster.view);
  useEffect(() => cluster.subscribe(() => setView(cluster.view)), []);
  return view;
}

/** A job with its whole log, read once and then followed through the event stream. */
export function useJob(id: number | null): { job: JobDetail | null; log: LogEntry[]; error: string | null } {
  const [state, setState] = useState<{ job: JobDetail | null; log: LogEntry[]; error: string | null }>({ job: null, log: [], error: null });
  useEffect(() => {
    if (id === null) return;
    setState({ job: null, log: [], error: null });
    let log: LogEntry[] = [];
    let job: JobDetail | null = null;
    const early: JobEvent[] = [];
    const apply = (e: JobEvent) => {
      if (!job) return void early.push(e);
      const last = log.length > 0 ? log[log.length - 1][0] : -1;
      if (e.log) log = [...log, ...e.log.filter((entry) => entry[0] > last)];
      job = { ...job, status: e.status, start_ts: e.start_ts, end_ts: e.end_ts };
      setState({ job, log, error: null });
      // The opcodes' results and statuses come with the job, not its events.
      if (e.change === "status" && FINALIZED.has(e.status)) {
        get<JobDetail>(`/2/jobs/${id}`).then((j) => {
          job = j;
          setState({ job, log, error: null });
        }, () => undefined);
      }
    };
    const unfollow = cluster.followJob(id, apply);
    get<JobDetail>(`/2/jobs/${id}`)
      .then((j) => {
        job = j;
        log = j.oplog.flat().sort((a, b) => a[0] - b[0]);
        setState({ job, log, error: null });
        for (const e of early.splice(0)) apply(e);
      })
      .catch((err: Error) => setState({ job: null, log: [], error: err.message }));
    return unfollow;
  }, [id]);
  return state;
}

// What the master knows about the cluster at run time, as its node agents last reported it.
// Query fields that Ganeti reads from node RPCs (memory, CPUs, storage, whether an instance
// runs) read it from here; an object missing from these maps is one nobody has heard from.

/** One storage unit a node reports (Ganeti's storage_info entry). Sizes in MiB. */
export interface StorageFacts {
  name: string;
  /** Storage type: "file", "lvm-vg", "lvm-pv", "rbd", ... */
  type: string;
  total: number;
  free: number;
}

/** A node's answer to the node-info call (Ganeti's hv_info and storage_info). */
export interface NodeFacts {
  memory_total: number;
  memory_free: number;
  /** Memory used by the node OS (dom0 for Xen). */
  memory_dom0: number;
  cpu_total: number;
  cpu_nodes: number;
  cpu_sockets: number;
  /** CPUs used by the node OS; when absent, the `cnos` field has no data. */
  cpu_dom0?: number;
  /** Changes on each reboot; when absent, the `bootid` field has no data. */
  bootid?: string;
  /**
   * Storage units in the order the master asked for them. `dtotal`/`dfree` read the first
   * unit that is not "lvm-pv"; `sptotal`/`spfree` read the "lvm-pv" unit (spindles).
   */
  storage: StorageFacts[];
  /** The real machine: load averages and uname facts (the PVC node view); absent from older agents. */
  host?: { loadavg: number[]; kernel?: string; os?: string; arch?: string };
}

export interface NodeLive {
  /**
   * The agent did not answer the last call (the node is down or unreachable). This is not
   * the configured `offline` flag: a node marked offline in the config is never asked.
   */
  offline?: boolean;
  /** Absent when the agent answered but its facts are not known (yet). */
  facts?: NodeFacts;
}

/** An instance the hypervisor of some node knows about. */
export interface InstanceLive {
  /** False when the hypervisor knows it but it is shut down (Ganeti's user-shutdown state). */
  running: boolean;
  /** Uuid of the node whose hypervisor reports it. */
  node: string;
  /** Memory in use, MiB. */
  memory: number;
  vcpus: number;
  /** Console connection data (Ganeti's InstanceConsole dict), if the agent reported it. */
  console?: Record<string, unknown>;
}

export interface LiveState {
  /** By node uuid. A node without an entry counts as not answering. */
  readonly nodes: ReadonlyMap<string, NodeLive>;
  /** By instance uuid: only instances some hypervisor reports. */
  readonly instances: ReadonlyMap<string, InstanceLive>;
}

/** The master's runtime view, refreshed by logical units after they change what runs where. */
export interface LiveView extends LiveState {
  refresh(nodeUuids?: Iterable<string>): Promise<void>;
}

/** Nothing known: every node counts as not answering (what Ganeti shows with live data off). */
export const NO_LIVE: LiveState = { nodes: new Map(), instances: new Map() };

/** Whether the master heard from the node's agent (config-offline nodes are never asked). */
export function nodeAnswered(live: LiveState, nodeUuid: string): boolean {
  const n = live.nodes.get(nodeUuid);
  return n !== undefined && n.offline !== true;
}

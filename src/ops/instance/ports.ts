// An instance's network_port (its VNC display is the port minus 5900), allocated when an
// instance of a hypervisor that needs one is created, as Ganeti's config does: a port the
// cluster got back from a removed instance first, else one above the highest ever used,
// starting at 11000; a removed instance's port goes back to the pool.

import { ECODE, OpExecError } from "../../model/errors.ts";
import type { ConfigTx } from "../../store/store.ts";

export const FIRST_PORT = 11000;
export const LAST_PORT = 14999;

export function allocatePort(tx: ConfigTx): number {
  const c = tx.current.cluster;
  const taken = new Set<number>();
  for (const inst of tx.current.instances.values()) if (inst.network_port !== null) taken.add(inst.network_port);
  const pool = (c.tcpudp_port_pool ?? []).filter((p) => !taken.has(p));
  let port = pool.shift();
  let highest = c.highest_used_port ?? FIRST_PORT - 1;
  if (port === undefined) {
    do port = ++highest;
    while (taken.has(port));
    if (port > LAST_PORT) throw new OpExecError(`No network port left: the highest used port is ${LAST_PORT}`, ECODE.noRes);
  }
  tx.updateCluster((cluster) => {
    cluster.tcpudp_port_pool = pool;
    cluster.highest_used_port = highest;
  });
  return port;
}

export function releasePort(tx: ConfigTx, port: number | null): void {
  if (port === null) return;
  tx.updateCluster((cluster) => {
    const pool = cluster.tcpudp_port_pool ?? [];
    if (!pool.includes(port)) cluster.tcpudp_port_pool = [...pool, port];
  });
}

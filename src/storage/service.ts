// Corral's storage layer as the master sees it: pools, volumes, snapshots and OSDs, served
// by the node agents (src/node/volumes). A cluster with the "rbd" disk template enabled is
// configured for Ceph, and the ceph/rbd commands run on the master node (PVC's primary
// coordinator does the same); any other cluster uses the local backend, whose pools live
// under the shared file storage dir, as seen from the master node. OSDs of the local backend
// are per node, so listing them asks every node.

import type { Node } from "../model/objects.ts";
import type { NodeRpcClient } from "../rpc/index.ts";
import type { OsdInfo, StorageBackendKind, StorageReply, StorageRequest } from "../model/pvc-node.ts";
import type { ConfigSnapshot } from "../store/store.ts";

export function storageBackend(snap: ConfigSnapshot): StorageBackendKind {
  return snap.cluster.enabled_disk_templates.includes("rbd") ? "ceph" : "local";
}

export type NodeClients = (node: Pick<Node, "uuid" | "name" | "agent_endpoint">) => NodeRpcClient;

/** The node that runs cluster-wide storage requests. */
export function storageNode(snap: ConfigSnapshot): Node {
  const node = snap.nodes.get(snap.cluster.master_node);
  if (!node) throw new Error("the cluster has no master node in its config");
  return node;
}

/** Runs one request on the storage node (or on `on`, for OSDs of a given node). */
export function storageRequest(snap: ConfigSnapshot, clients: NodeClients, request: StorageRequest, on?: Node): Promise<StorageReply> {
  return clients(on ?? storageNode(snap)).storage({ backend: storageBackend(snap), request });
}

/** Every OSD: the whole Ceph cluster's, or each online node's own (local backend). */
export async function listOsds(snap: ConfigSnapshot, clients: NodeClients): Promise<OsdInfo[]> {
  if (storageBackend(snap) === "ceph") return (await storageRequest(snap, clients, { op: "osd_list" })).osds ?? [];
  const nodes = [...snap.nodes.values()].filter((n) => !n.offline);
  const replies = await Promise.all(nodes.map((n) =>
    clients(n).storage({ backend: "local", request: { op: "osd_list" } }).then((r) => r.osds ?? [], () => [] as OsdInfo[]),
  ));
  return replies.flat().sort((a, b) => Number(a.id) - Number(b.id));
}

/** The node that holds an OSD (local backend) or the storage node (Ceph). */
export async function osdNode(snap: ConfigSnapshot, clients: NodeClients, id: string): Promise<Node | undefined> {
  const osd = (await listOsds(snap, clients)).find((o) => o.id === id);
  if (!osd) return undefined;
  if (storageBackend(snap) === "ceph") return storageNode(snap);
  return [...snap.nodes.values()].find((n) => n.name === osd.node);
}

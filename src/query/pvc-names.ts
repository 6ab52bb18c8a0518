// Finding VMs, nodes and networks the way PVC names them (a VM by name or UUID, a network by
// VNI or description), failing with PVC's messages. Read by the PVC handlers and logical units.

import { ECODE, OpPrereqError } from "../model/errors.ts";
import type { Instance, Network, Node } from "../model/objects.ts";
import type { ConfigSnapshot } from "../store/store.ts";
import { findObject } from "./resolve.ts";

/** A VM by name or UUID (PVC accepts both). */
export function findVm(snap: ConfigSnapshot, vm: string): Instance | undefined {
  return snap.instances.get(vm) ?? findObject(snap, "instance", vm);
}

export function resolveVm(snap: ConfigSnapshot, vm: string): Instance {
  const inst = findVm(snap, vm);
  if (!inst) throw new OpPrereqError(`Could not find VM '${vm}' in the cluster!`, ECODE.noEnt);
  return inst;
}

export function resolveNode(snap: ConfigSnapshot, name: string): Node {
  const node = findObject(snap, "node", name);
  if (!node) throw new OpPrereqError(`No node named '${name}' is present in the cluster.`, ECODE.noEnt);
  return node;
}

/** A PVC network by VNI or description (PVC accepts both); only networks PVC knows about. */
export function findPvcNetwork(snap: ConfigSnapshot, key: string): Network | undefined {
  for (const n of snap.networks.values()) if (n.pvc && (String(n.pvc.vni) === key || n.name === key)) return n;
  return undefined;
}

export function resolvePvcNetwork(snap: ConfigSnapshot, key: string): Network & { pvc: NonNullable<Network["pvc"]> } {
  const n = findPvcNetwork(snap, key);
  if (!n || !n.pvc) throw new OpPrereqError(`Network '${key}' does not exist!`, ECODE.noEnt);
  return n as Network & { pvc: NonNullable<Network["pvc"]> };
}

/** The network a NIC bridge `vmbr<vni>` belongs to, if PVC knows it. */
export function networkOfBridge(snap: ConfigSnapshot, bridge: string): Network | undefined {
  const m = /^vmbr(\d+)$/.exec(bridge);
  return m ? findPvcNetwork(snap, String(Number(m[1]))) : undefined;
}

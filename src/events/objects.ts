// Object events for the event stream, from the config store's commits: what each transaction
// created, changed or removed (the store says which uuids; snapshots are never diffed, so a
// commit costs the same with 100,000 instances as with ten).

import type { ObjectKind } from "../model/objects.ts";
import { snapshotMap, type ConfigCommit, type ConfigSnapshot } from "../store/store.ts";
import type { EventBus, EventKind } from "./bus.ts";

const EVENT_KIND: Record<ObjectKind, EventKind> = {
  instance: "instance",
  node: "node",
  nodegroup: "group",
  network: "network",
  filter: "filter",
};

/** A commit listener for ConfigStore.onCommit that publishes the commit's changes on `bus`. */
export function objectEvents(bus: Pick<EventBus, "publish">): (snap: ConfigSnapshot, commit: ConfigCommit) => void {
  return (snap, commit) => {
    if (commit.clusterChanged) {
      const c = snap.cluster;
      bus.publish("cluster", c.name, { kind: "cluster", name: c.name, uuid: c.uuid, serial_no: c.serial_no, change: "changed", config_serial: snap.serial });
    }
    for (const [kind, uuids] of commit.objects) {
      const now = snapshotMap(snap, kind);
      const before = snapshotMap(commit.previous, kind);
      for (const uuid of uuids.keys()) {
        const obj = now.get(uuid);
        const old = before.get(uuid);
        // Added and removed in one transaction: nobody saw it.
        if (!obj && !old) continue;
        const change = !obj ? "removed" : old ? "changed" : "created";
        const current = obj ?? old!;
        // Filter rules have neither a name nor a serial: their uuid names them.
        const name = "name" in current ? current.name : uuid;
        const serial = obj && "serial_no" in obj ? obj.serial_no : null;
        bus.publish(EVENT_KIND[kind], name, { kind: EVENT_KIND[kind], name, uuid, serial_no: serial, change, config_serial: snap.serial });
      }
    }
  };
}

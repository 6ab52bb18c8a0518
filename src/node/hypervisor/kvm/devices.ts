// Disks and NICs of a running kvm domain: a disk grown under it (block_resize), and
// hotplug (blockdev-add/device_add for disks; a tap, netdev_add and device_add for NICs), an
// unplug waiting for the guest to let the device go (DEVICE_DELETED). The layout in
// runtime.json follows every change.

import { ECODE } from "../../../model/errors.ts";
import type { AttachedDisk, DiskSpec, NicSpec } from "../../../rpc/calls.ts";
import type { QmpEvent, QmpEventMap } from "../qmp.ts";
import { blockdevOptions, diskDeviceOptions, diskIds, diskUsesPci, freePciSlot, netdevOptions, nicDeviceOptions, nicIds } from "./cmdline.ts";
import { hvError, type Domain } from "./domain.ts";
import { createTap, removeTap, tapName } from "./taps.ts";

const MiB = 1024 * 1024;

/** What device changes need of the driver. */
export interface DeviceHost {
  /** Writes the domain's runtime.json. */
  save(d: Domain): Promise<void>;
  /** Runs `fn`; a refused configuration becomes a wrong-input error. */
  config<T>(fn: () => T): T;
  /** How long a guest may take to release an unplugged device, ms. */
  unplugTimeoutMs(): number;
}

/** block_resize of a plugged disk to `sizeMiB` (never smaller than QEMU sees it). */
export async function resizeDisk(d: Domain, index: number, disk: AttachedDisk, sizeMiB: number): Promise<void> {
  const name = d.name;
  const slot = d.runtime.layout.disks.find((s) => disk.path !== null && s.path === disk.path) ?? d.runtime.layout.disks[index];
  if (!slot) throw hvError(`Instance ${name} has no disk ${index} plugged in`, ECODE.inval);
  const nodes = await d.qmp.execute<{ "node-name": string; image: { "virtual-size": number } }[]>("query-named-block-nodes", { flat: true });
  const current = nodes.find((n) => n["node-name"] === slot.node)?.image["virtual-size"];
  const size = sizeMiB * MiB;
  if (current !== undefined && size < current) {
    throw hvError(`Refusing to shrink disk ${index} of instance ${name} from ${current / MiB} MiB to ${sizeMiB} MiB`, ECODE.inval);
  }
  if (size !== current) await d.qmp.execute("block_resize", { "node-name": slot.node, size });
}

/** Plugs a paravirtual disk in (blockdev-add, device_add) or out (device_del, blockdev-del). */
export async function hotplugDisk(host: DeviceHost, d: Domain, action: "add" | "remove", index: number, spec: DiskSpec, disk: AttachedDisk | null): Promise<void> {
  const name = d.name;
  const hv = d.runtime.instance.hvparams;
  const layout = d.runtime.layout;
  if (action === "remove") {
    const at = layout.disks.findIndex((s) => s.uuid === spec.uuid);
    if (at < 0) throw hvError(`Disk ${spec.uuid} is not plugged into instance ${name}`, ECODE.inval);
    await unplug(host, d, layout.disks[at].device);
    await d.qmp.execute("blockdev-del", { "node-name": layout.disks[at].node });
    layout.disks.splice(at, 1);
    return host.save(d);
  }
  if (!diskUsesPci(hv)) throw hvError(`Disk hotplug needs disk_type paravirtual (instance ${name} has ${String(hv.disk_type)})`, ECODE.inval);
  if (!disk?.path) throw hvError(`Disk ${spec.uuid} has no local path to plug into instance ${name}`, ECODE.inval);
  if (layout.disks.some((s) => s.uuid === spec.uuid)) throw hvError(`Disk ${spec.uuid} is already plugged into instance ${name}`, ECODE.state);
  const slot = freeSlot(host, d);
  const ids = diskIds(spec.uuid);
  await d.qmp.execute("blockdev-add", blockdevOptions(hv, spec, disk.path));
  try {
    await d.qmp.execute("device_add", diskDeviceOptions(hv, spec, slot, index));
  } catch (err) {
    await d.qmp.execute("blockdev-del", { "node-name": ids.node }).catch(() => undefined);
    throw err;
  }
  layout.disks.splice(Math.min(index, layout.disks.length), 0, { uuid: spec.uuid, path: disk.path, ...ids, slot });
  await host.save(d);
}

/** Plugs a NIC in (tap, netdev_add, device_add) or out (device_del, netdev_del, tap removed). */
export async function hotplugNic(host: DeviceHost, d: Domain, action: "add" | "remove", index: number, nic: NicSpec): Promise<void> {
  const name = d.name;
  const layout = d.runtime.layout;
  const netns = d.runtime.netns ?? undefined;
  if (action === "remove") {
    const at = layout.nics.findIndex((s) => s.mac === nic.mac);
    if (at < 0) throw hvError(`NIC ${nic.mac} is not plugged into instance ${name}`, ECODE.inval);
    await unplug(host, d, layout.nics[at].device);
    await d.qmp.execute("netdev_del", { id: layout.nics[at].netdev });
    await removeTap(layout.nics[at].tap, netns);
    layout.nics.splice(at, 1);
    return host.save(d);
  }
  if (layout.nics.some((s) => s.mac === nic.mac)) throw hvError(`NIC ${nic.mac} is already plugged into instance ${name}`, ECODE.state);
  const hv = d.runtime.instance.hvparams;
  const slot = freeSlot(host, d);
  const tap = tapName(name, d.runtime.nextTap++);
  const ids = nicIds(nic);
  await host.config(() => createTap(tap, nic, netns));
  try {
    await d.qmp.execute("netdev_add", netdevOptions(nic, tap));
    try {
      await d.qmp.execute("device_add", host.config(() => nicDeviceOptions(hv, nic, slot)));
    } catch (err) {
      await d.qmp.execute("netdev_del", { id: ids.netdev }).catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await removeTap(tap, netns).catch(() => undefined);
    throw err;
  }
  layout.nics.splice(Math.min(index, layout.nics.length), 0, { uuid: nic.uuid, mac: nic.mac, tap, ...ids, slot });
  await host.save(d);
}

function freeSlot(host: DeviceHost, d: Domain): number {
  const { disks, nics } = d.runtime.layout;
  return host.config(() => freePciSlot([...disks.map((s) => s.slot), ...nics.map((s) => s.slot)]));
}

/** device_del and the wait for the guest to let the device go (DEVICE_DELETED). */
async function unplug(host: DeviceHost, d: Domain, device: string): Promise<void> {
  let onDeleted: ((e: QmpEvent<QmpEventMap["DEVICE_DELETED"]>) => void) | undefined;
  const deleted = new Promise<void>((resolve) => {
    onDeleted = (e) => e.data.device === device && resolve();
    d.qmp.on("DEVICE_DELETED", onDeleted);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await d.qmp.execute("device_del", { id: device });
    await Promise.race([
      deleted,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(hvError(`The guest of instance ${d.name} did not release device ${device} within ${host.unplugTimeoutMs()} ms`)), host.unplugTimeoutMs());
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onDeleted) d.qmp.off("DEVICE_DELETED", onDeleted);
  }
}

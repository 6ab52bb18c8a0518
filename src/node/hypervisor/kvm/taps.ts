// Tap devices of kvm NICs: created before QEMU opens them (ifname=, script=no), put on the
// bridge named by the NIC's link (bridged) or given a host route to the NIC's ip (routed), and
// removed when the VM stops. With a network namespace every `ip` command runs inside it.

import { createHash } from "node:crypto";
import type { NicSpec } from "../../../rpc/calls.ts";
import { failReason, runScript, SCRIPT_PATH } from "../../util/exec.ts";
import { KvmConfigError, nicMode } from "./cmdline.ts";

const IP_TIMEOUT_MS = 10_000;

/** Linux interface names are at most 15 characters. */
const IFNAMSIZ = 15;

/**
 * A tap name for NIC number `n` of an instance: a readable prefix of the instance name, a hash
 * of the whole name (two instances with the same prefix differ) and the number.
 */
export function tapName(instance: string, n: number): string {
  const prefix = instance.replace(/[^a-zA-Z0-9]/g, "").slice(0, 5);
  const hash = createHash("sha256").update(instance).digest("hex").slice(0, 4);
  const name = `${prefix}${hash}-${n}`;
  if (name.length > IFNAMSIZ) throw new KvmConfigError(`Too many NICs for instance ${instance}: tap ${name} is longer than ${IFNAMSIZ} characters`);
  return name;
}

async function ip(netns: string | undefined, args: string[]): Promise<void> {
  let said: string;
  try {
    const r = await runScript({
      path: "ip", args: [...(netns ? ["-n", netns] : []), ...args], env: { PATH: SCRIPT_PATH, LC_ALL: "C" }, cwd: "/", timeoutMs: IP_TIMEOUT_MS,
    });
    if (r.code === 0 && !r.timedOut) return;
    said = r.output.trim() || failReason(r, IP_TIMEOUT_MS);
  } catch (err) {
    said = (err as Error).message;
  }
  throw new Error(`ip ${args.join(" ")} failed: ${said}`);
}

/** Creates the tap of `nic` and connects it as its mode says; removes it again when that fails. */
export async function createTap(name: string, nic: NicSpec, netns: string | undefined): Promise<void> {
  const mode = nicMode(nic);
  const link = typeof nic.nicparams.link === "string" ? nic.nicparams.link : "";
  if (mode === "bridged" && !link) throw new KvmConfigError(`NIC ${nic.mac} is bridged but has no link (bridge name)`);
  if (mode === "routed" && !nic.ip) throw new KvmConfigError(`NIC ${nic.mac} is routed but has no ip`);
  await ip(netns, ["tuntap", "add", "dev", name, "mode", "tap"]);
  try {
    if (mode === "bridged") {
      await ip(netns, ["link", "set", "dev", name, "master", link, "up"]);
    } else {
      await ip(netns, ["link", "set", "dev", name, "up"]);
      await ip(netns, ["route", "replace", nic.ip!.includes(":") ? `${nic.ip}/128` : `${nic.ip}/32`, "dev", name]);
    }
  } catch (err) {
    await removeTap(name, netns);
    throw err;
  }
}

/** Removes a tap (its routes go with it); a tap that is already gone is fine. */
export async function removeTap(name: string, netns: string | undefined): Promise<void> {
  try {
    await ip(netns, ["link", "del", "dev", name]);
  } catch (err) {
    if (!/Cannot find device|does not exist/.test((err as Error).message)) throw err;
  }
}

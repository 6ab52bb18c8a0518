// Helpers for the agent's tests: temporary directories that clean themselves up, and
// instance/disk descriptions with sensible defaults.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DiskSpec, InstanceSpec } from "../rpc/calls.ts";

/** A fresh directory removed after the test (or suite) that asked for it. */
export async function tempDir(t: { after(fn: () => Promise<void> | void): void }, prefix = "corral-node-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let counter = 0;

export function diskSpec(over: Partial<DiskSpec> = {}): DiskSpec {
  counter += 1;
  return {
    uuid: `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`,
    name: null,
    size: 16,
    mode: "rw",
    dev_type: "file",
    logical_id: [],
    params: {},
    ...over,
  };
}

export function instanceSpec(over: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    name: "inst1.example.com",
    uuid: "11111111-2222-4333-8444-555555555555",
    os: "corral-marker+default",
    hypervisor: "fake",
    primary_node: "node1-uuid",
    secondary_nodes: [],
    hvparams: { migration_mode: "live" },
    beparams: { maxmem: 1024, minmem: 1024, vcpus: 2, auto_balance: true },
    osparams: {},
    osparams_private: {},
    disks: [],
    nics: [{ uuid: "nic-0", name: null, mac: "aa:00:00:12:34:56", ip: null, network: null, nicparams: { mode: "bridged", link: "br0" } }],
    network_port: null,
    ctime: 1700000000,
    mtime: 1700000001,
    ...over,
  };
}

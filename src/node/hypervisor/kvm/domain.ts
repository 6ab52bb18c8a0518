// A kvm domain as the driver keeps it: the QEMU process, its monitor connection and the
// runtime.json that says how it was started and which devices it has now.

import type { Ecode } from "../../../model/errors.ts";
import type { DiskExports, InstanceSpec } from "../../../rpc/calls.ts";
import { AGENT_ERRORS, AgentError } from "../../../rpc/errors.ts";
import type { QmpClient } from "../qmp.ts";
import type { KvmLayout } from "./cmdline.ts";
import type { InstanceFiles } from "./process.ts";

/** What runtime.json holds: how the running QEMU was started, and its devices now. */
export interface Runtime {
  version: 1;
  instance: InstanceSpec;
  binary: string;
  args: string[];
  memory: number;
  vcpus: number;
  layout: KvmLayout;
  netns: string | null;
  incoming: boolean;
  /** Number for the next tap (names stay unique across hotplug). */
  nextTap: number;
  /** A migration leaving this node, so that a restarted agent goes on watching it (and its disk mirrors). */
  outgoing?: { bandwidth: number; downtimeMs: number; caps: string[]; storage?: DiskExports & { host: string }; tls?: boolean };
  /** A migration target serving its disks over NBD (stopped once the migration ends). */
  exportsDisks?: boolean;
  /** A migration target taking a TLS stream (its credentials object is dropped afterwards). */
  tlsIncoming?: boolean;
}

export type DomainState = "running" | "paused" | "shutdown" | "incoming";

export interface Domain {
  name: string;
  files: InstanceFiles;
  pid: number;
  runtime: Runtime;
  qmp: QmpClient;
  state: DomainState;
  /** stop() was called: the exit is the one we asked for. */
  stopRequested: boolean;
  /** Exit without an event (a migration handed the instance over, or an incoming one failed). */
  silent: boolean;
  shutdown: { guest: boolean; reason: string; at: number } | null;
  exited: boolean;
  reconnecting: boolean;
}

export interface MigrationInfo {
  memory: number;
  vcpus: number;
  slots: Record<string, number>;
}

/** A failure of the kvm hypervisor, as the agent reports it. */
export function hvError(message: string, ecode?: Ecode): AgentError {
  return new AgentError(AGENT_ERRORS.hypervisor, message, ecode);
}

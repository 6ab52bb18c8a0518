// A logical unit's context without a master, for unit tests of checkPrereq (as Ganeti's
// test/py/cmdlib runs LUs against a config mock): the opcode built and validated from `input`,
// a fixed config snapshot and live state, the job log captured, and no node reachable (a
// prerequisite check never calls a node).

import { buildOpcode, type OpcodeDef } from "../model/opcode.ts";
import type { ParamSpec } from "../model/params.ts";
import type { LiveState, LiveView } from "../query/live.ts";
import type { ConfigSnapshot, ConfigStore } from "../store/store.ts";
import type { LuContext } from "./lu.ts";

export interface PrereqContext<S extends ParamSpec> extends LuContext<S> {
  /** The job log lines checkPrereq wrote. */
  readonly log: string[];
}

export function prereqContext<S extends ParamSpec>(def: OpcodeDef<S>, input: Record<string, unknown>, snap: ConfigSnapshot, live: LiveState): PrereqContext<S> {
  const log: string[] = [];
  const unreachable = (what: string) => () => {
    throw new Error(`checkPrereq used ${what}`);
  };
  const view: LiveView = { ...live, refresh: unreachable("the live state's refresh") };
  return {
    op: buildOpcode(def, input),
    jobId: 1,
    master: {
      store: { snapshot: () => snap } as unknown as ConfigStore, // trust boundary of a test double: only snapshot() is there
      submitJobs: unreachable("job submission"),
      node: unreachable("a node"),
      live: view,
    },
    snapshot: () => snap,
    feedback: (message) => void log.push(message),
    signal: new AbortController().signal,
    log,
  };
}

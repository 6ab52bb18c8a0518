// The real Ganeti to compare against: the reference tool in shared/tools/ganeti-reference
// brings up a single-node Ganeti 3.0 with RAPI on https://127.0.0.1:5080. The bench uses it
// when it answers; with --with-ganeti it starts it (and stops it again afterwards).
// Never send powercycle to it: its fake hypervisor reboots the host.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { referenceToolDir, runReferenceScript } from "../../test/support/ganeti-reference.ts";
import { Client, reachable, type Target } from "./http.ts";

export const GANETI_BASE = "https://127.0.0.1:5080";
/** The reference cluster's write user (see the tool's README). */
export const GANETI_WRITER = "writer:writerpass";

export interface GanetiHandle {
  target: Target;
  startedByBench: boolean;
  version: string;
  instances: number;
}

/**
 * The reachable Ganeti, started with up.sh when `start` and it is not answering, grown to
 * at least `instances` fake instances (grow_instances.py) when it has fewer.
 */
export async function connectGaneti(o: { base: string; start: boolean; instances: number; log: (s: string) => void }): Promise<GanetiHandle | undefined> {
  const target: Target = { base: o.base, auth: GANETI_WRITER };
  let started = false;
  if (!(await reachable(target))) {
    if (!o.start) return undefined;
    const tool = referenceToolDir();
    if (!existsSync(join(tool, "up.sh"))) throw new Error(`--with-ganeti: the reference tool is not at ${tool} (set GANETI_REFERENCE_DIR)`);
    o.log(`starting real Ganeti with ${tool}/up.sh (the first time installs packages: a minute or two)`);
    await runReferenceScript(join(tool, "up.sh"), [], {}, 15 * 60_000);
    started = true;
    if (!(await reachable(target, 10_000))) throw new Error(`Ganeti RAPI at ${o.base} does not answer after up.sh`);
  }
  const c = new Client(target, 1);
  try {
    const info = (await c.json("GET", "/2/info")) as { software_version?: string };
    let count = ((await c.json("GET", "/2/instances")) as unknown[]).length;
    if (count < o.instances && o.base === GANETI_BASE) {
      const tool = referenceToolDir();
      o.log(`growing Ganeti from ${count} to ${o.instances} fake instances (grow_instances.py)`);
      await new Promise<void>((resolve, reject) =>
        execFile("python3", [join(tool, "grow_instances.py"), String(o.instances), "/dev/null"], { cwd: tool, timeout: 30 * 60_000 }, (err, _out, stderr) =>
          err ? reject(new Error(`grow_instances.py failed: ${err.message} ${stderr}`)) : resolve(),
        ),
      );
      count = ((await c.json("GET", "/2/instances")) as unknown[]).length;
    }
    return { target, startedByBench: started, version: info.software_version ?? "unknown", instances: count };
  } finally {
    c.close();
  }
}

/** Stops the reference daemons with its down.sh (by pid), if the bench started them. */
export async function stopGaneti(h: GanetiHandle, log: (s: string) => void): Promise<void> {
  if (!h.startedByBench) return;
  log("stopping real Ganeti (down.sh)");
  await runReferenceScript(join(referenceToolDir(), "down.sh"), [], {}, 5 * 60_000);
}

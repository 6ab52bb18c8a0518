// The small cluster's instances created through the API (POST /2/instances), with the bodies
// the Ganeti reference's grow script sends, except the OS: Corral ships `corral-marker+default`
// (nothing to do for a diskless instance) where the reference has Debian's `noop`, which is not
// on Corral's OS search path.

import { Client, type Target } from "./http.ts";
import { waitJob } from "./jobs.ts";
import { instanceName } from "./seed.ts";

/** Creates `count` diskless fake instances on `pnode`; fails unless every creation job succeeds. */
export async function createInstancesViaApi(t: Target, count: number, pnode: string): Promise<void> {
  const c = new Client(t, 8);
  const deadline = Date.now() + 30 * 60_000;
  try {
    const ids: number[] = [];
    for (let k = 0; k < count; k++) {
      ids.push(
        Number(
          await c.json("POST", "/2/instances", {
            __version__: 1, mode: "create", name: instanceName(k), disk_template: "diskless", disks: [],
            nics: [{ ip: `127.101.${Math.floor(k / 200)}.${10 + (k % 200)}` }], os: "corral-marker+default", pnode,
            name_check: false, ip_check: false, hypervisor: "fake", beparams: { maxmem: 128, minmem: 128, vcpus: 1 }, start: false,
          }),
        ),
      );
    }
    const statuses = await Promise.all(ids.map((id) => waitJob(c, id, deadline)));
    const failed = ids.filter((_, i) => statuses[i] !== "success");
    if (failed.length > 0) {
      const job = (await c.json("GET", `/2/jobs/${failed[0]}`)) as { opresult?: unknown };
      throw new Error(`${failed.length} of ${count} instance creation jobs did not succeed; job ${failed[0]}: ${JSON.stringify(job.opresult)}`);
    }
  } finally {
    c.close();
  }
}

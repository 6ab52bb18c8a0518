// GET /2/info: the cluster dict, encoded once per config serial and store alarm (it only changes
// with those), plus the vg_name/drbd_helper aliases RAPI adds.
//
// While etcd has an alarm raised (NOSPACE: every write refused), the dict carries one key more,
// `corral_store_problem`: {alarms, message} with the remedy. Only while the alarm lasts, so the
// answer is Ganeti's exact 57 keys otherwise. Ganeti's clients read /2/info by key: the Python
// client's GetInfo returns the dict as it is, htools and Ganeti's own RAPI client pick named keys,
// so a key they do not know is ignored, whereas changing a Ganeti key (or leaving one out) would
// break them. The ETag changes with the alarm too: a client holding the usual one gets the
// problem, not a 304.

import { RawJson, route, type Route, type VersionStamp } from "../http/routes.ts";
import { encodeJson } from "../http/json.ts";
import type { RapiServices } from "./services.ts";
import { clusterStamp } from "./stamps.ts";

export function clusterInfoRoute(s: RapiServices): Route {
  let cachedSerial = -1;
  let cachedProblem: string | undefined;
  let cached = new RawJson("null\n");
  const problem = () => s.storeProblem?.();
  const cluster = clusterStamp(s);
  const stamps = new WeakMap<VersionStamp, { alarms: string; stamp: VersionStamp }>();
  return route("/2/info", {
    GET: {
      stamp: (params) => {
        const stamp = cluster(params);
        const alarms = problem()?.alarms.join("+");
        if (!stamp || alarms === undefined) return stamp;
        let held = stamps.get(stamp);
        if (held?.alarms !== alarms) stamps.set(stamp, (held = { alarms, stamp: { ...stamp, etag: `${stamp.etag.slice(0, -1)}-${alarms}"` } }));
        return held.stamp;
      },
      doc: { response: { kind: "schema", schema: { type: "object", required: ["name", "master", "software_version", "hvparams"] } } },
      handle: () => {
        const snap = s.store.snapshot();
        const now = problem();
        const problemKey = now && JSON.stringify(now);
        if (snap.serial !== cachedSerial || problemKey !== cachedProblem) {
          const info = s.clusterInfo(snap);
          const extra = now ? { corral_store_problem: now } : {};
          cached = new RawJson(encodeJson({ ...info, vg_name: info.volume_group_name, drbd_helper: info.drbd_usermode_helper, ...extra }));
          cachedSerial = snap.serial;
          cachedProblem = problemKey;
        }
        return cached;
      },
    },
  });
}

// GET /2/info: the cluster dict, encoded once per config serial (it only changes with the
// config), plus the vg_name/drbd_helper aliases RAPI adds.

import { RawJson, route, type Route } from "../http/routes.ts";
import { encodeJson } from "../http/json.ts";
import type { RapiServices } from "./services.ts";
import { clusterStamp } from "./stamps.ts";

export function clusterInfoRoute(s: RapiServices): Route {
  let cachedSerial = -1;
  let cached = new RawJson("null\n");
  return route("/2/info", {
    GET: {
      stamp: clusterStamp(s),
      doc: { response: { kind: "schema", schema: { type: "object", required: ["name", "master", "software_version", "hvparams"] } } },
      handle: () => {
        const snap = s.store.snapshot();
        if (snap.serial !== cachedSerial) {
          const info = s.clusterInfo(snap);
          cached = new RawJson(encodeJson({ ...info, vg_name: info.volume_group_name, drbd_helper: info.drbd_usermode_helper }));
          cachedSerial = snap.serial;
        }
        return cached;
      },
    },
  });
}

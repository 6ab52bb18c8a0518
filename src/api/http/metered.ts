// A mount whose requests count in the HTTP metrics under one fixed route label: the web
// console's files and the PVC API on the RAPI listener (RAPI itself labels each request with
// its matched pattern, in server.ts). One label per mount keeps the series bounded.

import type { MountedApi } from "./core.ts";
import type { RequestMetrics } from "./server.ts";

export function meteredMount(mount: MountedApi, route: string, metrics: RequestMetrics | undefined): MountedApi {
  if (!metrics) return mount;
  return {
    owns: (path) => mount.owns(path),
    serve: async (req, res, t) => {
      const started = performance.now();
      try {
        await mount.serve(req, res, t);
      } finally {
        metrics.request(route, req.method ?? "", res.statusCode, (performance.now() - started) / 1000);
      }
    },
    refuse: (req, res, err, t) => mount.refuse(req, res, err, t),
  };
}

// GET /metrics: Prometheus' exposition of the master's metrics (src/metrics/). Unlike RAPI's
// other GETs it is never public: a user with read or write access, or the dedicated metrics
// token (`corral master --metrics-token-file`), which Prometheus sends as a bearer token.

import { createHash, timingSafeEqual } from "node:crypto";
import { route, TextBody, type Route } from "../http/routes.ts";

export interface MetricsSource {
  exposition(): Promise<{ contentType: string; text: string }>;
}

export function metricsRoutes(metrics: MetricsSource, token: string | undefined): Route[] {
  return [
    route("/metrics", {
      GET: {
        access: ["read", "write"],
        produces: "text/plain",
        ...(token === undefined ? {} : { bearer: tokenChecker(token) }),
        handle: async () => {
          const { contentType, text } = await metrics.exposition();
          return new TextBody(contentType, text);
        },
      },
    }),
  ];
}

/** Compares in constant time: digests of equal length, whatever the token's length. */
function tokenChecker(token: string): (candidate: string) => boolean {
  const expected = createHash("sha256").update(token).digest();
  return (candidate) => timingSafeEqual(createHash("sha256").update(candidate).digest(), expected);
}

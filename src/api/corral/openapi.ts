// GET /corral/1/openapi.json: the OpenAPI document of every API the master serves, generated
// once at startup from the final route tables (this route included), public like other GETs.

import { encodeJson } from "../http/json.ts";
import { RawJson, route, type Route } from "../http/routes.ts";
import { openApiDocument } from "../openapi/document.ts";
import type { PvcRoute } from "../pvc/server.ts";

export const OPENAPI_PATH = "/corral/1/openapi.json";

/** The RAPI listener's routes with the document's route added; the document describes them all. */
export function withOpenApiRoute(rapi: readonly Route[], pvc: readonly PvcRoute[], version: string): Route[] {
  let document = new RawJson("null");
  const routes = [
    ...rapi,
    route(OPENAPI_PATH, {
      GET: { doc: { summary: "This document", response: { kind: "schema", schema: { type: "object", required: ["openapi", "paths"] } } }, handle: () => document },
    }),
  ];
  document = new RawJson(encodeJson(openApiDocument({ rapi: routes, pvc, version })));
  return routes;
}

// GET /corral/1/store: where the config and job queue live and this master's part in it —
// backend, role (leader or standby), who leads (name, URL), the store's revision, this
// master's epoch, and any store trouble with its remedy (etcd's NOSPACE alarm).

import type { StoreBackend, StoreStatus } from "../../store/backend.ts";
import { route, type Route } from "../http/routes.ts";
import { WHOLE_CLUSTER } from "../http/scope.ts";

export interface StoreView {
  backend: StoreBackend["kind"];
  /** taking-over: leading, but still loading the config and the job queue (writes refused until then). */
  role: "leader" | "taking-over" | "standby";
  /** This master's fence while it leads. */
  epoch: number | null;
  leader: { name: string; url: string } | null;
  endpoints?: readonly string[];
  revision?: number;
  alarms: string[];
  problem?: string;
}

/** What the route shows; `self` is this master as its leader key says (or would say); `status` asks etcd. */
export async function storeView(backend: StoreBackend, self: () => { name: string; url: string }, status?: () => Promise<StoreStatus>): Promise<StoreView> {
  const epoch = backend.leadership.epoch ?? null;
  const role = epoch === null ? "standby" : backend.leadership.ready ? "leader" : "taking-over";
  if (!backend.replica) return { backend: backend.kind, role, epoch, leader: epoch !== null ? self() : null, alarms: [] };
  const store = await (status ?? backend.replica.status)();
  const leader = backend.replica.leader();
  return { backend: backend.kind, role, epoch, leader: leader ? { name: leader.name, url: leader.url } : null, ...store };
}

export function corralStoreRoutes(view: () => Promise<StoreView>): Route[] {
  return [
    route("/corral/1/store", {
      GET: {
        access: ["read", "write"],
        scope: WHOLE_CLUSTER,
        doc: {
          summary: "The config store: backend, this master's role, the leader, the store's revision and alarms",
          response: {
            kind: "schema",
            schema: {
              type: "object",
              description: "backend (sqlite, etcd), role (leader; taking-over: leading but still loading, writes refused; standby), epoch (null while standing by), leader: null or {name, url}, endpoints, revision, alarms[] (NOSPACE, CORRUPT), problem: what is wrong and its remedy",
            },
          },
        },
        handle: () => view(),
      },
    }),
  ];
}

// The term a master sends its node agents with every call (issue 17): the identity of the
// store whose leadership it holds, and its leadership epoch there. Agents refuse orders of an
// older term (node/agent/terms.ts); while not leading, a master sends no order at all.

import { randomUUID } from "node:crypto";
import type { TermSource } from "../rpc/client.ts";
import type { StoreBackend } from "../store/backend.ts";
import type { Leadership } from "../store/leadership.ts";

/** The record naming the store (SQLite or etcd): random, made by its first leader. */
export const STORE_ID_KEY = "store_id";

/** The current term: undefined while not leading (or before the store has an id). An order waits until the leader may act. */
export function leaderTerm(leadership: Leadership, storeId: () => string | undefined): TermSource {
  const termOf = (epoch: number | undefined) => {
    const store = storeId();
    return epoch === undefined || store === undefined ? undefined : { store, epoch };
  };
  return (forOrder) => (forOrder ? leadership.whenActing().then(termOf) : termOf(leadership.epoch));
}

/**
 * The term of the master on `backend`. The store id is a record of the store's own (so every
 * master on it shares it, and a copy of the cluster in a new store gets a new one); it is
 * written under the first leader's fence, by an establish hook registered before any that may
 * start jobs.
 */
export function backendTerm(backend: Pick<StoreBackend, "kind" | "meta" | "leadership">): TermSource {
  const record = backend.meta<string>(STORE_ID_KEY);
  backend.leadership.onEstablish(async () => {
    if (record.get() === undefined) await record.put(`${backend.kind}:${randomUUID()}`);
  });
  return leaderTerm(backend.leadership, () => record.get());
}

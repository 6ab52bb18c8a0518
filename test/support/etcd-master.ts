// A stand-in master for the etcd failover tests, run as a process of its own so that a test can
// kill -9 or SIGSTOP it: it opens the etcd stores of cluster argv[3] as master argv[4], leads
// when it can, and then every 50 ms adds a cluster tag and sends a node agent an order through
// the master's RPC client and its term (master/term.ts). The order's transport is the node's
// door: an order that reaches it is printed, not run. It prints a JSON line for each event:
// campaigning, leading, acked (a tag's transaction committed), refused (and by what), ordered
// (an order reached the node, with the term it carried), order-refused, revoked. An order's and a
// write's events carry `startedAt`, when that attempt began: one begun before a SIGSTOP may
// have been cleared (or committed) before it, and goes on after SIGCONT.

import { leaderTerm } from "../../src/master/term.ts";
import { buildClient } from "../../src/rpc/client.ts";
import { NotLeaderError } from "../../src/store/leadership.ts";
import { openEtcdStores } from "../../src/store/etcd/backend.ts";

const [endpoints, cluster, name] = process.argv.slice(2);
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...event, at: Date.now() })}\n`);

const stores = await openEtcdStores({ endpoints: endpoints.split(","), cluster, name, ttlSeconds: 5 });
stores.leadership.onRevoke((reason) => say({ event: "revoked", reason }));
/** When the attempt in flight began (one at a time: `busy`). */
let startedAt = 0;
const node = buildClient(
  "n1",
  async (call, _body, _args, term) => {
    say({ event: "ordered", call, term, startedAt });
    return JSON.stringify({ ok: true, result: null });
  },
  () => undefined,
  leaderTerm(stores.leadership, () => `etcd:${cluster}`),
);
say({ event: "campaigning" });
say({ event: "leading", epoch: await stores.leadership.establish() });

let n = 0;
let busy = false;
setInterval(() => {
  if (busy) return;
  busy = true;
  const begun = (startedAt = Date.now());
  const tag = `${name}-${++n}`;
  const order = node.nodePowercycle({ hypervisor: "fake" }).then(
    () => undefined,
    (err: unknown) => say({ event: "order-refused", error: String(err), startedAt: begun }),
  );
  const write = stores.config.transact((tx) => tx.updateCluster((c) => void (c.tags = [...c.tags, tag]))).then(
    () => say({ event: "acked", tag, startedAt: begun }),
    (err: unknown) => say({ event: "refused", tag, notLeader: err instanceof NotLeaderError, error: String(err), startedAt: begun }),
  );
  void Promise.all([order, write]).finally(() => (busy = false));
}, 50);

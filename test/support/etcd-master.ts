// A stand-in master for the etcd failover tests, run as a process of its own so that a test can
// kill -9 or SIGSTOP it: it opens the etcd stores of cluster argv[3] as master argv[4], leads
// when it can, and then adds a cluster tag every 50 ms. It prints a JSON line for each event:
// leading, acked (a tag's transaction committed), refused (and by what), revoked.

import { NotLeaderError } from "../../src/store/leadership.ts";
import { openEtcdStores } from "../../src/store/etcd/backend.ts";

const [endpoints, cluster, name] = process.argv.slice(2);
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...event, at: Date.now() })}\n`);

const stores = await openEtcdStores({ endpoints: endpoints.split(","), cluster, name, ttlSeconds: 5 });
stores.leadership.onRevoke((reason) => say({ event: "revoked", reason }));
say({ event: "leading", epoch: await stores.leadership.establish() });

let n = 0;
let busy = false;
setInterval(() => {
  if (busy) return;
  busy = true;
  const tag = `${name}-${++n}`;
  stores.config
    .transact((tx) => tx.updateCluster((c) => void (c.tags = [...c.tags, tag])))
    .then(
      () => say({ event: "acked", tag }),
      (err: unknown) => say({ event: "refused", tag, notLeader: err instanceof NotLeaderError, error: String(err) }),
    )
    .finally(() => (busy = false));
}, 50);

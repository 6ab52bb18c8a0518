// What every master of an etcd cluster must hold alike, under <prefix>shared/<name>: the
// cluster certificate (node agents' mutual TLS), the RAPI certificate, the users file (HA1
// hashes) and pvc-api.yaml. Each is written once, create-if-absent in one txn, by the first
// master that finds it missing; the users file is replaced by an operator (`corral store users
// put`). Private keys stored here are secrets: etcd must be run with TLS client authentication
// and access restricted to the masters (README, "High availability (etcd)").

import type { Watcher } from "etcd3";
import { cancelWatch, type EtcdClient } from "./client.ts";

/** The shared values' names: the key's last part. */
export const SHARED = {
  /** JSON {cert, key}: one value, so that two initializers cannot mix halves. */
  clusterCert: "cluster-cert",
  /** Key and certificate in one PEM text, like rapi.pem. */
  rapiCert: "rapi.pem",
  users: "users",
  pvcConfig: "pvc-api.yaml",
} as const;
export type SharedName = (typeof SHARED)[keyof typeof SHARED];

export class SharedFiles {
  readonly prefix: string;
  private readonly client: EtcdClient;
  private readonly watchers: Watcher[] = [];

  /** `root`: the cluster's key prefix (/corral/<cluster>/). */
  constructor(client: EtcdClient, root: string) {
    this.client = client;
    this.prefix = `${root}shared/`;
  }

  key(name: SharedName): string {
    return this.prefix + name;
  }

  async get(name: SharedName): Promise<string | undefined> {
    return (await this.client.etcd.get(this.key(name)).string()) ?? undefined;
  }

  /**
   * The stored value; when there is none, `offer()`'s is written in a txn that succeeds only
   * while the key does not exist (`created`: ours went in), else the winner's is returned.
   */
  async ensure(name: SharedName, offer: () => Promise<string>): Promise<{ value: string; created: boolean }> {
    const stored = await this.get(name);
    if (stored !== undefined) return { value: stored, created: false };
    const value = await offer();
    const key = Buffer.from(this.key(name));
    const res = await this.client.etcd.kv.txn({
      compare: [{ key, target: "Create", result: "Equal", create_revision: 0 }],
      success: [{ request_put: { key, value: Buffer.from(value) } }],
      failure: [{ request_range: { key } }],
    });
    if (res.succeeded) return { value, created: true };
    const winner = res.responses[0]?.response_range?.kvs[0]?.value.toString();
    if (winner === undefined) throw new Error(`etcd: ${this.key(name)} was created and removed at once; start again`);
    // A retried txn whose first try went through finds our own value: created all the same.
    return { value: winner, created: winner === value };
  }

  /** An operator's replacement (corral store users put). */
  async put(name: SharedName, value: string): Promise<void> {
    await this.client.etcd.put(this.key(name)).value(value);
  }

  /** Calls `changed` with the value now and with every later one (a value may come twice). */
  async follow(name: SharedName, changed: (value: string) => void): Promise<void> {
    const watcher = await this.client.etcd.watch().key(this.key(name)).create();
    watcher.on("put", (kv) => changed(kv.value.toString()));
    this.watchers.push(watcher);
    // What was put between the caller's read and the watch's start.
    const now = await this.get(name);
    if (now !== undefined) changed(now);
  }

  async close(): Promise<void> {
    await Promise.all(this.watchers.splice(0).map(cancelWatch));
  }
}

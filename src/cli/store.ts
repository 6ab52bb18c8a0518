// `corral master --store`: sqlite (the default: the data directory's database) or
// etcd://HOST:PORT[,HOST:PORT…], with TLS client certificates from --etcd-ca-file,
// --etcd-cert-file and --etcd-key-file (then the members are spoken to over https).

import { readFileSync } from "node:fs";
import type { StoreChoice } from "../store/backend.ts";

export const STORE_USAGE = `      --store sqlite|etcd://HOST:PORT[,HOST:PORT...]
                               where the config and job queue live (default sqlite,
                               in the data directory); with etcd, every master given
                               the same members and --cluster-name is one of the
                               cluster's masters: one leads, the others stand by
      --etcd-ca-file FILE      CA certificate etcd's members are checked against (https)
      --etcd-cert-file FILE    client certificate for etcd (with --etcd-key-file)
      --etcd-key-file FILE     its private key
      --etcd-compact-interval SECONDS
                               how often the leading master compacts etcd's history
                               to what it was one interval before (default 300; 0:
                               never, when etcd's --auto-compaction-* does it: etcd
                               compacts all its keys, so turn this off on an etcd
                               that other programs share)
      --advertise-url URL      this master's RAPI URL as other masters name it while it
                               leads (default https://NODE-IP:PORT, else the bind
                               address, else the host name)`;

export const STORE_OPTIONS = {
  store: { type: "string" },
  "etcd-ca-file": { type: "string" },
  "etcd-cert-file": { type: "string" },
  "etcd-key-file": { type: "string" },
  "advertise-url": { type: "string" },
  "etcd-compact-interval": { type: "string" },
} as const;

export interface StoreFlags {
  store?: string;
  "etcd-ca-file"?: string;
  "etcd-cert-file"?: string;
  "etcd-key-file"?: string;
  "etcd-compact-interval"?: string;
}

/** The store the options name; a malformed one is an error for the operator (thrown with what is wrong). */
export function storeChoice(v: StoreFlags, read: (file: string) => Buffer = (file) => readFileSync(file)): StoreChoice {
  const tlsFlags = (["etcd-ca-file", "etcd-cert-file", "etcd-key-file"] as const).filter((f) => v[f] !== undefined);
  const etcdFlags = [...tlsFlags, ...(v["etcd-compact-interval"] !== undefined ? ["etcd-compact-interval"] : [])];
  const store = v.store ?? "sqlite";
  if (store === "sqlite") {
    if (etcdFlags.length > 0) throw new Error(`--${etcdFlags[0]} goes with --store etcd://…`);
    return { kind: "sqlite" };
  }
  if (!store.startsWith("etcd://")) throw new Error(`--store needs 'sqlite' or 'etcd://HOST:PORT[,HOST:PORT...]', not '${store}'`);
  const endpoints = store.slice("etcd://".length).split(",").map((e) => e.trim());
  for (const e of endpoints) {
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(e)) throw new Error(`--store: '${e}' is not HOST:PORT`);
  }
  if ((v["etcd-cert-file"] === undefined) !== (v["etcd-key-file"] === undefined)) throw new Error("--etcd-cert-file and --etcd-key-file go together");
  if (tlsFlags.length > 0 && v["etcd-ca-file"] === undefined) throw new Error("--etcd-cert-file needs --etcd-ca-file (the CA etcd's certificates are checked against)");
  const file = (flag: keyof StoreFlags) => {
    const path = v[flag];
    if (path === undefined) return undefined;
    try {
      return read(path);
    } catch (err) {
      throw new Error(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const ca = file("etcd-ca-file");
  const interval = v["etcd-compact-interval"];
  if (interval !== undefined && !/^\d{1,7}$/.test(interval)) throw new Error(`--etcd-compact-interval needs whole seconds (0: never), not '${interval}'`);
  return {
    kind: "etcd",
    endpoints,
    ...(ca ? { tls: { ca, cert: file("etcd-cert-file"), key: file("etcd-key-file") } } : {}),
    ...(interval !== undefined ? { compactIntervalMs: Number(interval) * 1000 } : {}),
  };
}

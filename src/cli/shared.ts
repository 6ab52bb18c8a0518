// `corral store users put FILE` and `corral store pvc-config put FILE`: replace what the masters
// of an etcd cluster share (src/master/shared.ts). The users reach every master within
// moments, without a restart; pvc-api.yaml at each master's next start. Needs only etcd, not a
// leading master.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseUsersFile, withHa1Passwords } from "../api/http/users.ts";
import { parsePvcConfig } from "../api/pvc/config.ts";
import { EtcdClient, EtcdKeys } from "../store/etcd/client.ts";
import { SHARED, SharedFiles } from "../store/etcd/shared.ts";
import { STORE_OPTIONS, storeChoice } from "./store.ts";

const USAGE = `Usage: corral store users put FILE --store etcd://HOST:PORT[,...] --cluster-name NAME
       corral store pvc-config put FILE --store etcd://HOST:PORT[,...] --cluster-name NAME

Replaces the users file (cleartext passwords are stored as {HA1}; every master follows it
at once) or pvc-api.yaml (read by each master given --pvc-config at its next start) that the
masters of the cluster share through etcd.
      --etcd-ca-file FILE, --etcd-cert-file FILE, --etcd-key-file FILE   as corral master's
`;

export async function sharedCommand(args: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args,
    options: { ...STORE_OPTIONS, "cluster-name": { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
    strict: true,
  });
  const [what, verb, file] = positionals;
  if (v.help || verb !== "put" || file === undefined || positionals.length !== 3 || (what !== "users" && what !== "pvc-config")) {
    process.stdout.write(USAGE);
    if (!v.help) process.exitCode = 2;
    return;
  }
  const store = storeChoice(v);
  if (store.kind !== "etcd") throw new Error("--store etcd://HOST:PORT[,...] is needed: with SQLite each master reads its own files");
  if (v["cluster-name"] === undefined) throw new Error("--cluster-name is needed (the masters' --cluster-name: etcd's key prefix)");
  const text = readFileSync(file, "utf8");
  let value: string;
  if (what === "users") {
    value = withHa1Passwords(text);
    // An empty table would lock every user out of every master at once.
    if (parseUsersFile(value).size === 0) throw new Error(`${file} defines no user`);
  } else {
    parsePvcConfig(text);
    value = text;
  }
  const client = new EtcdClient(store);
  try {
    const shared = new SharedFiles(client, new EtcdKeys(v["cluster-name"]).root);
    const name = what === "users" ? SHARED.users : SHARED.pvcConfig;
    await shared.put(name, value);
    process.stdout.write(`${shared.key(name)} replaced${what === "users" ? ` (${parseUsersFile(value).size} users)` : ""}\n`);
  } finally {
    client.close();
  }
}

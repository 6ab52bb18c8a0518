// `corral store migrate --from sqlite:DIR --to etcd://… --cluster-name NAME` and back: copies a
// stopped cluster's store between a data directory and etcd (src/master/migrate.ts), then says
// what it copied and what to do next.

import { parseArgs } from "node:util";
import { checkNoUnfinishedJobs, readEtcdStore, readSqliteStore, sharedFilePaths, writeEtcdStore, writeSqliteStore, type StoreDump } from "../master/migrate.ts";
import { EtcdClient, EtcdKeys } from "../store/etcd/client.ts";
import { STORE_OPTIONS, storeChoice, type StoreFlags } from "./store.ts";

const USAGE = `Usage: corral store migrate --from sqlite:DIR --to etcd://HOST:PORT[,...] --cluster-name NAME
       corral store migrate --from etcd://HOST:PORT[,...] --to sqlite:DIR --cluster-name NAME

Copies a stopped cluster's store: the config (serials unchanged), the jobs (active and
archived, ids unchanged), API tokens and the masters' records; to etcd also the cluster
certificate, RAPI certificate, users file and pvc-api.yaml of DIR, from etcd into DIR's files.
The new store gets an id of its own (node agents adopt it and log it). Refused while a master
runs on the source, while it has unfinished jobs, or when the target holds a cluster.
      --cluster-name NAME      the cluster's key prefix in etcd (its masters' --cluster-name)
      --users-file FILE        to etcd: the users file to share (default DIR/rapi/users);
                               from etcd: where to write it
      --pvc-config FILE        the same for pvc-api.yaml (default DIR/pvc-api.yaml)
      --force                  read a SQLite database another process holds open (only
                               once you know that process is no master)
      --etcd-ca-file FILE, --etcd-cert-file FILE, --etcd-key-file FILE   as corral master's
`;

export async function migrateCommand(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      "cluster-name": { type: "string" },
      "users-file": { type: "string" },
      "pvc-config": { type: "string" },
      force: { type: "boolean" },
      ...STORE_OPTIONS,
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (v.help || v.from === undefined || v.to === undefined) {
    process.stdout.write(USAGE);
    if (!v.help) process.exitCode = 2;
    return;
  }
  if (v["cluster-name"] === undefined) throw new Error("--cluster-name is needed (the masters' --cluster-name: etcd's key prefix)");
  const sqliteDir = (place: string) => (place.startsWith("sqlite:") && place.length > "sqlite:".length ? place.slice("sqlite:".length) : undefined);
  const [fromDir, toDir] = [sqliteDir(v.from), sqliteDir(v.to)];
  const etcdPlace = fromDir !== undefined ? v.to : v.from;
  if ((fromDir === undefined) === (toDir === undefined)) throw new Error("one of --from and --to is sqlite:DIR, the other etcd://HOST:PORT[,...]");
  const flags: StoreFlags = { ...v, store: etcdPlace };
  const store = storeChoice(flags);
  if (store.kind !== "etcd") throw new Error(`'${etcdPlace}' is no etcd://HOST:PORT[,...]`);
  const keys = new EtcdKeys(v["cluster-name"]);
  const files = sharedFilePaths((fromDir ?? toDir) as string, { usersFile: v["users-file"], pvcConfig: v["pvc-config"] });
  const client = new EtcdClient(store);
  let dump: StoreDump;
  try {
    if (fromDir !== undefined) {
      dump = readSqliteStore(fromDir, files, v.force);
      checkNoUnfinishedJobs(dump, fromDir);
      await writeEtcdStore(client, keys, dump);
    } else {
      dump = await readEtcdStore(client, keys);
      checkNoUnfinishedJobs(dump, `${etcdPlace} ${keys.root}`);
      await writeSqliteStore(toDir as string, files, dump);
    }
  } finally {
    client.close();
  }
  process.stdout.write(report(dump, `${v.from}${fromDir === undefined ? ` (${keys.root})` : ""}`, `${v.to}${toDir === undefined ? ` (${keys.root})` : ""}`));
  const tls = (["etcd-ca-file", "etcd-cert-file", "etcd-key-file"] as const).filter((f) => v[f] !== undefined).map((f) => ` --${f} ${v[f]}`).join("");
  process.stdout.write(
    toDir === undefined
      ? `Next: start each master with --store ${etcdPlace} --cluster-name ${v["cluster-name"]}${tls} (any data directory: the\n` +
          `shared files come from etcd). Node agents adopt the new store's id at its first order and log it.\n` +
          `Start no master on ${fromDir} again: keep it as a backup only.\n`
      : `Next: start the master with --data-dir ${toDir} (and --users-file/--pvc-config if you moved them).\n` +
          `Node agents adopt the new store's id at its first order and log it. Start no master on etcd's\n` +
          `copy again: remove it (etcdctl del --prefix ${keys.root}) once the SQLite master runs.\n`,
  );
}

/** What was copied, counted. */
function report(dump: StoreDump, from: string, to: string): string {
  const kinds = new Map<string, number>();
  for (const o of dump.objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
  const archived = dump.jobs.filter((j) => j.archived).length;
  return (
    `Copied ${from} to ${to}:\n` +
    `  config: serial ${dump.serial}, ${[...kinds].map(([kind, n]) => `${n} ${kind}`).join(", ") || "no objects"}\n` +
    `  jobs: ${dump.jobs.length - archived} active, ${archived} archived; new ids start above ${dump.jobMark}\n` +
    `  API tokens: ${dump.tokens.length}; master records: ${dump.records.length} (the store id is not copied: the new store gets its own)\n` +
    `  shared files: ${Object.keys(dump.shared).join(", ") || "none"}\n`
  );
}

// `corral store migrate` (issue 17): a stopped cluster's store copied between SQLite (a data
// directory) and etcd, and back. Everything goes across as stored, byte for byte: the config (the
// cluster serial and each object's serial_no unchanged; the cluster object split into etcd's base
// and parameter-group keys and joined again, store/etcd/cluster-parts.ts), the jobs (active and
// archived, ids unchanged), the API tokens, the masters' own records, and what masters of an etcd
// cluster share (certificates, users, pvc-api.yaml) from or into the data directory's files. The
// store id record is not copied: a new store names itself, and node agents adopt (and log) the new
// id.

import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { withHa1Passwords } from "../api/http/users.ts";
import { parsePvcConfig } from "../api/pvc/config.ts";
import { JOB_ID_MARK_KEY } from "../jobs/writer.ts";
import { calcJobStatus, FINALIZED, type Job } from "../model/job.ts";
import type { ObjectKind } from "../model/objects.ts";
import { type WriteOp } from "../store/durable.ts";
import { applyOps } from "../store/sqlite-sink.ts";
import { prefixEnd, type EtcdClient, type EtcdKeys } from "../store/etcd/client.ts";
import { clusterPartOf, mergeCluster, splitCluster, type ClusterPart } from "../store/etcd/cluster-parts.ts";
import { SHARED, SharedFiles, type SharedName } from "../store/etcd/shared.ts";
import { TxnMeter } from "../store/etcd/sink.ts";
import { EPOCH_KEY } from "../store/leadership.ts";
import { openDatabase } from "../store/sqlite.ts";
import { dataPaths, writeSecretFile } from "./datadir.ts";
import { clusterCertPaths } from "./nodes.ts";
import { STORE_ID_KEY } from "./term.ts";

/** A cluster's store as stored: every value in the text both backends keep. */
export interface StoreDump {
  /** The cluster object's JSON. */
  cluster: string;
  serial: number;
  objects: { kind: ObjectKind; uuid: string; data: string }[];
  jobs: { id: number; data: string; archived: boolean }[];
  /** The highest job id handed out (etcd: its reservation mark; SQLite: the highest stored). */
  jobMark: number;
  tokens: { id: string; data: string }[];
  /** The masters' own records (JSON), the store id left out. */
  records: { key: string; value: string }[];
  shared: Partial<Record<SharedName, string>>;
}

const KINDS: ReadonlySet<string> = new Set<ObjectKind>(["node", "nodegroup", "instance", "network", "filter"]);
/** Meta rows that are no master's record: the config's, the lease's fence, and the store's own id. */
const NOT_RECORDS = ["cluster", "serial", EPOCH_KEY, STORE_ID_KEY, JOB_ID_MARK_KEY];

/** Where the shared values' files are in a data directory (users and pvc-api.yaml may be given elsewhere). */
export interface SharedFilePaths {
  usersFile: string;
  pvcConfig: string;
}

export function sharedFilePaths(dir: string, given: Partial<SharedFilePaths> = {}): SharedFilePaths {
  return { usersFile: given.usersFile ?? dataPaths(dir).usersFile, pvcConfig: given.pvcConfig ?? join(dir, "pvc-api.yaml") };
}

/** Refuses a source whose active jobs have not all ended: a migrated job could not go on. */
export function checkNoUnfinishedJobs(dump: StoreDump, where: string): void {
  const unfinished = dump.jobs.filter((j) => !j.archived && !FINALIZED.has(calcJobStatus(JSON.parse(j.data) as Job))).map((j) => j.id);
  if (unfinished.length > 0) {
    throw new Error(
      `${where} has ${unfinished.length} unfinished job(s) (${unfinished.slice(0, 10).join(", ")}${unfinished.length > 10 ? ", …" : ""}): ` +
        "start its master again, let them finish (corral job watch ID) or cancel them (corral job cancel ID), stop it, then migrate",
    );
  }
}

/** Other processes that hold `file` open (Linux /proc): a master on the database; undefined when /proc cannot tell. */
export function processesWithOpen(file: string): number[] | undefined {
  if (!existsSync("/proc/self/fd")) return undefined;
  const target = realpathSync(file);
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to look into
    }
    if (fds.some((fd) => readLink(`/proc/${entry}/fd/${fd}`) === target)) pids.push(Number(entry));
  }
  return pids;
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

const text = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : undefined);

/** The data directory's store. Refused when it holds no cluster, or (unless `force`) while a process has its database open. */
export function readSqliteStore(dir: string, files: SharedFilePaths, force = false): StoreDump {
  const path = dataPaths(dir).database;
  if (!existsSync(path)) throw new Error(`${path} does not exist: no cluster in ${dir}`);
  const holders = processesWithOpen(path);
  if (!force && holders === undefined) throw new Error(`cannot tell whether a master runs on ${path} (no /proc): stop it, then give --force`);
  if (!force && holders && holders.length > 0) {
    throw new Error(`${path} is open in process ${holders.join(", ")} (a master running on it?): stop it first (or give --force once you know it is not a master)`);
  }
  const db = openDatabase(path);
  try {
    const meta = new Map((db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const cluster = meta.get("cluster");
    if (cluster === undefined) throw new Error(`${path} holds no cluster`);
    const jobs = (db.prepare("SELECT id, data, archived FROM jobs ORDER BY id").all() as { id: number; data: string; archived: number }[]).map((r) => ({ id: r.id, data: r.data, archived: r.archived !== 0 }));
    return {
      cluster,
      serial: Number(meta.get("serial") ?? 1),
      objects: db.prepare("SELECT kind, uuid, data FROM objects ORDER BY kind, uuid").all() as StoreDump["objects"],
      jobs,
      jobMark: jobs.reduce((max, j) => Math.max(max, j.id), Number(meta.get(JOB_ID_MARK_KEY) ?? 0)),
      tokens: db.prepare("SELECT id, data FROM tokens ORDER BY id").all() as StoreDump["tokens"],
      records: [...meta].filter(([key]) => !NOT_RECORDS.includes(key)).map(([key, value]) => ({ key, value })),
      shared: readSharedFiles(dir, files),
    };
  } finally {
    db.close();
  }
}

/** The data directory's shared files as `corral master` would offer them to etcd. */
function readSharedFiles(dir: string, files: SharedFilePaths): StoreDump["shared"] {
  const shared: StoreDump["shared"] = {};
  const cc = clusterCertPaths(dir);
  const [cert, key] = [text(cc.cert), text(cc.key)];
  if (cert !== undefined && key !== undefined) shared[SHARED.clusterCert] = JSON.stringify({ cert, key });
  const rapi = text(dataPaths(dir).rapiPem);
  if (rapi !== undefined) shared[SHARED.rapiCert] = rapi;
  const users = text(files.usersFile);
  if (users !== undefined) shared[SHARED.users] = withHa1Passwords(users);
  const pvc = text(files.pvcConfig);
  if (pvc !== undefined) {
    parsePvcConfig(pvc);
    shared[SHARED.pvcConfig] = pvc;
  }
  return shared;
}

/** The files a dump's shared values go to in a data directory, with their contents. */
function sharedFileWrites(dir: string, files: SharedFilePaths, shared: StoreDump["shared"]): [string, string][] {
  const writes: [string, string][] = [];
  const pair = shared[SHARED.clusterCert];
  if (pair !== undefined) {
    // Written by a master (or this command) as JSON {cert, key}.
    const { cert, key } = JSON.parse(pair) as { cert: string; key: string };
    const cc = clusterCertPaths(dir);
    writes.push([cc.cert, cert], [cc.key, key]);
  }
  const place = (name: SharedName, file: string) => {
    const value = shared[name];
    if (value !== undefined) writes.push([file, value]);
  };
  place(SHARED.rapiCert, dataPaths(dir).rapiPem);
  place(SHARED.users, files.usersFile);
  place(SHARED.pvcConfig, files.pvcConfig);
  return writes;
}

/** Writes a dump into a data directory: refused (nothing written) when it holds a cluster or other files where the shared ones go. */
export async function writeSqliteStore(dir: string, files: SharedFilePaths, dump: StoreDump): Promise<void> {
  const path = dataPaths(dir).database;
  const fileWrites = sharedFileWrites(dir, files, dump.shared);
  const clash = fileWrites.filter(([file, content]) => existsSync(file) && readFileSync(file, "utf8") !== content).map(([file]) => file);
  if (clash.length > 0) throw new Error(`${clash.join(", ")} already exist with other contents: migrate into an empty data directory`);
  if (existsSync(path)) {
    const db = openDatabase(path);
    const held = db.prepare("SELECT COUNT(*) AS n FROM meta WHERE key = 'cluster'").get() as { n: number };
    db.close();
    if (held.n > 0) throw new Error(`${path} already holds a cluster: migrate into an empty data directory`);
  }
  const ops: WriteOp[] = [
    { t: "meta", key: "cluster", value: dump.cluster },
    { t: "meta", key: "serial", value: String(dump.serial) },
    { t: "meta", key: JOB_ID_MARK_KEY, value: String(dump.jobMark) },
    ...dump.objects.map((o): WriteOp => ({ t: "object", kind: o.kind, uuid: o.uuid, data: o.data })),
    ...dump.jobs.map((j): WriteOp => ({ t: "job", id: j.id, data: j.data })),
    ...dump.jobs.filter((j) => j.archived).map((j): WriteOp => ({ t: "archive", id: j.id })),
    ...dump.tokens.map((t): WriteOp => ({ t: "token", id: t.id, data: t.data })),
    ...dump.records.map((r): WriteOp => ({ t: "meta", key: r.key, value: r.value })),
  ];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const db = openDatabase(path);
  try {
    applyOps(db, ops);
  } finally {
    db.close();
  }
  for (const [file, content] of fileWrites) await writeSecretFile(file, content);
}

/** Refuses an etcd source on which a master runs (its leader key). */
async function checkNoLeader(client: EtcdClient, keys: EtcdKeys): Promise<void> {
  const leader = await client.etcd.get(keys.leader).string();
  if (leader !== null) {
    throw new Error(`a master leads the cluster in etcd (${keys.leader}: ${leader}): stop every master of it (its leader key then goes within the lease's TTL), then migrate`);
  }
}

/** The cluster under `keys` in etcd, read at one revision. Refused while a master leads it. */
export async function readEtcdStore(client: EtcdClient, keys: EtcdKeys): Promise<StoreDump> {
  await checkNoLeader(client, keys);
  const { kvs } = await client.list(keys.root);
  const shared = new SharedFiles(client, keys.root);
  const dump: StoreDump = { cluster: "", serial: 1, objects: [], jobs: [], jobMark: 0, tokens: [], records: [], shared: {} };
  const sharedNames: ReadonlySet<string> = new Set(Object.values(SHARED));
  const jobId = (key: string) => Number(key.slice(-16));
  const clusterParts = new Map<ClusterPart, unknown>();
  for (const kv of kvs) {
    const key = kv.key.toString();
    const value = kv.value.toString();
    const rest = (prefix: string) => (key.startsWith(prefix) ? key.slice(prefix.length) : undefined);
    const part = clusterPartOf(keys, key);
    if (key === keys.configCluster) dump.cluster = value;
    else if (part) clusterParts.set(part, JSON.parse(value));
    else if (key === keys.configSerial) dump.serial = Number(value);
    else if (key === keys.jobIds) dump.jobMark = Math.max(dump.jobMark, Number(value) || Number(kv.mod_revision));
    else if (rest(keys.config) !== undefined) {
      const [kind, uuid, ...more] = (rest(keys.config) as string).split("/");
      if (KINDS.has(kind) && uuid && more.length === 0) dump.objects.push({ kind: kind as ObjectKind, uuid, data: value });
    } else if (rest(keys.jobs) !== undefined) dump.jobs.push({ id: jobId(key), data: value, archived: false });
    else if (rest(keys.archivedJobs) !== undefined) dump.jobs.push({ id: jobId(key), data: value, archived: true });
    else if (rest(keys.tokens) !== undefined) dump.tokens.push({ id: rest(keys.tokens) as string, data: value });
    else if (rest(keys.meta) !== undefined && !NOT_RECORDS.includes(rest(keys.meta) as string)) dump.records.push({ key: rest(keys.meta) as string, value });
    else if (rest(shared.prefix) !== undefined && sharedNames.has(rest(shared.prefix) as string)) dump.shared[rest(shared.prefix) as SharedName] = value;
  }
  if (dump.cluster === "") throw new Error(`etcd holds no cluster under ${keys.root}: check --cluster-name`);
  // The cluster object as one JSON text, as SQLite keeps it (one written before etcd kept parts is that already).
  if (clusterParts.size > 0) dump.cluster = JSON.stringify(mergeCluster(JSON.parse(dump.cluster) as Record<string, unknown>, clusterParts).cluster);
  dump.jobs.sort((a, b) => a.id - b.id);
  dump.jobMark = Math.max(dump.jobMark, dump.jobs.at(-1)?.id ?? 0); // sorted: the last is the highest
  return dump;
}

/**
 * Writes a dump under `keys` in etcd, in txns within etcd's limits, each only while no master leads
 * there; the cluster's base key goes last (its parts before it), only while there is none, so that
 * a master finds the cluster only once all of it is in. Refused (nothing written) unless the prefix
 * is empty.
 */
export async function writeEtcdStore(client: EtcdClient, keys: EtcdKeys, dump: StoreDump): Promise<void> {
  const held = await client.etcd.kv.range({ key: Buffer.from(keys.root), range_end: prefixEnd(keys.root), count_only: true });
  if (Number(held.count) > 0) {
    throw new Error(`etcd already holds ${held.count} keys under ${keys.root} (a cluster, or part of one): choose another --cluster-name, or remove them (etcdctl del --prefix ${keys.root}) if they are not in use`);
  }
  const shared = new SharedFiles(client, keys.root);
  const puts: { key: string; value: string }[] = [
    ...Object.entries(dump.shared).map(([name, value]) => ({ key: shared.key(name as SharedName), value })),
    ...dump.tokens.map((t) => ({ key: keys.tokens + t.id, value: t.data })),
    ...dump.records.map((r) => ({ key: keys.meta + r.key, value: r.value })),
    ...dump.jobs.map((j) => ({ key: j.archived ? keys.archivedJob(j.id) : keys.job(j.id), value: j.data })),
    { key: keys.jobIds, value: String(dump.jobMark) },
    ...dump.objects.map((o) => ({ key: keys.configObject(o.kind, o.uuid), value: o.data })),
    { key: keys.configSerial, value: String(dump.serial) },
  ];
  const [clusterBase, ...clusterParts] = splitCluster(keys, dump.cluster);
  puts.push(...clusterParts);
  const batches: (typeof puts)[] = [[]];
  let meter = new TxnMeter();
  for (const put of puts) {
    if (!meter.add({ t: "kv", ...put }) && batches[batches.length - 1].length > 0) {
      batches.push([]);
      meter = new TxnMeter();
      meter.add({ t: "kv", ...put });
    }
    meter.check();
    batches[batches.length - 1].push(put);
  }
  batches.push([clusterBase]);
  const noCreate = (key: string) => ({ key: Buffer.from(key), target: "Create" as const, result: "Equal" as const, create_revision: 0 });
  for (const [i, batch] of batches.entries()) {
    const last = i === batches.length - 1;
    const res = await client.etcd.kv.txn({
      compare: last ? [noCreate(keys.leader), noCreate(keys.configCluster)] : [noCreate(keys.leader)],
      success: batch.map(({ key, value }) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })),
    });
    if (!res.succeeded) {
      throw new Error(`a master started on ${keys.root} in etcd during the migration; the copy is incomplete: stop it, remove the keys (etcdctl del --prefix ${keys.root}) and migrate again`);
    }
  }
}

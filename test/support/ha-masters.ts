// Test support for several real `corral master --store etcd://…` processes on one 3-member etcd
// cluster (test/support/etcd.ts), for a suite: starting them with their log kept, asking one
// its role (GET /corral/1/store), polling until something holds, and saying where a missing job is.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { call, usersFileText } from "./cluster.ts";
import { EtcdCluster } from "./etcd.ts";
import { killProcess, startMasterProcess, type MasterProcess } from "./process.ts";
import type { StoreView } from "../../src/api/corral/store.ts";
import { EtcdClient } from "../../src/store/etcd/client.ts";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function storeOf(port: number): Promise<StoreView> {
  const r = await call(port, "GET", "/corral/1/store", { user: "reader" });
  assert.equal(r.status, 200, r.text);
  return r.json as StoreView;
}

/** Polls until `check` holds (it returns true), or fails after `ms`; resolves with how long it took, ms. */
export async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check().catch(() => false))) {
    if (performance.now() - started > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
  return Math.round(performance.now() - started);
}

/** Masters of one test on `etcd`, each in `dir`/its name; stopped by pid with stopAll(). */
export class EtcdMasters {
  private readonly procs: ChildProcess[] = [];
  /** The last 20 kB of each master's stderr, by port (for a failure's message). */
  private readonly logs = new Map<number, () => string>();
  readonly etcd: EtcdCluster;
  /** Each master's data directory is its name under it. */
  readonly dir: string;
  private readonly usersFile: string;

  constructor(etcd: EtcdCluster, dir: string, usersFile: string) {
    this.etcd = etcd;
    this.dir = dir;
    this.usersFile = usersFile;
  }

  /** etcd's `members` and a directory with the test users file, outside a suite (a bench): stop() ends it all. */
  static async open(members: 1 | 3, prefix = "corral-etcd-masters-"): Promise<EtcdMasters> {
    const etcd = await EtcdCluster.start(members);
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const users = join(dir, "users");
    writeFileSync(users, usersFileText());
    return new EtcdMasters(etcd, dir, users);
  }

  /**
   * Starts master `name` of cluster `cluster` (its data directory is reused when it starts
   * again); `withinMs`: until it listens; `corral`: another checkout's bin/corral (a bench's "before").
   */
  async start(name: string, cluster: string, o: { tls?: boolean; withinMs?: number; corral?: string } = {}): Promise<MasterProcess> {
    const m = await startMasterProcess(join(this.dir, name), this.usersFile, ["--store", `etcd://${this.etcd.endpoints.join(",")}`, "--cluster-name", cluster, "--node-name", name], o);
    this.procs.push(m.proc);
    let log = m.startLog;
    m.proc.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
    this.logs.set(m.port, () => log);
    return m;
  }

  /** What etcd holds for job `id` of `cluster`, and the log of the master on `port`: when a job is missing. */
  async whereIs(cluster: string, id: number, port: number): Promise<string> {
    const raw = new EtcdClient({ endpoints: this.etcd.endpoints });
    try {
      const key = String(id).padStart(16, "0");
      const active = await raw.etcd.get(`/corral/${cluster}/jobs/${key}`).string();
      const archived = await raw.etcd.get(`/corral/${cluster}/jobs-archived/${key}`).string();
      return `etcd: active ${active ?? "none"}; archived ${archived ?? "none"}\nlog of :${port}:\n${this.log(port)}`;
    } finally {
      raw.close();
    }
  }

  /** The last 20 kB the master on `port` logged. */
  log(port: number): string {
    return this.logs.get(port)?.() ?? "";
  }

  async stopAll(): Promise<void> {
    for (const p of this.procs) await killProcess(p);
  }

  /** Every master, then etcd's members, stopped by pid; the directory removed. */
  async stop(): Promise<void> {
    await this.stopAll();
    await this.etcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * For the enclosing suite: `members` etcd members (3) and a directory with the test users file, made
 * before its tests; after them every master and member is stopped by pid and the directory removed.
 */
export function etcdMastersSuite(prefix: string, members: 1 | 3 = 3): { readonly masters: EtcdMasters } {
  let masters: EtcdMasters | undefined;
  before(async () => {
    masters = await EtcdMasters.open(members, prefix);
  });
  after(async () => {
    await masters?.stop();
  });
  return {
    get masters() {
      if (!masters) throw new Error("the suite's etcd is not running");
      return masters;
    },
  };
}

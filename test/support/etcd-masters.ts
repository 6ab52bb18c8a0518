// Real `corral master --store etcd://…` processes on a real etcd cluster for the end-to-end
// tests: etcd's members, a data directory per master under one temporary directory, the test
// users, each master's log kept (for a failure's message), and everything stopped by pid.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usersFileText } from "./cluster.ts";
import { EtcdCluster } from "./etcd.ts";
import { killProcess, startMasterProcess, type MasterProcess } from "./process.ts";

export class EtcdMasters {
  readonly etcd: EtcdCluster;
  /** Each master's data directory is dir/<name>. */
  readonly dir: string;
  private readonly users: string;
  private readonly procs: MasterProcess[] = [];
  private readonly logs = new Map<number, () => string>();

  private constructor(etcd: EtcdCluster, dir: string) {
    this.etcd = etcd;
    this.dir = dir;
    this.users = join(dir, "users");
    writeFileSync(this.users, usersFileText());
  }

  /** Starts etcd's `members` and makes the directory. */
  static async start(members: 1 | 3): Promise<EtcdMasters> {
    const etcd = await EtcdCluster.start(members);
    return new EtcdMasters(etcd, mkdtempSync(join(tmpdir(), "corral-etcd-masters-")));
  }

  /** Starts a master named `name` of `cluster` (plain HTTP unless `tls`; `corral`: another checkout's bin/corral). */
  async master(name: string, cluster: string, tls = false, corral?: string): Promise<MasterProcess> {
    const m = await startMasterProcess(join(this.dir, name), this.users, ["--store", `etcd://${this.etcd.endpoints.join(",")}`, "--cluster-name", cluster, "--node-name", name], { tls, corral });
    this.procs.push(m);
    let log = m.startLog;
    m.proc.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
    this.logs.set(m.port, () => log);
    return m;
  }

  /** The last 20 kB the master on `port` logged. */
  log(port: number): string {
    return this.logs.get(port)?.() ?? "";
  }

  /** kill -9 of every master, then etcd's members; removes the directory. */
  async stop(): Promise<void> {
    for (const m of this.procs) await killProcess(m.proc);
    await this.etcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

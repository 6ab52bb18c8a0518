// Real etcd for the store tests: 1 or 3 members of Debian's etcd-server on loopback ports of
// their own, in a temporary directory, started and stopped by pid with bounded waits. Where etcd
// is missing the suites are skipped, and with CI=true they fail (tools.ts).

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { requireTools } from "./tools.ts";
import { EtcdClient } from "../../src/store/etcd/client.ts";

export const etcdNeeds = requireTools({ tools: ["etcd", "etcdctl"] });

const HEALTHY_WITHIN_MS = 20_000;
const EXIT_WITHIN_MS = 5_000;

/** A loopback port nothing listens on now (the kernel's pick, released at once). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Puts 512 KiB values under /filler/ until etcd (started with a small --quota-backend-bytes) refuses them: NOSPACE. */
export async function fillEtcd(endpoints: readonly string[]): Promise<boolean> {
  const raw = new EtcdClient({ endpoints });
  try {
    const big = Buffer.alloc(512 * 1024, "x");
    for (let i = 0; i < 100; i++) {
      const full = await raw.etcd.kv.put({ key: Buffer.from(`/filler/${i}`), value: big }).then(() => false, (err: Error) => /space exceeded/.test(err.message));
      if (full) return true;
    }
    return false;
  } finally {
    raw.close();
  }
}

/** The operator's remedy for NOSPACE (ETCD-FACTS §3.6), with etcdctl: free space, compact, defrag, disarm. */
export async function freeEtcd(endpoints: readonly string[]): Promise<void> {
  const etcdctl = (...args: string[]) =>
    promisify(execFile)(etcdNeeds.path("etcdctl"), [`--endpoints=${endpoints.join(",")}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
  await etcdctl("del", "--prefix", "/filler/");
  const status = JSON.parse((await etcdctl("endpoint", "status", "-w", "json")).stdout) as { Status: { header: { revision: number } } }[];
  await etcdctl("compact", String(status[0].Status.header.revision), "--physical");
  await etcdctl("defrag");
  await etcdctl("alarm", "disarm");
}

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  child: ChildProcess | undefined;
}

export class EtcdCluster {
  readonly dir: string;
  private readonly members: Member[];
  private readonly binary: string;
  private readonly extraArgs: readonly string[];

  private constructor(dir: string, members: Member[], extraArgs: readonly string[]) {
    this.dir = dir;
    this.members = members;
    this.binary = etcdNeeds.path("etcd");
    this.extraArgs = extraArgs;
  }

  /** Starts `size` members (1 or 3), with `extraArgs` for each (a quota), and waits until each answers /health. */
  static async start(size: 1 | 3, extraArgs: readonly string[] = []): Promise<EtcdCluster> {
    const dir = mkdtempSync(join(tmpdir(), "corral-etcd-"));
    const members: Member[] = [];
    for (let i = 0; i < size; i++) members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), child: undefined });
    const cluster = new EtcdCluster(dir, members, extraArgs);
    try {
      for (let i = 0; i < size; i++) cluster.spawnMember(i);
      await Promise.all(members.map((_, i) => cluster.waitHealthy(i)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The client endpoints, "127.0.0.1:PORT". */
  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  pid(i: number): number | undefined {
    return this.members[i].child?.pid;
  }

  /** Sends `signal` to member i by pid and, for one that ends the process, waits until it exited. */
  async signal(i: number, signal: NodeJS.Signals): Promise<void> {
    const m = this.members[i];
    const child = m.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid as number, signal);
    if (signal === "SIGSTOP" || signal === "SIGCONT") return;
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), EXIT_WITHIN_MS).unref());
    if ((await Promise.race([exited, timer])) === "timeout") {
      process.kill(child.pid as number, "SIGKILL");
      await exited;
    }
    m.child = undefined;
  }

  /** Starts member i again on its data directory (after a stop or kill) and waits until healthy. */
  async restart(i: number): Promise<void> {
    if (this.members[i].child) throw new Error(`etcd member ${i} still runs`);
    this.spawnMember(i);
    await this.waitHealthy(i);
  }

  /** Stops every member by pid (SIGTERM, SIGKILL after 5 s) and removes the directory. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.signal(i, "SIGCONT").then(() => this.signal(i, "SIGTERM"))));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private spawnMember(i: number): void {
    const m = this.members[i];
    const peer = (x: Member) => `http://127.0.0.1:${x.peerPort}`;
    const client = `http://127.0.0.1:${m.clientPort}`;
    const log = openSync(join(this.dir, `${m.name}.log`), "a");
    try {
      m.child = spawn(
        this.binary,
        [
          `--name=${m.name}`,
          `--data-dir=${join(this.dir, m.name)}`,
          `--listen-client-urls=${client}`,
          `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer(m)}`,
          `--initial-advertise-peer-urls=${peer(m)}`,
          `--initial-cluster=${this.members.map((x) => `${x.name}=${peer(x)}`).join(",")}`,
          "--initial-cluster-state=new",
          `--initial-cluster-token=corral-test-${this.members[0].peerPort}`,
          "--logger=zap",
          "--log-level=warn",
          ...this.extraArgs,
        ],
        { stdio: ["ignore", log, log] },
      );
    } finally {
      closeSync(log);
    }
    const child = m.child;
    child.once("exit", () => {
      if (m.child === child) m.child = undefined;
    });
  }

  private async waitHealthy(i: number): Promise<void> {
    const m = this.members[i];
    const deadline = Date.now() + HEALTHY_WITHIN_MS;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (!m.child) throw new Error(`etcd member ${m.name} exited while starting (log: ${join(this.dir, `${m.name}.log`)})`);
      try {
        const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === "true") return;
        last = JSON.stringify(body);
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`etcd member ${m.name} not healthy within ${HEALTHY_WITHIN_MS} ms: ${last}`);
  }
}

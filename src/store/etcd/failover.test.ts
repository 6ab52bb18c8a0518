// Leadership on a 3-member etcd with stand-in masters in processes of their own (started and
// stopped by pid): kill -9 of the leading master hands leadership to a standby within the
// lease's TTL and loses no acknowledged write; a leader paused past its TTL never writes after
// the new one is elected (it tries on waking: its self-fence, overdue by then, or etcd's fence
// refuses; etcd.test.ts proves etcd's fence alone); killing etcd's own raft leader moves no
// master leadership.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, before, it } from "node:test";
import { EtcdCluster, etcdNeeds } from "../../../test/support/etcd.ts";
import { initializeCluster } from "../../ops/init.ts";
import { openEtcdStores, type EtcdStores } from "./backend.ts";

const INIT = {
  clusterName: "c", nodeName: "n1", nodeIp: "127.0.0.1", enabledHypervisors: ["fake"],
  enabledDiskTemplates: ["diskless"], fileStorageDir: "/tmp/x", sharedFileStorageDir: "/tmp/y", agentEndpoint: "local",
};
const TTL_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MasterEvent {
  event: "leading" | "acked" | "refused" | "revoked";
  at: number;
  tag?: string;
  epoch?: number;
  reason?: string;
  error?: string;
}

/** A stand-in master process (test/support/etcd-master.ts) and what it said. */
class MasterProcess {
  readonly child: ChildProcess;
  readonly events: MasterEvent[] = [];
  private readonly exited: Promise<void>;

  constructor(endpoints: readonly string[], cluster: string, name: string) {
    const script = new URL("../../../test/support/etcd-master.ts", import.meta.url).pathname;
    this.child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", script, endpoints.join(","), cluster, name], { stdio: ["ignore", "pipe", "inherit"] });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    let rest = "";
    this.child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) this.events.push(JSON.parse(line) as MasterEvent);
    });
  }

  of(kind: MasterEvent["event"]): MasterEvent[] {
    return this.events.filter((e) => e.event === kind);
  }

  async waitFor(kind: MasterEvent["event"], withinMs: number): Promise<MasterEvent> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const found = this.events.find((e) => e.event === kind);
      if (found) return found;
      if (Date.now() > deadline) assert.fail(`the master process did not say "${kind}" within ${withinMs} ms`);
      await sleep(10);
    }
  }

  /** Sends a signal by pid; for SIGKILL/SIGTERM waits until it exited. */
  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    process.kill(this.child.pid as number, signal);
    if (signal === "SIGKILL" || signal === "SIGTERM") await this.exited;
  }
}

etcdNeeds.describe("etcd leadership across master processes, three members", () => {
  let etcd: EtcdCluster;
  const masters: MasterProcess[] = [];
  const open: EtcdStores[] = [];
  const stores = async (cluster: string, name: string) => {
    const s = await openEtcdStores({ endpoints: etcd.endpoints, cluster, name, ttlSeconds: TTL_MS / 1000 });
    open.push(s);
    return s;
  };
  const master = (cluster: string, name: string) => {
    const m = new MasterProcess(etcd.endpoints, cluster, name);
    masters.push(m);
    return m;
  };
  /** A cluster in etcd led by a master process that writes a tag every 50 ms. */
  const ledByProcess = async (cluster: string) => {
    const init = await stores(cluster, "init");
    await initializeCluster(init.config, INIT);
    const a = master(cluster, "a");
    await a.waitFor("leading", 10_000);
    await sleep(300);
    return a;
  };
  before(async () => (etcd = await EtcdCluster.start(3)));
  after(async () => {
    for (const m of masters) {
      await m.signal("SIGCONT");
      await m.signal("SIGKILL");
    }
    for (const s of open) await s.close().catch(() => undefined);
    await etcd?.stop();
  });

  it("hands leadership to a standby within the TTL when the leading master is killed -9, with every acknowledged write", async () => {
    const times: number[] = [];
    for (let round = 1; round <= 3; round++) {
      const cluster = `kill${round}`;
      const a = await ledByProcess(cluster);
      const b = await stores(cluster, "b");
      const bLeads = b.leadership.establish();
      const killedAt = Date.now();
      await a.signal("SIGKILL");
      await bLeads;
      const took = Date.now() - killedAt;
      times.push(took);
      assert.ok(took <= TTL_MS + 1000, `a standby led ${took} ms after the kill`);
      const tags = b.config.snapshot().cluster.tags;
      for (const acked of a.of("acked")) assert.ok(tags.includes(acked.tag as string), `acknowledged ${acked.tag} is in the config`);
      assert.ok(a.of("acked").length > 0);
    }
    console.log(`# kill -9 of the leading master → standby leads after ${times.join(", ")} ms (TTL ${TTL_MS} ms)`);
  });

  it("a leader paused past its TTL never writes after the new one is elected: it tries on waking and is refused", async () => {
    const a = await ledByProcess("pause");
    const b = await stores("pause", "b");
    await a.signal("SIGSTOP");
    const bEpoch = await b.leadership.establish();
    const bLedAt = Date.now();
    await b.config.transact((tx) => tx.updateCluster((c) => void (c.tags = [...c.tags, "b-1"])));
    const before = a.events.length;
    await a.signal("SIGCONT");
    await sleep(1000);
    const afterResume = a.events.slice(before);
    // What it did on waking: tried to write (refused by etcd, or by itself once its self-fence fired).
    const refused = afterResume.filter((e) => e.event === "refused");
    assert.ok(refused.length > 0, `the resumed master tried to write: ${JSON.stringify(afterResume.slice(0, 3))}`);
    assert.ok(a.of("revoked").length > 0, "it stepped down");
    console.log(`# resumed old leader: first refusal ${JSON.stringify(refused[0].error?.slice(0, 120))}; stepped down: ${a.of("revoked")[0].reason}`);
    // Everything A wrote is before B's term: no tag of A's comes after B's first.
    const reader = await stores("pause", "reader");
    const tags = reader.config.snapshot().cluster.tags;
    assert.deepEqual(tags.slice(tags.indexOf("b-1")), ["b-1"], `no write of A's after B's term began (epoch ${bEpoch}, at ${bLedAt})`);
    // Acknowledged ones (one sent before the pause may be acknowledged after it) are all before B's.
    for (const acked of a.of("acked")) assert.ok(tags.indexOf(acked.tag as string) >= 0 && tags.indexOf(acked.tag as string) < tags.indexOf("b-1"));
  });

  it("moves no master leadership when etcd's raft leader is killed -9; writes pause for about its election", async () => {
    const a = await ledByProcess("raft");
    const raftLeader = await etcdLeader(etcd);
    const killedAt = Date.now();
    await etcd.signal(raftLeader, "SIGKILL");
    await sleep(4000);
    const acks = a.of("acked").map((e) => e.at);
    const around = acks.filter((t) => t > killedAt - 1000);
    let gap = 0;
    for (let i = 1; i < around.length; i++) gap = Math.max(gap, around[i] - around[i - 1]);
    console.log(`# etcd raft leader (member ${raftLeader}) killed -9: longest write gap ${gap} ms; master revocations ${a.of("revoked").length}`);
    assert.equal(a.of("revoked").length, 0, "the master kept leading");
    assert.ok(around.some((t) => t > killedAt + 3000), "writes go on after the election");
    assert.ok(gap <= 3500, `write gap ${gap} ms`);
    await etcd.restart(raftLeader);
  });
});

/** Which member leads etcd's raft now (by its status over the JSON gateway). */
async function etcdLeader(etcd: EtcdCluster): Promise<number> {
  const statuses = await Promise.all(
    etcd.endpoints.map(async (e) => {
      const res = await fetch(`http://${e}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(2000) });
      return (await res.json()) as { header: { member_id: string }; leader: string };
    }),
  );
  const i = statuses.findIndex((s) => s.header.member_id === s.leader);
  assert.ok(i >= 0, "a member leads");
  return i;
}

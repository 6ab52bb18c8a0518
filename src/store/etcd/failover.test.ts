// Leadership on a 3-member etcd with stand-in masters in processes of their own (started and
// stopped by pid). kill -9 of the leading master: a standby, seeing the leader's liveness key
// expire (TTL 2 s, liveness.ts), takes over and writes within 3 s, ten times over, losing no
// acknowledged write. A leader paused past its leases: on waking it tries orders (through the
// term gate of the RPC client) and writes, and none begun after waking goes out. Killing etcd's own raft
// leader moves no master leadership, with a standby watching.

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
/** The issue's goal: a standby answers writes within 3 s of the leader's death. */
const TAKEOVER_GOAL_MS = 3000;
const KILLS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MasterEvent {
  event: "campaigning" | "leading" | "acked" | "refused" | "ordered" | "order-refused" | "revoked";
  at: number;
  tag?: string;
  epoch?: number;
  reason?: string;
  error?: string;
  term?: string;
  /** When the order or write this event ends began (etcd-master.ts). */
  startedAt?: number;
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
  /** A cluster in etcd led by a master process that writes a tag and sends an order every 50 ms. */
  const ledByProcess = async (cluster: string) => {
    const init = await stores(cluster, "init");
    await initializeCluster(init.config, INIT);
    const a = master(cluster, "a");
    await a.waitFor("leading", 10_000);
    await sleep(300);
    return a;
  };
  /** A standby master process, campaigning. */
  const standby = async (cluster: string, name: string) => {
    const m = master(cluster, name);
    await m.waitFor("campaigning", 10_000);
    await sleep(300);
    return m;
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

  it(`a standby writes within ${TAKEOVER_GOAL_MS} ms of a kill -9 of the leading master, ${KILLS} kills in a row, with every acknowledged write`, async () => {
    let leader = await ledByProcess("kills");
    const times: number[] = [];
    for (let round = 1; round <= KILLS; round++) {
      const next = await standby("kills", `s${round}`);
      const killedAt = Date.now();
      await leader.signal("SIGKILL");
      const firstWrite = await next.waitFor("acked", 10_000);
      times.push(firstWrite.at - killedAt);
      assert.ok(leader.of("acked").length > 0, "the killed leader had written");
      leader = next;
    }
    const sorted = [...times].sort((x, y) => x - y);
    console.log(
      `# kill -9 of the leading master → the standby's first accepted write after ${times.join(", ")} ms ` +
        `(min ${sorted[0]}, median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted[sorted.length - 1]}; L1 TTL ${TTL_MS} ms)`,
    );
    for (const t of times) assert.ok(t <= TAKEOVER_GOAL_MS, `a standby wrote ${t} ms after the kill (all: ${times.join(", ")})`);
    // The last leader ends too, so that every write it acknowledged is in what the reader sees.
    await leader.signal("SIGKILL");
    const tags = (await stores("kills", "reader")).config.snapshot().cluster.tags;
    for (const m of masters.filter((x) => x.of("acked").length > 0)) {
      for (const acked of m.of("acked")) assert.ok(tags.includes(acked.tag as string), `acknowledged ${acked.tag} is in the config`);
    }
  });

  // Woken at 3 s, before its own lease's self-fence is due, only the clock check stops its first
  // order: its timers are all overdue and the order's may run first.
  for (const [pausedMs, past] of [[3000, "its liveness lease's TTL"], [TTL_MS + 500, "both leases' TTLs"]] as const) {
    it(`a leader paused past ${past} (${pausedMs} ms) sends no order and writes nothing on waking: it tries both, and steps down`, async () => {
      const cluster = `pause${pausedMs}`;
      const a = await ledByProcess(cluster);
      const b = await stores(cluster, "b");
      const bLeads = b.leadership.establish();
      await sleep(300);
      const stoppedAt = Date.now();
      await a.signal("SIGSTOP");
      const bEpoch = await bLeads;
      const bLedAfter = Date.now() - stoppedAt;
      await b.config.transact((tx) => tx.updateCluster((c) => void (c.tags = [...c.tags, "b-1"])));
      await sleep(pausedMs - (Date.now() - stoppedAt));
      const before = a.events.length;
      const resumedAt = Date.now();
      await a.signal("SIGCONT");
      await sleep(1500);
      // The attempt in flight when SIGSTOP landed may have been cleared (or committed) before it
      // and ends after waking: an agent's term check refuses such an order (node/agent/terms.ts),
      // and the tags below show such a write came before B's. Every attempt begun after waking
      // must be refused.
      const afterResume = a.events.slice(before);
      const begunAwake = afterResume.filter((e) => (e.startedAt as number) >= resumedAt);
      const inFlight = afterResume.filter((e) => (e.startedAt as number) < stoppedAt);
      const shown = JSON.stringify(afterResume.slice(0, 4));
      assert.ok(new Set(inFlight.map((e) => e.startedAt)).size <= 1, `one attempt at most was in flight at the pause: ${shown}`);
      const sent = begunAwake.filter((e) => e.event === "ordered");
      assert.deepEqual(sent, [], `no order begun after waking reached a node: ${shown}`);
      assert.equal(begunAwake.filter((e) => e.event === "acked").length, 0, `no write of A's begun after waking was acknowledged: ${shown}`);
      const orderRefused = begunAwake.filter((e) => e.event === "order-refused");
      const refused = begunAwake.filter((e) => e.event === "refused");
      assert.ok(orderRefused.length > 0, `the resumed master tried an order: ${shown}`);
      assert.ok(refused.length > 0, `the resumed master tried to write: ${shown}`);
      assert.ok(a.of("revoked").length > 0, "it stepped down");
      console.log(
        `# paused leader: standby led ${bLedAfter} ms after SIGSTOP; resumed after ${resumedAt - stoppedAt} ms; order refused ` +
          `${orderRefused[0].at - resumedAt} ms after SIGCONT (${JSON.stringify(orderRefused[0].error?.slice(0, 110))}); write refused ` +
          `(${JSON.stringify(refused[0].error?.slice(0, 110))}); stepped down: ${a.of("revoked")[0].reason}`,
      );
      const reader = await stores(cluster, "reader");
      const tags = reader.config.snapshot().cluster.tags;
      assert.deepEqual(tags.slice(tags.indexOf("b-1")), ["b-1"], `no write of A's after B's term began (epoch ${bEpoch})`);
      for (const acked of a.of("acked")) assert.ok(tags.indexOf(acked.tag as string) >= 0 && tags.indexOf(acked.tag as string) < tags.indexOf("b-1"));
    });
  }

  it("moves no master leadership when etcd's raft leader is killed -9, with a standby watching; writes pause for about its election", async () => {
    const a = await ledByProcess("raft");
    const b = await standby("raft", "b");
    const epoch = (await a.waitFor("leading", 0)).epoch;
    const raftLeader = await etcdLeader(etcd);
    const killedAt = Date.now();
    await etcd.signal(raftLeader, "SIGKILL");
    await sleep(4000);
    const acks = a.of("acked").map((e) => e.at);
    const around = acks.filter((t) => t > killedAt - 1000);
    let gap = 0;
    for (let i = 1; i < around.length; i++) gap = Math.max(gap, around[i] - around[i - 1]);
    const orders = a.of("ordered").map((e) => e.at).filter((t) => t > killedAt - 1000);
    let orderGap = 0;
    for (let i = 1; i < orders.length; i++) orderGap = Math.max(orderGap, orders[i] - orders[i - 1]);
    console.log(
      `# etcd raft leader (member ${raftLeader}) killed -9: longest write gap ${gap} ms, order gap ${orderGap} ms; ` +
        `master revocations ${a.of("revoked").length}; standby led ${b.of("leading").length} times; orders refused ${a.of("order-refused").length}`,
    );
    assert.equal(a.of("revoked").length, 0, `the master kept leading (it stepped down ${a.of("revoked").map((e) => `${e.at - killedAt} ms after the kill: ${e.reason}`).join("; ")})`);
    assert.equal(b.of("leading").length, 0, "the standby did not take over");
    assert.ok(a.of("ordered").every((e) => JSON.parse(e.term as string).epoch === epoch), "every order carried the same term");
    assert.ok(around.some((t) => t > killedAt + 3000), "writes go on after the election");
    assert.ok(orders.some((t) => t > killedAt + 3000), "orders go on after the election");
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

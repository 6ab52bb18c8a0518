// Node agents refuse orders from a fenced-out master (issue 17): the term each call carries,
// kept on disk by the agent, checked the same in-process and over HTTPS.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { MasterTerm } from "../../rpc/calls.ts";
import { generateClusterCert } from "../../rpc/certs.ts";
import { AGENT_ERRORS, NOT_LEADING } from "../../rpc/errors.ts";
import { httpsClient, serveNodeRpc } from "../../rpc/https.ts";
import { inProcessClient } from "../../rpc/inprocess.ts";
import { failureOf } from "../../rpc/testkit.ts";
import { instanceSpec, tempDir } from "../testkit.ts";
import { NodeAgent } from "./agent.ts";
import { TERM_FILE } from "./terms.ts";

const NODE = "node1.example.com";

function newAgent(stateDir: string, log: (line: string) => void = () => undefined): NodeAgent {
  return new NodeAgent({ stateDir, nodeName: NODE, memoryTotal: 8192, memoryDom0: 0, osSearchPath: [], extStorageSearchPath: [], kvm: false, log });
}

/** A master's client whose term the test sets (undefined: not leading). */
function masterClient(t: { after(fn: () => void): void }, agent: NodeAgent, term: () => MasterTerm | undefined) {
  const client = inProcessClient(agent, { node: NODE, term });
  t.after(() => client.close());
  return client;
}

const running = async (agent: NodeAgent) => (await inProcessClient(agent).instanceList({})).map((r) => r.name);

test("an order of a lower term is refused and does nothing; a higher one is adopted and written first", async (t) => {
  const dir = await tempDir(t);
  const agent = newAgent(dir);
  const newer = masterClient(t, agent, () => ({ store: "sqlite:a", epoch: 7 }));
  const older = masterClient(t, agent, () => ({ store: "sqlite:a", epoch: 6 }));

  await newer.instanceStart({ instance: instanceSpec({ name: "one" }) });
  const kept = JSON.parse(await readFile(join(dir, TERM_FILE), "utf8")) as { current: { store: string; epoch: number; since: string } };
  assert.equal(kept.current.store, "sqlite:a");
  assert.equal(kept.current.epoch, 7);

  const err = await failureOf(older.instanceStart({ instance: instanceSpec({ name: "two" }) }));
  assert.equal(err.errClass, AGENT_ERRORS.fencedOut);
  assert.equal(err.node, NODE);
  assert.match(err.message, new RegExp(`^node ${NODE} refuses orders from a master of term 6: it obeys term 7 since ${kept.current.since}; this master was fenced out$`));
  assert.deepEqual(await running(agent), ["one"], "the refused start did nothing");
  // Other orders too, not only starts.
  assert.equal((await failureOf(older.instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 }))).errClass, AGENT_ERRORS.fencedOut);
  assert.deepEqual(await running(agent), ["one"]);

  // Reads pass from an older master (a standby's or a fenced one's facts do no harm).
  assert.equal((await older.instanceInfo({ name: "one", hypervisor: "fake" }))?.name, "one");
  assert.equal((await older.nodeInfo({})).name, NODE);

  // A still newer term is obeyed, and from then on the 7 is old.
  const newest = masterClient(t, agent, () => ({ store: "sqlite:a", epoch: 9 }));
  await newest.instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 });
  assert.match((await failureOf(newer.instanceStart({ instance: instanceSpec({ name: "one" }) }))).message, /master of term 7: it obeys term 9 since/);
});

test("the kept term outlives the agent: a restarted agent still refuses the old master", async (t) => {
  const dir = await tempDir(t);
  const first = newAgent(dir);
  await masterClient(t, first, () => ({ store: "sqlite:a", epoch: 3 })).instanceStart({ instance: instanceSpec({ name: "one" }) });
  // A read of a newer leader is enough to learn of it (the next live refresh does that).
  await masterClient(t, first, () => ({ store: "sqlite:a", epoch: 4 })).instanceList({});
  await first.close();

  const restarted = newAgent(dir);
  const old = masterClient(t, restarted, () => ({ store: "sqlite:a", epoch: 3 }));
  const err = await failureOf(old.instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 }));
  assert.equal(err.errClass, AGENT_ERRORS.fencedOut);
  assert.match(err.message, /refuses orders from a master of term 3: it obeys term 4 since/);
  assert.deepEqual(await running(restarted), ["one"], "the guest was not stopped");
  await masterClient(t, restarted, () => ({ store: "sqlite:a", epoch: 4 })).instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 });
  assert.deepEqual(await running(restarted), []);
});

test("a master that does not lead sends no order: it fails at once, the agent never sees it; its reads go", async (t) => {
  const agent = newAgent(await tempDir(t));
  const seen: string[] = [];
  const admit = agent.admitTerm.bind(agent);
  agent.admitTerm = async (call, args, term) => {
    seen.push(call);
    return admit(call, args, term);
  };
  const standby = masterClient(t, agent, () => undefined);
  const err = await failureOf(standby.instanceStart({ instance: instanceSpec({ name: "one" }) }));
  assert.equal(err.errClass, NOT_LEADING);
  assert.match(err.message, /does not lead .* sends no instanceStart order to node node1\.example\.com/);
  assert.equal((await failureOf(standby.storage({ backend: "local", request: { op: "volume_add", pool: "p", volume: "v", size: 1 } }))).errClass, NOT_LEADING);
  assert.deepEqual(seen, [], "nothing reached the agent");
  assert.deepEqual(await standby.instanceList({}), []);
  await standby.storage({ backend: "local", request: { op: "pool_list" } });
  assert.deepEqual(seen, ["instanceList", "storage"], "reads did, without a term");
  assert.deepEqual(await running(agent), []);
});

test("orders without a term: taken only by an agent that never obeyed one", async (t) => {
  const agent = newAgent(await tempDir(t));
  const tool = inProcessClient(agent, { node: NODE });
  t.after(() => tool.close());
  await tool.instanceStart({ instance: instanceSpec({ name: "one" }) });
  await masterClient(t, agent, () => ({ store: "sqlite:a", epoch: 1 })).instanceList({});
  const err = await failureOf(tool.instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 }));
  assert.equal(err.errClass, AGENT_ERRORS.fencedOut);
  assert.match(err.message, /refuses orders from a master that sends no term: it obeys term 1 of store sqlite:a since/);
  assert.deepEqual(await running(agent), ["one"]);
});

test("a cluster moved to a new store: its first term is adopted and logged; the store left is refused from then on", async (t) => {
  const lines: string[] = [];
  const agent = newAgent(await tempDir(t), (l) => lines.push(l));
  const sqlite = masterClient(t, agent, () => ({ store: "sqlite:a", epoch: 57 }));
  const etcd = masterClient(t, agent, () => ({ store: "etcd:x/corral/c1", epoch: 12 }));
  await sqlite.instanceStart({ instance: instanceSpec({ name: "one" }) });
  await etcd.instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 });
  assert.ok(lines.some((l) => /a master of store etcd:x\/corral\/c1 \(term 12\) replaces store sqlite:a \(term 57\)/.test(l)), lines.join("\n"));
  const err = await failureOf(sqlite.instanceStart({ instance: instanceSpec({ name: "one" }) }));
  assert.equal(err.errClass, AGENT_ERRORS.fencedOut);
  assert.match(err.message, /refuses orders from a master of store sqlite:a \(term 57\): the cluster left that store for store etcd:x\/corral\/c1 at .* \(it obeys term 12 since .*\); this master was fenced out/);
  assert.deepEqual(await running(agent), []);
  // Even a higher epoch of the store left stays refused (its fences never rule the new store).
  const later = masterClient(t, agent, () => ({ store: "sqlite:a", epoch: 58 }));
  assert.equal((await failureOf(later.instanceStart({ instance: instanceSpec({ name: "one" }) }))).errClass, AGENT_ERRORS.fencedOut);
  assert.deepEqual(await running(agent), []);
});

test("over HTTPS the term travels in a header and is checked the same; a malformed one is an argument error", async (t) => {
  const agent = newAgent(await tempDir(t));
  const cluster = await generateClusterCert();
  const server = await serveNodeRpc(agent, { host: "127.0.0.1", port: 0, tls: cluster });
  t.after(() => server.close());
  const endpoint = `https://127.0.0.1:${server.port}`;
  const client = (term: () => MasterTerm | undefined) => {
    const c = httpsClient({ endpoint, tls: cluster, node: NODE, term });
    t.after(() => c.close());
    return c;
  };
  await client(() => ({ store: "sqlite:a", epoch: 2 })).instanceStart({ instance: instanceSpec({ name: "one" }) });
  const err = await failureOf(client(() => ({ store: "sqlite:a", epoch: 1 })).instanceShutdown({ name: "one", hypervisor: "fake", timeout: 1 }));
  assert.equal(err.errClass, AGENT_ERRORS.fencedOut);
  assert.match(err.message, /master of term 1: it obeys term 2 since/);
  assert.deepEqual(await running(agent), ["one"]);
  const bad = await failureOf(client(() => ({ store: "", epoch: 3 })).instanceList({}));
  assert.equal(bad.errClass, AGENT_ERRORS.argument);
  assert.match(bad.message, /store must be a non-empty string/);
});

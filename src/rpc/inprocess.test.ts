import assert from "node:assert/strict";
import { test } from "node:test";
import { ECODE } from "../model/errors.ts";
import type { InstanceSpec, NodeRpc, RunningInstance } from "./calls.ts";
import { NODE_RPC_CALLS } from "./calls.ts";
import { dispatchJson } from "./dispatch.ts";
import { AGENT_ERRORS, AgentError, RpcCallError } from "./errors.ts";
import { inProcessClient } from "./inprocess.ts";

/** A stand-in agent implementing only what a test calls. */
function stub(calls: Partial<NodeRpc>): NodeRpc {
  return calls as NodeRpc;
}

const inst = { name: "i1", hypervisor: "fake", beparams: { maxmem: 128 } } as unknown as InstanceSpec;

test("the client has one method per call in the table", () => {
  const client = inProcessClient(stub({}));
  for (const call of NODE_RPC_CALLS) assert.equal(typeof client[call], "function", call);
});

test("arguments and results cross as JSON, not as shared objects", async () => {
  let seen: unknown;
  const agent = stub({
    async instanceStart(args) {
      seen = args;
      (args.instance as { name: string }).name = "changed-by-agent";
      return { name: "i1", when: new Date(0), nothing: undefined } as unknown as RunningInstance;
    },
  });
  const client = inProcessClient(agent);
  const args = { instance: { ...inst, extra: undefined } as InstanceSpec };
  const result = await client.instanceStart(args);
  assert.equal(args.instance.name, "i1", "the agent got a copy");
  assert.notEqual(seen, args);
  assert.ok(!("extra" in (seen as { instance: object }).instance), "undefined is dropped as on the wire");
  assert.deepEqual(result, { name: "i1", when: "1970-01-01T00:00:00.000Z" });
});

test("an agent error arrives as an RpcCallError with class, message and classification", async () => {
  const client = inProcessClient(
    stub({
      async instanceStart() {
        throw new AgentError(AGENT_ERRORS.hypervisor, "Not enough memory", ECODE.noRes);
      },
    }),
    { node: "node1.example.com" },
  );
  const err = await client.instanceStart({ instance: inst }).then(
    () => assert.fail("expected a failure"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RpcCallError);
  assert.equal(err.errClass, "HypervisorError");
  assert.equal(err.message, "Not enough memory");
  assert.equal(err.ecode, "insufficient_resources");
  assert.equal(err.node, "node1.example.com");
  assert.equal(err.call, "instanceStart");
  assert.equal(err.unreachable, false);
  assert.deepEqual(err.toOpExecError("Could not start instance i1").encode(), [
    "OpExecError",
    ["Could not start instance i1 on node node1.example.com: Not enough memory"],
  ]);
});

test("an unexpected exception is reported by message only, without a stack", async () => {
  const client = inProcessClient(
    stub({
      async version() {
        throw new TypeError("boom");
      },
    }),
  );
  await assert.rejects(client.version({}), (e: unknown) => {
    assert.ok(e instanceof RpcCallError);
    assert.equal(e.errClass, "AgentError");
    assert.equal(e.message, "boom");
    return true;
  });
});

test("the dispatcher refuses names outside the call table, even existing methods", async () => {
  const agent = stub({ async version() { return { protocol: 1, agent: "corral-node", node: "n", hypervisors: [], disk_templates: [] }; } });
  for (const name of ["constructor", "toString", "hypervisor", "__proto__", "nope"]) {
    const { status, json } = await dispatchJson(agent, name, "{}");
    assert.equal(status, 404, name);
    assert.equal(JSON.parse(json).error.class, "UnknownCall");
  }
  const bad = await dispatchJson(agent, "version", "{not json");
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.json).error.class, "ArgumentError");
  const notObject = await dispatchJson(agent, "version", "[1,2]");
  assert.equal(notObject.status, 400);
  const ok = await dispatchJson(agent, "version", "");
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.json).result.protocol, 1);
});

test("a closed client fails as unreachable", async () => {
  const client = inProcessClient(stub({ async version() { return { protocol: 1, agent: "corral-node", node: "n", hypervisors: [], disk_templates: [] }; } }));
  client.close();
  await assert.rejects(client.version({}), (e: unknown) => e instanceof RpcCallError && e.unreachable);
});

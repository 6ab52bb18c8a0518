// NodeConnections.openConsole: the master's own node's agent in-process, another node's over
// HTTPS (runNodeAgent, as `corral node` serves it), with the same answers on both.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ConsoleKind } from "../model/console.ts";
import type { Node } from "../model/objects.ts";
import { runNodeAgent, type RunningNodeAgent } from "../node/main.ts";
import { instanceSpec } from "../node/testkit.ts";
import { generateClusterCert, saveClusterCert } from "../rpc/certs.ts";
import { failureOf } from "../rpc/testkit.ts";
import { LOCAL_ENDPOINT, NodeConnections } from "./nodes.ts";

type NodeRef = Pick<Node, "uuid" | "name" | "agent_endpoint">;

describe("NodeConnections.openConsole, in-process and over HTTPS", () => {
  let root: string;
  let connections: NodeConnections;
  let remote: RunningNodeAgent;
  let nodes: NodeRef[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "corral-consoles-"));
    const cluster = await generateClusterCert();
    await saveClusterCert(cluster, join(root, "cluster.pem"), join(root, "cluster.key"));
    connections = new NodeConnections(cluster, undefined, { stateDir: join(root, "node1"), nodeName: "node1", kvm: false });
    remote = await runNodeAgent({
      stateDir: join(root, "node2"), nodeName: "node2", kvm: false, bind: "127.0.0.1", port: 0,
      certFile: join(root, "cluster.pem"), keyFile: join(root, "cluster.key"),
    });
    nodes = [
      { uuid: "node1-uuid", name: "node1", agent_endpoint: LOCAL_ENDPOINT },
      { uuid: "node2-uuid", name: "node2", agent_endpoint: remote.endpoint },
    ];
    for (const node of nodes) await connections.client(node).instanceStart({ instance: instanceSpec({ name: "web1.example.com", hypervisor: "fake" }) });
  });

  after(async () => {
    connections.close();
    await connections.localAgent.close();
    await remote.close();
    await rm(root, { recursive: true, force: true });
  });

  test("an instance of a hypervisor without consoles has none", async () => {
    for (const node of nodes) {
      const err = await failureOf(connections.openConsole(node, "web1.example.com", "vnc"));
      assert.deepEqual([err.node, err.errClass, err.ecode], [node.name, "HypervisorError", "wrong_input"]);
      assert.equal(err.message, `Instance web1.example.com has no console on node ${node.name}: its hypervisor fake has none`);
    }
  });

  test("an instance that does not run on the node is named", async () => {
    for (const node of nodes) {
      const err = await failureOf(connections.openConsole(node, "ghost.example.com", "serial"));
      assert.deepEqual([err.errClass, err.ecode, err.unreachable], ["HypervisorError", "wrong_state", false]);
      assert.equal(err.message, `Instance ghost.example.com is not running on node ${node.name}`);
    }
  });

  test("names that could leave the agent's directories and unknown kinds are refused", async () => {
    for (const node of nodes) {
      const badName = await failureOf(connections.openConsole(node, "../kvm/x", "serial"));
      assert.equal(badName.errClass, "ArgumentError");
      assert.match(badName.message, /^Invalid instance name "\.\.\/kvm\/x"/);
      // As an untyped caller (a URL segment taken as is) would pass it.
      const badKind = await failureOf(connections.openConsole(node, "web1.example.com", "spice" as ConsoleKind));
      assert.deepEqual([badKind.errClass, badKind.message], ["ArgumentError", 'Invalid console kind "spice": expected vnc or serial']);
    }
  });
});

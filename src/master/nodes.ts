// How the master reaches node agents: its own node's agent in-process (the embedded
// default), every other node over HTTPS with the cluster certificate (mutual TLS).

import { join } from "node:path";
import { existsSync } from "node:fs";
import type { Duplex } from "node:stream";
import type { ConsoleKind } from "../model/console.ts";
import type { Node } from "../model/objects.ts";
import { NodeAgent, type NodeAgentOptions } from "../node/agent/agent.ts";
import {
  generateClusterCert, httpsClient, inProcessClient, loadClusterCert, saveClusterCert,
  RpcCallError, toWireError, type ClusterCert, type NodeRpcClient, type RpcCall, type TermSource,
} from "../rpc/index.ts";
import { openRemoteConsole } from "../rpc/console.ts";

export const LOCAL_ENDPOINT = "local";

export const clusterCertPaths = (dataDir: string) => ({
  cert: join(dataDir, "cluster", "cluster.pem"),
  key: join(dataDir, "cluster", "cluster.key"),
});

/** The cluster certificate, generated on the first start (copy it to every node). */
export async function ensureClusterCert(dataDir: string, clusterName: string): Promise<ClusterCert> {
  const p = clusterCertPaths(dataDir);
  if (!existsSync(p.cert) || !existsSync(p.key)) {
    await saveClusterCert(await generateClusterCert({ commonName: clusterName }), p.cert, p.key);
  }
  return await loadClusterCert(p.cert, p.key);
}

export class NodeConnections {
  readonly localAgent: NodeAgent;
  private readonly cert: ClusterCert;
  private readonly deadlineMs: ((call: RpcCall, args: unknown) => number) | undefined;
  private readonly clients = new Map<string, NodeRpcClient>();
  private readonly term: TermSource | undefined;

  /**
   * `deadlineMs`: how long to wait for each call to another node (default: callTimeoutMs).
   * `term`: this master's leadership term, sent with every call to every agent, the local one
   * too (without it, none is sent: only agents that never obeyed a term take its orders).
   */
  constructor(cert: ClusterCert, deadlineMs: ((call: RpcCall, args: unknown) => number) | undefined, localAgentOptions: NodeAgentOptions, term?: TermSource) {
    this.cert = cert;
    this.deadlineMs = deadlineMs;
    this.term = term;
    this.localAgent = new NodeAgent({ clusterCert: { cert: cert.cert, key: cert.key }, ...localAgentOptions });
  }

  /** The client for a node's agent (cached per node and endpoint). */
  client(node: Pick<Node, "uuid" | "name" | "agent_endpoint">): NodeRpcClient {
    const key = `${node.uuid} ${node.name} ${node.agent_endpoint}`;
    let c = this.clients.get(key);
    if (!c) {
      c = node.agent_endpoint === LOCAL_ENDPOINT
        ? inProcessClient(this.localAgent, { node: node.name, term: this.term })
        : httpsClient({ endpoint: node.agent_endpoint, tls: this.cert, node: node.name, timeoutMs: this.deadlineMs, term: this.term });
      this.clients.set(key, c);
    }
    return c;
  }

  /**
   * A raw byte stream to an instance's VNC display (RFB) or serial console, through the agent of
   * `node` (the instance's primary); an RpcCallError when there is none, on every transport.
   */
  async openConsole(node: Pick<Node, "uuid" | "name" | "agent_endpoint">, instance: string, kind: ConsoleKind): Promise<Duplex> {
    if (node.agent_endpoint !== LOCAL_ENDPOINT) {
      return openRemoteConsole({ endpoint: node.agent_endpoint, tls: this.cert, node: node.name, instance, kind });
    }
    try {
      return await this.localAgent.openConsole(instance, kind);
    } catch (err) {
      throw new RpcCallError(node.name, "openConsole", toWireError(err));
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

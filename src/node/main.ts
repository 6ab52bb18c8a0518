// Starts a node agent serving the node calls over HTTPS with the cluster certificate. The
// `corral node` command calls runNodeAgent; tests call it with port 0.

import { loadClusterCert } from "../rpc/certs.ts";
import { serveNodeRpc, type RpcServer } from "../rpc/https.ts";
import { NodeAgent, type NodeAgentOptions } from "./agent/agent.ts";

export interface RunNodeAgentOptions extends NodeAgentOptions {
  /** Address to listen on, e.g. "0.0.0.0" or "127.0.0.1". */
  bind: string;
  /** TCP port; 0 picks a free one (see the result). Ganeti's noded uses 1811. */
  port: number;
  /** The cluster certificate and key (PEM files), the same on master and every node. */
  certFile: string;
  keyFile: string;
}

export interface RunningNodeAgent {
  agent: NodeAgent;
  server: RpcServer;
  /** "https://<bind>:<port>" as a master would reach it (0.0.0.0 shown as 127.0.0.1). */
  endpoint: string;
  close(): Promise<void>;
}

export const DEFAULT_NODE_PORT = 1811;

export async function runNodeAgent(opts: RunNodeAgentOptions): Promise<RunningNodeAgent> {
  const tls = await loadClusterCert(opts.certFile, opts.keyFile);
  const agent = new NodeAgent({ clusterCert: { cert: tls.cert, key: tls.key }, ...opts });
  const server = await serveNodeRpc(agent, { host: opts.bind, port: opts.port, tls, console: agent });
  const host = opts.bind === "0.0.0.0" || opts.bind === "::" ? "127.0.0.1" : opts.bind;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    agent,
    server,
    endpoint: `https://${shown}:${server.port}`,
    close: async () => {
      await server.close();
      await agent.close();
    },
  };
}

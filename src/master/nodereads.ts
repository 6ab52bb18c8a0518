// The master's node reads (src/query/nodereads.ts) over its node connections.

import { setTimeout as sleep } from "node:timers/promises";
import type { Node } from "../model/objects.ts";
import { instanceSpec } from "../ops/instance/common.ts";
import type { ExportInfo } from "../query/export.ts";
import type { NodeReads } from "../query/nodereads.ts";
import type { NodeRpc } from "../rpc/calls.ts";
import { RpcCallError } from "../rpc/errors.ts";
import type { ConfigSnapshot } from "../store/store.ts";

/** How long a node may take to list its exports before its row says "no data". */
export const EXPORT_LIST_TIMEOUT_MS = 5_000;

/**
 * Every node's exports, asked at once (Ganeti's export_list RPC). A node that fails or does
 * not answer in time is one entry without export (status "no data"); a node marked offline
 * is not asked, and the query gives it its "offline" row.
 */
export async function collectExports(
  snap: ConfigSnapshot,
  node: (n: Node) => Pick<NodeRpc, "exportList">,
  timeoutMs = EXPORT_LIST_TIMEOUT_MS,
): Promise<ExportInfo[]> {
  const asked = [...snap.nodes.values()].filter((n) => !n.offline);
  const lists = await Promise.all(asked.map(async (n) => {
    const timer = new AbortController();
    const late = sleep(timeoutMs, null, { signal: timer.signal }).catch(() => null);
    try {
      return await Promise.race([node(n).exportList({}), late]);
    } catch {
      return null;
    } finally {
      timer.abort();
    }
  }));
  return asked.flatMap((n, i): ExportInfo[] => {
    const names = lists[i];
    return names === null ? [{ node: n.name, export: null }] : names.map((e) => ({ node: n.name, export: e }));
  });
}

export function nodeReads(node: (n: Node) => NodeRpc): NodeReads {
  return {
    async instanceConsole(snap, inst) {
      const host = snap.nodes.get(inst.primary_node);
      if (!host) return null;
      try {
        return { ...(await node(host).instanceConsole({ instance: instanceSpec(snap, inst), host: host.name })) };
      } catch (err) {
        if (err instanceof RpcCallError) return null;
        throw err;
      }
    },
    exports: (snap) => collectExports(snap, node),
  };
}

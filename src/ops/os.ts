// OP_OS_DIAGNOSE: the guest operating systems the nodes' agents find, merged as Ganeti's
// OsQuery does (valid only where every node has it valid; variants, parameters and API
// versions common to all), as rows of the requested fields.

import { ECODE, OpPrereqError } from "../model/errors.ts";
import { OpOsDiagnose } from "../model/opcodes/os.ts";
import { plainValues } from "../query/fields.ts";
import { niceCompare } from "../model/names.ts";
import { osFields, type OsRow } from "../query/os.ts";
import { RpcCallError } from "../rpc/errors.ts";
import type { OsDiagnosis } from "../rpc/calls.ts";
import { defineLU, logWarning } from "./lu.ts";

export const osDiagnoseLU = defineLU({
  opcode: OpOsDiagnose,
  locks: () => ({ cluster: { names: "all", mode: "shared" } }),
  checkPrereq(ctx) {
    const unknown = ctx.op.output_fields.filter((f) => !osFields.get(f));
    if (unknown.length > 0) throw new OpPrereqError(`Unknown output fields selected: ${unknown.join(", ")}`, ECODE.inval);
    return ctx.snapshot();
  },
  async exec(ctx, snap) {
    const fields = ctx.op.output_fields;
    const nodes = [...snap.nodes.values()].filter((n) => !n.offline && n.vm_capable).sort((a, b) => niceCompare(a.name, b.name));
    const reports = new Map<string, OsDiagnosis[]>();
    for (const node of nodes) {
      try {
        reports.set(node.name, await ctx.master.node(node).osDiagnose({}));
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        logWarning(ctx, `Can't get the OS list of node ${node.name}: ${err.message}`);
      }
    }
    // name → node → that node's definitions of it (first in the search path first).
    const byOs = new Map<string, Map<string, OsDiagnosis[]>>();
    for (const [node, list] of reports) {
      for (const os of list) {
        let perNode = byOs.get(os.name);
        if (!perNode) {
          perNode = new Map([...reports.keys()].map((n) => [n, [] as OsDiagnosis[]]));
          byOs.set(os.name, perNode);
        }
        perNode.get(node)?.push(os);
      }
    }
    const rows: OsRow[] = [];
    for (const [name, perNode] of byOs) {
      // Valid only if every node that answered has it, valid in its first definition.
      const firsts = [...perNode.values()].map((defs) => defs[0]);
      const valid = firsts.every((d) => d !== undefined && d.valid);
      const pk = (p: [string, string]) => `${p[0]}\u0000${p[1]}`;
      const common = <T>(lists: T[][]): T[] => lists.reduce((acc, l) => acc.filter((x) => l.includes(x)));
      const variants = valid ? common(firsts.map((d) => d.variants)) : [];
      const params = valid ? common(firsts.map((d) => d.parameters.map(pk))) : [];
      const apis = valid ? common(firsts.map((d) => d.api_versions)) : [];
      const nodeStatus: Record<string, unknown[]> = {};
      for (const [node, defs] of perNode) {
        nodeStatus[node] = defs.map((d) => [d.path, d.valid, d.diagnose, d.variants, d.parameters, d.api_versions]);
      }
      const parameters = params.map((k) => k.split("\u0000") as [string, string]);
      const osHvp: Record<string, unknown> = {};
      const osparams: Record<string, unknown> = {};
      for (const v of variants) {
        const full = `${name}+${v}`;
        if (snap.cluster.os_hvp[full]) osHvp[full] = snap.cluster.os_hvp[full];
        if (snap.cluster.osparams[full]) osparams[full] = snap.cluster.osparams[full];
      }
      rows.push({
        name,
        valid,
        hidden: snap.cluster.hidden_os.includes(name),
        blacklisted: snap.cluster.blacklisted_os.includes(name),
        variants,
        api_versions: apis,
        parameters,
        node_status: nodeStatus,
        os_hvp: osHvp,
        osparams,
        trusted: true,
      });
    }
    // Ganeti hides hidden, blacklisted and invalid OSes unless those fields are asked for.
    const shown = rows.filter((r) =>
      (ctx.op.names.length === 0 || ctx.op.names.includes(r.name)) &&
      (fields.includes("hidden") || !r.hidden) &&
      (fields.includes("blacklisted") || !r.blacklisted) &&
      (fields.includes("valid") || r.valid));
    shown.sort((a, b) => niceCompare(a.name, b.name));
    const getters = osFields.getters(fields);
    return shown.map((r) => plainValues(getters, r));
  },
});

// Instance creation in import mode: finding the export an import names, filling the opcode
// from it (Ganeti's _ReadExportInfo and _ReadExportParams), and copying its disk images in.

import { randomUUID } from "node:crypto";
import { ECODE, OpPrereqError } from "../../model/errors.ts";
import type { Instance, Node } from "../../model/objects.ts";
import { RpcCallError } from "../../rpc/errors.ts";
import { resolveObject } from "../../query/resolve.ts";
import { agentOf, instanceSpec, raiseOnFail } from "./common.ts";
import { parseIni, readExportParams, type ExportParams } from "./exportconfig.ts";

import type { CreateOp, CreatePlan, Ctx, ImportSource } from "./create-plan.ts";

/** The opcode with what the export provides where the opcode says nothing (Ganeti's _ReadExportParams). */
export function withExport(op: CreateOp, exp: ExportParams): CreateOp {
  const merged = structuredClone(op);
  merged.os_type = exp.os;
  if (merged.disks.length === 0) {
    merged.disks = exp.disks.map((d) => ({ ...d })) as CreateOp["disks"];
    if (merged.disks.length === 0 && merged.disk_template !== "diskless") {
      throw new OpPrereqError("No disk info specified and the export is missing the disk information", ECODE.inval);
    }
  }
  if (merged.nics.length === 0) merged.nics = exp.nics.map((n) => ({ ...n }) as CreateOp["nics"][number]);
  if (merged.tags.length === 0) merged.tags = [...exp.tags];
  merged.hypervisor ??= exp.hypervisor as CreateOp["hypervisor"];
  merged.hvparams = { ...exp.hvparams, ...merged.hvparams };
  merged.beparams = { ...exp.beparams, ...merged.beparams };
  merged.osparams = { ...exp.osparams, ...merged.osparams };
  merged.osparams_private = { ...exp.osparams_private, ...(merged.osparams_private ?? {}) };
  // An instance imported under its old name keeps its MAC addresses.
  if (merged.instance_name === exp.name) {
    merged.nics.forEach((nic, i) => {
      if ((nic.mac === undefined || nic.mac === "auto") && exp.macs[i]) nic.mac = exp.macs[i];
    });
  }
  return merged;
}

/** Finds the export an import names (Ganeti's _ReadExportInfo). */
export async function readExport(ctx: Ctx): Promise<ImportSource> {
  const op = ctx.op;
  const snap = ctx.snapshot();
  const path = op.src_path ?? op.instance_name;
  let node: Node | undefined;
  if (op.src_node) {
    node = resolveObject(snap, "node", op.src_node);
  } else {
    for (const candidate of snap.nodes.values()) {
      if (candidate.offline) continue;
      try {
        if ((await ctx.master.node(candidate).exportList({})).includes(path)) {
          node = candidate;
          break;
        }
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
      }
    }
    if (!node) throw new OpPrereqError(`No export found for relative path ${path}`, ECODE.inval);
    op.src_node = node.name;
  }
  op.src_node_uuid = node.uuid;
  if (node.offline) throw new OpPrereqError(`Can't use offline node: ${node.name}`, ECODE.state);
  const info = await raiseOnFail(ctx.master.node(node).exportInfo({ path }), `No export or invalid export found in dir ${path}`);
  op.src_path = info.path;
  const params = readExportParams(parseIni(info.config));
  if (params.version !== 0) {
    throw new OpPrereqError(`Wrong export version ${String(params.version)} (wanted 0)`, ECODE.environ);
  }
  return { node, path: info.path, params };
}

/**
 * Makes the export's dumps readable on `target`: the same export when it is there, else a
 * copy (non-zero blocks only) in a staging export that the caller removes.
 */
export async function stageImport(ctx: Ctx, source: ImportSource, target: Node, files: string[]): Promise<{ path: string; staged: string | null }> {
  if (source.node.uuid === target.uuid) return { path: source.path, staged: null };
  const staged = `${source.params.name || "import"}.import-${randomUUID().slice(0, 8)}`;
  const from = ctx.master.node(source.node);
  const to = ctx.master.node(target);
  const WINDOW = 16 * 1024 * 1024;
  for (const file of files) {
    for (let offset = 0; ; offset += WINDOW) {
      const chunk = await raiseOnFail(from.exportRead({ path: source.path, file, offset, length: WINDOW }),
        `Could not read export ${source.path} on node ${source.node.name}`);
      await raiseOnFail(to.exportWrite({ name: staged, file, size: chunk.size, extents: chunk.extents }),
        `Could not copy the export to node ${target.name}`);
      if (offset + WINDOW >= chunk.size) break;
    }
  }
  return { path: staged, staged };
}

export async function runImport(ctx: Ctx, plan: CreatePlan, inst: Instance): Promise<void> {
  const source = plan.source as ImportSource;
  ctx.feedback("* running the instance OS import scripts...");
  const dumps = source.params.dumps;
  const files = inst.disks.map((_, i) => dumps[i]).filter((f): f is string => !!f);
  const spec = instanceSpec(ctx.snapshot(), inst);
  const { path, staged } = await stageImport(ctx, source, plan.pnode, files);
  const client = agentOf(ctx, plan.pnode.uuid);
  try {
    for (const [i] of inst.disks.entries()) {
      const file = dumps[i];
      if (!file) continue;
      await client.importDisk({ instance: spec, index: i, path, file, debug: ctx.op.debug_level ?? 0 });
    }
  } finally {
    if (staged) await client.exportRemove({ name: staged }).catch(() => undefined);
  }
}


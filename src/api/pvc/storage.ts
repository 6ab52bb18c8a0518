// /api/v1/storage/ceph: Corral's storage layer (src/storage) — Ceph when the cluster has the
// rbd disk template, else the local backend. Reads ask the storage node directly; changes are
// OP_PVC_STORAGE jobs, waited for, as PVC's Ceph commands are synchronous. v0.6's paths
// (utilization, option, snapshot) and spellings are accepted beside the manual's.

import { buildOpcode } from "../../model/opcode.ts";
import { OpPvcStorage } from "../../model/opcodes/pvc.ts";
import { findObject } from "../../query/resolve.ts";
import type { OsdInfo, StorageReply, StorageRequest, VolumeInfo } from "../../model/pvc-node.ts";
import { listOsds, osdNode, storageNode, storageRequest } from "../../storage/service.ts";
import { notFound, pvcFailure } from "./errors.ts";
import { failureText, runJob, STORAGE_WAIT_MS, type PvcServices } from "./jobs.ts";
import { LIMIT, limitMatcher } from "./limit.ts";
import { message, ok, pvcRoute, type PvcRequest, type PvcRoute } from "./server.ts";
import { pvcValue, type PvcValues } from "./values.ts";

const UNITS = ["B", "K", "M", "G", "T", "P"] as const;

/** "4096M", "20G", "1073741824" (bytes) → bytes; powers of 1024, as PVC reads them. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([BKMGTP])?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? "B").toUpperCase();
  const bytes = Number(m[1]) * 1024 ** UNITS.indexOf(unit as (typeof UNITS)[number]);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** PVC's human size: the smallest unit that keeps at most four digits, rounded up ("20G"). */
export function humanSize(bytes: number): string {
  for (let i = 0; i < UNITS.length; i++) {
    const v = Math.ceil(bytes / 1024 ** i);
    if (v < 10000 || i === UNITS.length - 1) return `${v}${UNITS[i]}`;
  }
  return `${bytes}B`;
}

const DANGER =
  "ERROR: This command can have unintended consequences and should not be automated; if you're sure you know what you're doing, resend with the argument 'yes_i_really_mean_it'.";

/** What confirm reads: a removal must be confirmed. */
const CONFIRM = pvcValue.flag("yes_i_really_mean_it", "Confirms the removal (refused without it)", { required: true, aliases: ["yes-i-really-mean-it"] });
const SIZE_TEXT = "bytes, or a number with B, K, M, G, T or P (e.g. 4096M, 20G)";
const NEW_NAME = pvcValue.string("name", "The new name", { aliases: ["new_name"] });
const OSD_STATE = pvcValue.choice("state", ["in", "out"], "Put the OSD in or out of the cluster", { required: true });
const OPTION_ACTION = pvcValue.choice("action", ["set", "unset"], "Set or unset the option", { required: true });

function confirm(values: PvcValues): void {
  if (!values.flag("yes_i_really_mean_it", "yes-i-really-mean-it")) throw pvcFailure(DANGER);
}

const volumeView = (v: VolumeInfo) => ({ name: v.name, pool: v.pool, stats: { ...v.stats, size: humanSize(v.size) } });
const osdView = (o: OsdInfo) => ({ id: o.id, stats: o.stats });

export function storageRoutes(s: PvcServices): PvcRoute[] {
  const read = async (request: StorageRequest): Promise<StorageReply> => {
    try {
      return await storageRequest(s.store.snapshot(), s.clients, request);
    } catch (err) {
      throw pvcFailure(`ERROR: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  /** Runs a change as a job; PVC's success message, or its failure. */
  const change = async (request: StorageRequest, done: string, node?: string): Promise<string> => {
    const op = buildOpcode(OpPvcStorage, { action: request.op, request: request as unknown as Record<string, unknown>, node: node ?? null });
    const out = await runJob(s, [op], { timeoutMs: STORAGE_WAIT_MS });
    if (!out.ok) throw pvcFailure(failureText(out));
    return done;
  };
  const status = (type: "status" | "utilization") => async () => {
    const text = (await read({ op: type === "status" ? "status" : "df" })).text ?? "";
    return ok({ type, primary_node: storageNode(s.store.snapshot()).name, ceph_data: text });
  };
  const osds = async (keep: (o: OsdInfo) => boolean) => {
    const rows = (await listOsds(s.store.snapshot(), s.clients)).filter(keep).map(osdView);
    if (rows.length === 0) throw notFound("OSD");
    return ok(rows);
  };
  const pools = async (keep: (name: string) => boolean) => {
    const rows = ((await read({ op: "pool_list" })).pools ?? []).filter((p) => keep(p.name)).map((p) => ({ name: p.name, stats: p.stats }));
    if (rows.length === 0) throw notFound("Pool");
    return ok(rows);
  };
  const volumes = async (pool: string | undefined, keep: (v: VolumeInfo) => boolean) => {
    if (pool !== undefined && !((await read({ op: "pool_list" })).pools ?? []).some((p) => p.name === pool)) throw notFound("Volume");
    const rows = ((await read({ op: "volume_list", pool })).volumes ?? []).filter(keep).map(volumeView);
    if (rows.length === 0) throw notFound("Volume");
    return ok(rows);
  };
  /** Snapshots as v0.5 lists them ("pool/volume@snapshot") or as v0.6 does (objects). */
  const snapshots = async (v06: boolean, pool: string | undefined, volume: string | undefined, keep: (name: string) => boolean) => {
    const all = (await read({ op: "snapshot_list" })).snapshots ?? [];
    const rows = all
      .filter((x) => (pool === undefined || x.pool === pool) && (volume === undefined || x.volume === volume) && keep(x.name))
      .map((x) => (v06 ? { pool: x.pool, volume: x.volume, snapshot: x.name } : `${x.pool}/${x.volume}@${x.name}`));
    if (rows.length === 0) throw notFound("Volume snapshot");
    return ok(rows);
  };
  const sizeValue = (values: PvcValues, ...names: string[]): number => {
    const text = values.required(...names);
    const bytes = parseSize(text);
    if (bytes === undefined) throw pvcFailure(`ERROR: Size '${text}' is not valid: give bytes or a number with B, K, M, G, T or P (e.g. 4096M, 20G).`);
    return bytes;
  };

  const osdState = async ({ params }: PvcRequest) => {
    const osd = (await listOsds(s.store.snapshot(), s.clients)).find((o) => o.id === params.osd);
    if (!osd) throw notFound("OSD");
    return ok({ id: osd.id, in: Number(osd.stats.in ?? 0), up: Number(osd.stats.up ?? 0) });
  };
  const snapshotList = (v06: boolean) => ({
    values: [pvcValue.string("pool", "Only the snapshots in this pool"), pvcValue.string("volume", "Only the snapshots of this volume"), LIMIT],
    handle: async ({ values }: PvcRequest) => snapshots(v06, values.get("pool"), values.get("volume"), limitMatcher(values.get("limit"))),
  });
  const snapshotAdd = {
    values: [
      pvcValue.string("snapshot", "The new snapshot's name", { required: true }),
      pvcValue.string("volume", "The volume to snapshot", { required: true }),
      pvcValue.string("pool", "The volume's pool", { required: true }),
    ],
    handle: async ({ values }: PvcRequest) => {
      const snapshot = values.required("snapshot");
      const volume = values.required("volume");
      const pool = values.required("pool");
      return message(await change({ op: "snapshot_add", pool, volume, snapshot }, `Created new RBD snapshot '${snapshot}' of volume '${volume}' on pool '${pool}'.`));
    },
  };
  const snapshotElement = (v06: boolean) => ({
    GET: async ({ params }: PvcRequest) => snapshots(v06, params.pool, params.volume, (n) => n === params.snapshot),
    PUT: {
      values: [{ ...NEW_NAME, required: true }],
      handle: async ({ params, values }: PvcRequest) => {
        const name = values.required("name", "new_name");
        const { pool, volume, snapshot } = params;
        return message(await change({ op: "snapshot_rename", pool, volume, snapshot, new_name: name }, `Renamed RBD snapshot '${snapshot}' to '${name}' of volume '${volume}' on pool '${pool}'.`));
      },
    },
    DELETE: async ({ params }: PvcRequest) => {
      const { pool, volume, snapshot } = params;
      return message(await change({ op: "snapshot_remove", pool, volume, snapshot }, `Removed RBD snapshot '${snapshot}' of volume '${volume}' on pool '${pool}'.`));
    },
  });
  const option = {
    values: [OPTION_ACTION, pvcValue.string("option", "The OSD option (noout, norebalance, …)", { required: true })],
    handle: async ({ values }: PvcRequest) => {
      const action = values.choice(OPTION_ACTION);
      const opt = values.required("option");
      return message(await change({ op: "option", action, option: opt }, `${action === "set" ? "Set" : "Unset"} OSD property ${opt} on the cluster.`));
    },
  };

  return [
    pvcRoute("/api/v1/storage", { GET: status("status") }),
    pvcRoute("/api/v1/storage/ceph", { GET: status("status") }),
    pvcRoute("/api/v1/storage/ceph/status", { GET: status("status") }),
    pvcRoute("/api/v1/storage/ceph/df", { GET: status("utilization") }),
    pvcRoute("/api/v1/storage/ceph/utilization", { GET: status("utilization") }),
    pvcRoute("/api/v1/storage/ceph/cluster-option", { POST: option }),
    pvcRoute("/api/v1/storage/ceph/option", { POST: option }),
    pvcRoute("/api/v1/storage/ceph/osd", {
      GET: {
        values: [LIMIT],
        handle: ({ values }) => {
          const match = limitMatcher(values.get("limit"));
          return osds((o) => match(o.id));
        },
      },
      POST: {
        values: [
          pvcValue.string("node", "The node the OSD's disk is in", { required: true }),
          pvcValue.string("device", "The OSD's block device", { required: true }),
          pvcValue.number("weight", "The OSD's CRUSH weight", { required: true }),
        ],
        handle: async ({ values }) => {
          const nodeName = values.required("node");
          const device = values.required("device");
          const weightText = values.required("weight");
          const weight = Number(weightText);
          if (!/^\d+(\.\d+)?$/.test(weightText) || !Number.isFinite(weight)) throw pvcFailure(`ERROR: Weight '${weightText}' is not a valid OSD weight.`);
          const snap = s.store.snapshot();
          const node = findObject(snap, "node", nodeName);
          if (!node) throw pvcFailure(`ERROR: No node named '${nodeName}' is present in the cluster.`);
          const id = Math.max(-1, ...(await listOsds(snap, s.clients)).map((o) => Number(o.id))) + 1;
          return message(await change({ op: "osd_add", id, device, weight }, `Created new OSD with block device '${device}' on node '${node.name}'.`, node.name));
        },
      },
    }),
    pvcRoute("/api/v1/storage/ceph/osd/<osd>", {
      GET: ({ params }) => osds((o) => o.id === params.osd),
      DELETE: {
        values: [CONFIRM],
        handle: async ({ params, values }) => {
          confirm(values);
          const node = await osdNode(s.store.snapshot(), s.clients, params.osd);
          if (!node) throw pvcFailure(`ERROR: No OSD with ID '${params.osd}' is present in the cluster.`);
          return message(await change({ op: "osd_remove", id: params.osd }, `Removed OSD ${params.osd} from the cluster.`, node.name));
        },
      },
    }),
    pvcRoute("/api/v1/storage/ceph/osd/<osd>/state", {
      GET: osdState,
      POST: {
        values: [OSD_STATE],
        handle: async ({ params, values }) => {
          const state = values.choice(OSD_STATE);
          const node = await osdNode(s.store.snapshot(), s.clients, params.osd);
          if (!node) throw pvcFailure(`ERROR: No OSD with ID '${params.osd}' is present in the cluster.`);
          return message(await change({ op: "osd_state", id: params.osd, state }, `Set OSD ${params.osd} ${state === "in" ? "online" : "offline"} in the cluster.`, node.name));
        },
      },
    }),
    pvcRoute("/api/v1/storage/ceph/pool", {
      GET: { values: [LIMIT], handle: ({ values }) => pools(limitMatcher(values.get("limit"))) },
      POST: {
        values: [pvcValue.string("pool", "The new pool's name", { required: true }), pvcValue.integer("pgs", "Its placement groups (default 128)")],
        handle: async ({ values }) => {
          const pool = values.required("pool");
          const pgsText = values.get("pgs") ?? "128";
          if (!/^\d+$/.test(pgsText) || Number(pgsText) < 1) throw pvcFailure(`ERROR: PGs '${pgsText}' is not a positive whole number.`);
          return message(await change({ op: "pool_add", pool, pgs: Number(pgsText) }, `Created new RBD pool '${pool}' with '${pgsText}' PGs.`));
        },
      },
    }),
    pvcRoute("/api/v1/storage/ceph/pool/<pool>", {
      GET: ({ params }) => pools((n) => n === params.pool),
      DELETE: {
        values: [CONFIRM],
        handle: async ({ params, values }) => {
          confirm(values);
          return message(await change({ op: "pool_remove", pool: params.pool }, `Removed RBD pool '${params.pool}' and all volumes.`));
        },
      },
    }),
    pvcRoute("/api/v1/storage/ceph/volume", {
      GET: {
        values: [LIMIT, pvcValue.string("pool", "Only the volumes in this pool")],
        handle: ({ values }) => {
          const match = limitMatcher(values.get("limit"));
          return volumes(values.get("pool"), (v) => match(v.name));
        },
      },
      POST: {
        values: [
          pvcValue.string("volume", "The new volume's name", { required: true }),
          pvcValue.string("pool", "The pool to put it in", { required: true }),
          pvcValue.string("size", `Its size: ${SIZE_TEXT}`, { required: true }),
        ],
        handle: async ({ values }) => {
          const volume = values.required("volume");
          const pool = values.required("pool");
          const sizeText = values.required("size");
          const size = sizeValue(values, "size");
          return message(await change({ op: "volume_add", pool, volume, size }, `Created new RBD volume '${volume}' of size '${sizeText}' on pool '${pool}'.`));
        },
      },
    }),
    pvcRoute("/api/v1/storage/ceph/volume/snapshot", { GET: snapshotList(false), POST: snapshotAdd }),
    pvcRoute("/api/v1/storage/ceph/snapshot", { GET: snapshotList(true), POST: snapshotAdd }),
    pvcRoute("/api/v1/storage/ceph/volume/snapshot/<pool>/<volume>/<snapshot>", snapshotElement(false)),
    pvcRoute("/api/v1/storage/ceph/snapshot/<pool>/<volume>/<snapshot>", snapshotElement(true)),
    pvcRoute("/api/v1/storage/ceph/volume/<pool>/<volume>", {
      GET: ({ params }) => volumes(params.pool, (v) => v.name === params.volume),
      PUT: {
        values: [NEW_NAME, pvcValue.string("size", `The new size: ${SIZE_TEXT}; give this or \`name\``, { aliases: ["new_size"] })],
        handle: async ({ params, values }) => {
          const name = values.get("name", "new_name");
          const hasSize = values.has("size", "new_size");
          if ((name !== undefined) === hasSize) throw pvcFailure("ERROR: Give exactly one of 'name' (rename) or 'size' (resize).");
          const { pool, volume } = params;
          if (name !== undefined) {
            return message(await change({ op: "volume_rename", pool, volume, new_name: name }, `Renamed RBD volume '${volume}' to '${name}' in pool '${pool}'.`));
          }
          const sizeText = values.required("size", "new_size");
          const size = sizeValue(values, "size", "new_size");
          return message(await change({ op: "volume_resize", pool, volume, size }, `Resized RBD volume '${volume}' to size '${sizeText}' in pool '${pool}'.`));
        },
      },
      DELETE: async ({ params }) => {
        const { pool, volume } = params;
        return message(await change({ op: "volume_remove", pool, volume }, `Removed RBD volume '${volume}' in pool '${pool}'.`));
      },
    }),
  ];
}

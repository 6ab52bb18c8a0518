// OP_TAGS_SET / OP_TAGS_DEL on the cluster, nodes, groups, instances and networks.

import { ECODE, OpPrereqError, TagError } from "../model/errors.ts";
import type { ConfigObject, ObjectKind } from "../model/objects.ts";
import type { Opcode } from "../model/opcode.ts";
import { OpTagsDel, OpTagsSet, type TagKind } from "../model/opcodes/tags.ts";
import type { ConfigSnapshot, ConfigTx } from "../store/store.ts";
import { defineLU, type LuContext } from "./lu.ts";
import type { LockRequest } from "../jobs/locks.ts";
import { resolveObject } from "../query/resolve.ts";

export const MAX_TAG_LEN = 128;
export const MAX_TAGS_PER_OBJ = 4096;
const TAG_RE = /^[\w.+*/:@-]+$/;

export function checkTag(tag: string): void {
  if (tag.length > MAX_TAG_LEN) throw new TagError(`Tag too long (>${MAX_TAG_LEN} characters)`);
  if (tag.length === 0) throw new TagError("Tags cannot be empty");
  if (!TAG_RE.test(tag)) throw new TagError("Tag contains invalid characters");
}

const STORE_KIND: Record<Exclude<TagKind, "cluster">, Exclude<ObjectKind, "filter">> = {
  node: "node",
  nodegroup: "nodegroup",
  instance: "instance",
  network: "network",
};

const LOCK_LEVEL = { node: "node", nodegroup: "nodegroup", instance: "instance", network: "network" } as const;

interface TagTarget {
  kind: TagKind;
  uuid: string | null; // null for the cluster
  tags: readonly string[];
}

function target(snap: ConfigSnapshot, kind: TagKind, name: string | null): TagTarget {
  if (kind === "cluster") return { kind, uuid: null, tags: snap.cluster.tags };
  const obj = resolveObject(snap, STORE_KIND[kind], name ?? "");
  return { kind, uuid: obj.uuid, tags: obj.tags };
}

/**
 * Ganeti's tag LUs: the tagged object's lock, exclusive, under the shared big lock; cluster
 * tags take only the shared big lock (an exclusive one would queue every job behind any
 * job that waits on a node). Concurrent changes to one object's tags cannot lose each
 * other's: each job's read-modify-write is one config transaction (changeTags).
 */
function tagLocks(op: Opcode<typeof OpTagsSet.params>, snap: ConfigSnapshot): LockRequest {
  if (op.kind === "cluster") return { cluster: { names: "all", mode: "shared" } };
  const level = LOCK_LEVEL[op.kind];
  let uuid: string;
  try {
    uuid = resolveObject(snap, STORE_KIND[op.kind], op.name ?? "").uuid;
  } catch {
    return { cluster: { names: "all", mode: "shared" } }; // checkPrereq reports the error
  }
  return { cluster: { names: "all", mode: "shared" }, [level]: { names: [uuid], mode: "exclusive" } };
}

function writeTags(tx: ConfigTx, t: TagTarget, tags: string[]): void {
  if (t.uuid === null) tx.updateCluster((c) => void (c.tags = tags));
  else tx.update(STORE_KIND[t.kind as Exclude<TagKind, "cluster">], t.uuid, (o) => void ((o as ConfigObject).tags = tags));
}

/** Replaces the named object's tags with `change(current tags)`, in one transaction. */
async function changeTags(ctx: LuContext<typeof OpTagsSet.params>, kind: TagKind, change: (tags: readonly string[]) => string[]): Promise<null> {
  await ctx.master.store.transact((tx) => {
    const fresh = target(tx.current, kind, ctx.op.name);
    writeTags(tx, fresh, change(fresh.tags));
  });
  return null;
}

export const tagsSetLU = defineLU({
  opcode: OpTagsSet,
  locks: tagLocks,
  checkPrereq(ctx: LuContext<typeof OpTagsSet.params>) {
    for (const tag of ctx.op.tags) checkTag(tag);
    const t = target(ctx.snapshot(), ctx.op.kind, ctx.op.name);
    const merged = new Set([...t.tags, ...ctx.op.tags]);
    if (merged.size > MAX_TAGS_PER_OBJ) throw new TagError("Too many tags set on object");
    return t;
  },
  exec: (ctx, t) => changeTags(ctx, t.kind, (tags) => [...new Set([...tags, ...ctx.op.tags])]),
});

export const tagsDelLU = defineLU({
  opcode: OpTagsDel,
  locks: tagLocks,
  checkPrereq(ctx: LuContext<typeof OpTagsDel.params>) {
    for (const tag of ctx.op.tags) checkTag(tag);
    const t = target(ctx.snapshot(), ctx.op.kind, ctx.op.name);
    const missing = ctx.op.tags.filter((tag) => !t.tags.includes(tag)).sort();
    if (missing.length > 0) {
      const list = missing.map((m) => `'${m}'`).join(", ");
      throw new OpPrereqError(`Tag(s) ${list} not found`, ECODE.noEnt);
    }
    return t;
  },
  exec: (ctx, t) => {
    const drop = new Set(ctx.op.tags);
    return changeTags(ctx, t.kind, (tags) => tags.filter((tag) => !drop.has(tag)));
  },
});

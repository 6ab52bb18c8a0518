// htools' instance moves (Ganeti's HTools/Cluster/Moves.hs): which moves an instance's
// template allows towards a target node, what each does to the nodes involved (tried on
// copies, refused when a node refuses the instance), and the operations that carry it out.

import type { InstanceFacts, NodeState } from "./state.ts";

/** htools' instance moves (IMove). */
export type MoveKind =
  | "failover" | "failover-to-any" | "replace-secondary" | "replace-and-failover"
  | "replace-primary" | "failover-and-replace"
  /** Corral's, not hbal's: a live migration to any node that copies `file` disks along. */
  | "migrate-with-storage";

export type MoveStep =
  | { readonly op: "migrate" | "failover"; readonly target: string | null; readonly migrate_storage?: true }
  | { readonly op: "replace-secondary"; readonly target: string };

/** Which kinds of moves a plan may use. */
export interface MoveFlags {
  /** Moves that change the primary node. */
  readonly instanceMoves: boolean;
  /** Moves that change a DRBD secondary. */
  readonly diskMoves: boolean;
  /** No replace-primary moves unless the primary is offline. */
  readonly restrictedMigration: boolean;
}

/** Where instances are and the nodes' states. */
export interface Placed {
  readonly nodes: readonly NodeState[];
  readonly pnode: Int32Array;
  readonly snode: Int32Array;
}

export interface Outcome {
  readonly changed: NodeState[];
  readonly pnode: number;
  readonly snode: number;
}

/** Applies a move to copies of the nodes involved (htools' applyMoveEx); undefined if refused. */
export function tryMove(t: Placed, ix: number, inst: InstanceFacts, kind: MoveKind, target: number, force: boolean): Outcome | undefined {
  const op = t.pnode[ix];
  const os = t.snode[ix];
  const oldP = t.nodes[op];
  switch (kind) {
    case "failover-to-any":
    case "migrate-with-storage": {
      const newP = t.nodes[target].copy();
      if (newP.addPrimary(inst, oldP.offline || force)) return undefined;
      return { changed: [withoutPrimary(oldP, inst), newP], pnode: target, snode: os };
    }
    case "failover": {
      const oldS = t.nodes[os];
      const intP = oldP.copy();
      intP.removePrimary(inst);
      const newP = oldS.copy();
      newP.removeSecondary(inst, op);
      const f = oldP.offline || force;
      if (newP.addPrimary(inst, f) || intP.addSecondary(inst, os, f, oldP.offline)) return undefined;
      return { changed: [intP, newP], pnode: os, snode: op };
    }
    case "replace-secondary": {
      const oldS = t.nodes[os];
      const pri = oldP.copy();
      pri.removePrimary(inst);
      const intS = oldS.copy();
      intS.removeSecondary(inst, op);
      const newS = t.nodes[target].copy();
      if (newS.addSecondary(inst, op, oldS.offline || force)) return undefined;
      if (pri.addPrimary(inst, true)) return undefined;
      return { changed: [pri, newS, intS], pnode: op, snode: target };
    }
    case "replace-and-failover": {
      const intP = oldP.copy();
      intP.removePrimary(inst);
      const intS = t.nodes[os].copy();
      intS.removeSecondary(inst, op);
      const newP = t.nodes[target].copy();
      if (newP.addPrimary(inst, force) || intP.addSecondary(inst, target, t.nodes[os].offline || force)) return undefined;
      return { changed: [newP, intP, intS], pnode: target, snode: op };
    }
    case "replace-primary": {
      const intP = oldP.copy();
      intP.removePrimary(inst);
      const s = t.nodes[os].copy();
      s.removeSecondary(inst, op);
      const f = oldP.offline || force;
      if (s.addPrimary(inst, f)) return undefined;
      s.removePrimary(inst);
      const newP = t.nodes[target].copy();
      if (newP.addPrimary(inst, f) || s.addSecondary(inst, target, f)) return undefined;
      return { changed: [newP, intP, s], pnode: target, snode: os };
    }
    case "failover-and-replace": {
      const intP = oldP.copy();
      intP.removePrimary(inst);
      const newP = t.nodes[os].copy();
      newP.removeSecondary(inst, op);
      const f = oldP.offline || force;
      const newS = t.nodes[target].copy();
      if (newP.addPrimary(inst, f) || newS.addSecondary(inst, os, f)) return undefined;
      return { changed: [newS, newP, intP], pnode: os, snode: target };
    }
  }
}

/** The moves hbal considers for an instance towards one target node (possibleMoves). */
export function movesTo(inst: InstanceFacts, secondaryUsable: boolean, opts: MoveFlags, primaryOffline: boolean): MoveKind[] {
  if (inst.mirror === "none") return inst.movesWithStorage && opts.instanceMoves ? ["migrate-with-storage"] : [];
  if (inst.mirror === "external") return opts.instanceMoves ? ["failover-to-any"] : [];
  if (!opts.diskMoves) return [];
  if (!opts.instanceMoves) return ["replace-secondary"];
  if (opts.restrictedMigration && !primaryOffline) return ["replace-secondary"];
  if (!secondaryUsable) return ["replace-secondary", "replace-and-failover"];
  if (!opts.restrictedMigration) return ["replace-secondary", "replace-and-failover", "replace-primary", "failover-and-replace"];
  return ["replace-secondary", "replace-and-failover", "failover-and-replace"];
}

/** The operations of a move, as hbal's commands: migrate a running instance, else fail it over. */
export function stepsOf(kind: MoveKind, migrate: boolean, to: { primary: string; secondary: string | null }): MoveStep[] {
  const mig: MoveStep = { op: migrate ? "migrate" : "failover", target: null };
  const rep = (target: string | null): MoveStep => ({ op: "replace-secondary", target: target ?? "" });
  switch (kind) {
    case "failover": return [mig];
    case "failover-to-any": return [{ op: mig.op, target: to.primary }];
    case "failover-and-replace": return [mig, rep(to.secondary)];
    case "replace-secondary": return [rep(to.secondary)];
    case "replace-and-failover": return [rep(to.primary), mig];
    case "replace-primary": return [mig, rep(to.primary), mig];
    // Only a running instance gets this move: its disks move in a live migration only.
    case "migrate-with-storage": return [{ op: "migrate", target: to.primary, migrate_storage: true }];
  }
}

/** A copy of a node with an instance's primary removed. */
export function withoutPrimary(n: NodeState, inst: InstanceFacts): NodeState {
  const c = n.copy();
  c.removePrimary(inst);
  return c;
}

/** A copy of a node with an instance added as primary; undefined if the node refuses it. */
export function withPrimary(n: NodeState, inst: InstanceFacts, force: boolean): NodeState | undefined {
  const c = n.copy();
  return c.addPrimary(inst, force) ? undefined : c;
}

// The bounded search of moves to any node against scoring every pair: on piled shared-storage
// clusters (nodes of three sizes; in some, nodes alike two by two, so pairs tie), each pair
// whose quick score is within the caller's margin of the best must be scored and reported
// (with hbal's tie margin, and with wider ones that put many pairs near the bound's edge),
// and the best reported must be the best of all pairs.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { prng } from "../../test/support/fuzzgen.ts";
import { ADDED, AfterCache, REMOVED, scoreWith, searchAnyNode, type After, type AnyNodeSource } from "./anynode.ts";
import { ClusterStats, METRIC_COUNT, nodeValues } from "./metrics.ts";
import { modelFromHtoolsText } from "./model.ts";
import { preparePlacement } from "./plan.ts";
import type { NodeState } from "./state.ts";

const NEAR_TIE = 1e-9;

/**
 * An htools text cluster: `nodes` nodes, `instances` sharedfile instances piled on the first
 * ones; `twins`: each node's instances again on a node alike (nodes × 2 in all).
 */
function piled(nodes: number, instances: number, seed: number, twins = false): string {
  const random = prng(seed);
  const sizes = [16384, 32768, 65536];
  const used = new Array<number>(nodes).fill(0);
  const lines: string[] = [];
  for (let k = 0; k < instances; k++) {
    const mem = [256, 512, 1024, 2048][Math.floor(random() * 4)];
    let node = Math.floor(random() * random() * nodes);
    for (let tries = 0; used[node] + mem > sizes[node % 3] * 0.8 && tries < nodes; tries++) node = (node + 1) % nodes;
    used[node] += mem;
    const status = random() < 0.8 ? "running" : "ADMIN_down";
    lines.push(`i${k}|${mem}|1024|${1 + (k % 2)}|${status}|Y|n${node}||sharedfile||1`);
    if (twins) lines.push(`j${k}|${mem}|1024|${1 + (k % 2)}|${status}|Y|m${node}||sharedfile||1`);
  }
  const nodeLine = (prefix: string) => (u: number, i: number) => `${prefix}${i}|${sizes[i % 3]}|512|${sizes[i % 3] - 512 - u}|409600|409600|${8 * (1 + (i % 3))}|N|uuid-1|1`;
  const nodeLines = [...used.map(nodeLine("n")), ...(twins ? used.map(nodeLine("m")) : [])];
  return ["g|uuid-1|preferred||", "", ...nodeLines, "", ...lines, "", ""].join("\n");
}

interface Source extends AnyNodeSource {
  readonly ix: number;
}

/**
 * One round on the cluster as placed, reporting what is within `margin` of the best so far:
 * the pairs searchAnyNode reports, and every pair's quick score.
 */
function round(text: string, margin: number): { reported: Map<string, number>; all: Map<string, number>; current: number } {
  const model = modelFromHtoolsText(text);
  const placement = preparePlacement(model);
  const nodes = placement.nodes;
  const values = new Float64Array(nodes.length * METRIC_COUNT);
  nodes.forEach((n, i) => nodeValues(n, values, i * METRIC_COUNT));
  const stats = ClusterStats.of(nodes);
  const t = { stats, values, score: stats.score() };
  const shapeIds = new Map<string, number>();
  const shapeOf = (ix: number) => {
    const i = placement.instances[ix];
    const key = `${i.mem}/${i.vcpus}/${i.usesMemory}`;
    if (!shapeIds.has(key)) shapeIds.set(key, shapeIds.size);
    return shapeIds.get(key) as number;
  };
  const cache = new AfterCache(16, nodes);
  const seen = new Set<string>();
  const sources: Source[] = [];
  const example = new Map<number, number>();
  placement.instances.forEach((inst, ix) => {
    const node = placement.pnode[ix];
    const shape = shapeOf(ix);
    if (seen.has(`${node}/${shape}`)) return;
    seen.add(`${node}/${shape}`);
    example.set(shape, ix);
    sources.push({ node, secondary: -1, shape, from: cache.get(node, REMOVED, shape, inst), ix });
  });
  const targets = (shape: number): After[] =>
    nodes.map((n) => cache.get(n.index, ADDED, shape, placement.instances[example.get(shape) as number])).filter((a) => a.node !== undefined);
  const name = (src: Source, to: After) => `${src.node}/${src.shape}->${(to.node as NodeState).index}`;
  let best = t.score;
  const reported = new Map<string, number>();
  searchAnyNode(t, sources, targets, () => best + margin, (src, to, quick) => {
    reported.set(name(src, to), quick);
    best = Math.min(best, quick);
  });
  const all = new Map<string, number>();
  for (const src of sources) {
    for (const to of targets(src.shape)) {
      if ((to.node as NodeState).index !== src.node) all.set(name(src, to), scoreWith(t, [src.from, to]));
    }
  }
  return { reported, all, current: t.score };
}

describe("moves to any node: the bounded search", () => {
  const clusters = [[12, 150, 1, false], [30, 500, 2, false], [60, 1000, 3, false], [9, 40, 4, false], [10, 120, 5, true], [25, 400, 6, true]] as const;
  for (const [nodes, instances, seed, twins] of clusters) {
    const what = `${twins ? nodes * 2 : nodes} nodes / ${twins ? instances * 2 : instances} instances (seed ${seed}${twins ? ", twins" : ""})`;
    it(`${what}: reports every pair near the best of all`, () => {
      for (const margin of [NEAR_TIE, 1e-4, 1e-2]) {
        const { reported, all, current } = round(piled(nodes, instances, seed, twins), margin);
        const lowest = Math.min(current, ...all.values());
        const near = [...all].filter(([, q]) => q <= lowest + margin);
        assert.ok(lowest < current, "the piled cluster has a move that helps");
        if (twins && margin === NEAR_TIE) assert.ok(near.length >= 2, `alike nodes make ties (${near.length})`);
        for (const [pair, quick] of near) assert.equal(reported.get(pair), quick, `margin ${margin}: ${pair} (${quick}, best ${lowest}) was not reported`);
        assert.equal(Math.min(...reported.values()), lowest);
        // What it saves: with hbal's margin, most pairs are never scored.
        if (margin === NEAR_TIE) assert.ok(reported.size < all.size / 4, `${reported.size} of ${all.size} pairs scored`);
      }
    });
  }
});

// A seeded cluster for the balancing bench (bench/balance.ts), as an htools text file: nodes of
// three sizes, instances of eight shapes on shared storage, piled more on the first nodes.

import { prng } from "../../test/support/fuzzgen.ts";

const NODE_SIZES = [
  { mem: 131072, dsk: 2097152, cpu: 32 },
  { mem: 262144, dsk: 4194304, cpu: 64 },
  { mem: 524288, dsk: 8388608, cpu: 96 },
];
const SHAPES = [512, 1024, 2048, 3072, 4096, 6144, 8192, 12288].map((mem, k) => ({ mem, dsk: 10240 * (k + 1), vcpus: 1 + (k % 4) }));

/** The cluster as an htools text file: groups, nodes, instances, cluster tags, policies. */
export function generateCluster(nodes: number, instances: number, seed: number): string {
  const random = prng(seed);
  const nodeSpec = Array.from({ length: nodes }, (_, i) => NODE_SIZES[i % NODE_SIZES.length]);
  const usedMem = new Float64Array(nodes);
  const lines: string[] = [];
  for (let k = 0; k < instances; k++) {
    const shape = SHAPES[Math.floor(random() * SHAPES.length)];
    // Skewed: the first nodes get more (random² leans towards 0).
    let node = Math.floor(random() * random() * nodes);
    for (let tries = 0; usedMem[node] + shape.mem > nodeSpec[node].mem * 0.9 && tries < nodes; tries++) node = (node + 1) % nodes;
    usedMem[node] += shape.mem;
    const status = random() < 0.9 ? "running" : "ADMIN_down";
    lines.push(`inst${k}.bench|${shape.mem}|${shape.dsk}|${shape.vcpus}|${status}|Y|node${node}.bench||sharedfile||1`);
  }
  const nodeLines = nodeSpec.map((s, i) => {
    const free = s.mem - 4096 - usedMem[i];
    return `node${i}.bench|${s.mem}|4096|${free}|${s.dsk}|${Math.floor(s.dsk * (0.3 + 0.6 * random()))}|${s.cpu}|N|uuid-bench|1`;
  });
  return ["default|uuid-bench|preferred||", "", ...nodeLines, "", ...lines, "", "", `|128,1,1024,1,1,1|128,1,1024,1,1,1;1048576,64,16777216,16,8,12|sharedfile|64.0|32.0`, ""].join("\n");
}

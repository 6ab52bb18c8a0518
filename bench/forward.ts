// Writes forwarded by a standby (issue 17, src/api/http/forward.ts) against the same writes sent
// to the leader, in one run: two `corral master --store etcd://…` processes over TLS on one etcd
// member (started here, stopped by pid); the client keeps its own connections alive to both.
// Measured, alternating leader and standby block by block:
//   - sequential tag jobs (PUT /2/tags): latency p50/p90/p99;
//   - --clients concurrent clients for --seconds: tag jobs/s;
//   - the same concurrency with writes the leader refuses at once (no credentials: its 401),
//     which leaves the forwarding path alone: req/s.
// Reported as forwarded/direct ratios, block by block (the reference is the leader in the same
// run, measured next to it). Run it
// with --corral OTHER_CHECKOUT/bin/corral for another version's masters (the "before").
//
//   source scripts/node-env.sh && node bench/forward.ts [--corral PATH] [--writes 400]
//     [--seconds 5] [--clients 8] [--blocks 4] [--out FILE.json]

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { EtcdMasters } from "../test/support/ha-masters.ts";
import { log, pairedRatio, round2 } from "./lib/ab.ts";
import { Client, type Reply } from "./lib/http.ts";
import { loadAverage } from "./lib/machine.ts";
import { percentiles } from "./lib/stats.ts";

const { values: v } = parseArgs({
  options: {
    corral: { type: "string" },
    writes: { type: "string", default: "400" },
    seconds: { type: "string", default: "5" },
    clients: { type: "string", default: "8" },
    blocks: { type: "string", default: "4" },
    out: { type: "string" },
  },
});
const sizes = { writes: Number(v.writes), seconds: Number(v.seconds), clients: Number(v.clients), blocks: Number(v.blocks) };

type Side = "direct" | "forwarded";

/** Sequential tag jobs: each request's ms. */
async function sequential(client: Client, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const r = await client.request("PUT", "/2/tags?tag=bench-forward");
    ms.push(performance.now() - started);
    if (r.status !== 200) throw new Error(`PUT /2/tags answered ${r.status}: ${r.text.slice(0, 200)}`);
  }
  return ms;
}

/** `clients` loops for `seconds`: requests per second whose answer had `expect`. */
async function concurrent(clients: Client[], seconds: number, send: (c: Client) => Promise<Reply>, expect: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < until) {
        const r = await send(c);
        if (r.status !== expect) throw new Error(`answered ${r.status}, not ${expect}: ${r.text.slice(0, 200)}`);
        done++;
      }
    }),
  );
  return done / seconds;
}

const masters = await EtcdMasters.open(1, "corral-bench-forward-");
try {
  const leader = await masters.start("fa", "bench-forward", { tls: true, corral: v.corral });
  for (let i = 0; i < 300; i++) {
    const role = (JSON.parse((await new Client({ base: `https://127.0.0.1:${leader.port}`, auth: "reader:readerpass" }, 1).request("GET", "/corral/1/store")).text) as { role: string }).role;
    if (role === "leader") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const standby = await masters.start("fb", "bench-forward", { tls: true, corral: v.corral });
  const ports: Record<Side, number> = { direct: leader.port, forwarded: standby.port };
  const writer = (side: Side) => new Client({ base: `https://127.0.0.1:${ports[side]}`, auth: "writer:writerpass" }, 1);
  const anonymous = (side: Side) => new Client({ base: `https://127.0.0.1:${ports[side]}` }, 1);
  const latency: Record<Side, number[]> = { direct: [], forwarded: [] };
  const blockP50: Record<Side, number[]> = { direct: [], forwarded: [] };
  const jobsPerS: Record<Side, number[]> = { direct: [], forwarded: [] };
  const refusedPerS: Record<Side, number[]> = { direct: [], forwarded: [] };
  // Warm-up: connections, JIT, the standby's pool.
  for (const side of ["direct", "forwarded"] as const) await sequential(writer(side), 30);
  for (let block = 0; block < sizes.blocks; block++) {
    const order: Side[] = block % 2 === 0 ? ["direct", "forwarded"] : ["forwarded", "direct"];
    for (const side of order) {
      const one = writer(side);
      const ms = await sequential(one, Math.ceil(sizes.writes / sizes.blocks));
      latency[side].push(...ms);
      blockP50[side].push(percentiles(ms).p50);
      one.close();
      const many = Array.from({ length: sizes.clients }, () => writer(side));
      jobsPerS[side].push(await concurrent(many, sizes.seconds, (c) => c.request("PUT", "/2/tags?tag=bench-forward"), 200));
      many.forEach((c) => c.close());
      const refused = Array.from({ length: sizes.clients }, () => anonymous(side));
      refusedPerS[side].push(await concurrent(refused, sizes.seconds, (c) => c.request("PUT", "/2/tags?tag=never"), 401));
      refused.forEach((c) => c.close());
      log(`block ${block + 1} ${side}: p50 ${round2(blockP50[side].at(-1)!)} ms; ${round2(jobsPerS[side].at(-1)!)} jobs/s; ${round2(refusedPerS[side].at(-1)!)} refused/s`);
    }
  }
  const p = { direct: percentiles(latency.direct), forwarded: percentiles(latency.forwarded) };
  const result = {
    corral: v.corral ?? "this checkout",
    sizes,
    load: loadAverage(),
    sequentialTagJobMs: p,
    // Block by block (adjacent in time: the machine's other load drifts), the median of the ratios.
    forwardedOverDirect: {
      latencyP50: pairedRatio(blockP50.forwarded, blockP50.direct),
      jobsPerS: pairedRatio(jobsPerS.forwarded, jobsPerS.direct),
      refusedPerS: pairedRatio(refusedPerS.forwarded, refusedPerS.direct),
    },
    blockP50Ms: { direct: blockP50.direct.map(round2), forwarded: blockP50.forwarded.map(round2) },
    jobsPerS: { direct: jobsPerS.direct.map(round2), forwarded: jobsPerS.forwarded.map(round2) },
    refusedPerS: { direct: refusedPerS.direct.map(round2), forwarded: refusedPerS.forwarded.map(round2) },
  };
  const text = JSON.stringify(result, null, 2);
  process.stdout.write(`${text}\n`);
  if (v.out) writeFileSync(v.out, text);
} finally {
  await masters.stop();
}

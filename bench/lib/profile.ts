// Reads a V8 CPU profile (node --cpu-prof) and says where the time went: self time by
// function, time including callees for Corral's own functions, and shares by category.

import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  fn: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** Wall time the profile covers, ms. */
  total_ms: number;
  /** Time not idle, ms. */
  busy_ms: number;
  /** Share of busy time per category. */
  categories: Record<string, number>;
  /** Busiest functions by self time (share of busy time). */
  self: FunctionTime[];
  /** Corral functions (src/) by time including what they call. */
  corral_inclusive: FunctionTime[];
}

function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const name = functionName || "(anonymous)";
  if (!url) return name;
  const short = url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, "$1/");
  return `${name} ${short}:${lineNumber + 1}`;
}

function category(n: ProfileNode): string {
  const { functionName, url } = n.callFrame;
  if (functionName === "(idle)") return "idle";
  if (functionName === "(garbage collector)") return "garbage collector";
  if (functionName === "(program)") return "native (program: V8/libuv/OpenSSL not attributed to JS)";
  if (url.includes("/src/")) return "Corral code (src/)";
  if (url.includes("node_modules")) return "dependencies";
  if (url.startsWith("node:")) return "Node internals (node:*)";
  if (!url) return "native functions called from JS (JSON, crypto, sqlite...)";
  return "other";
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  const cats = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    total += ms;
    const cat = category(n);
    if (cat === "idle") {
      idle += ms;
      continue;
    }
    cats.set(cat, (cats.get(cat) ?? 0) + ms);
    selfByFn.set(label(n), (selfByFn.get(label(n)) ?? 0) + ms);
  }
  const busy = Math.max(total - idle, 1e-9);

  // Inclusive time of src/ functions: each sample counts once per distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  for (const [id, ms] of self) {
    if (category(byId.get(id)!) === "idle") continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (!n.callFrame.url.includes("/src/")) continue;
      const l = label(n);
      if (seen.has(l)) continue;
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + ms);
    }
  }
  const rank = (m: Map<string, number>): FunctionTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, ms: Math.round(ms), pct: Math.round((ms / busy) * 1000) / 10 }));
  return {
    file,
    total_ms: Math.round(total),
    busy_ms: Math.round(busy),
    categories: Object.fromEntries([...cats].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((v / busy) * 1000) / 10])),
    self: rank(selfByFn),
    corral_inclusive: rank(incl),
  };
}

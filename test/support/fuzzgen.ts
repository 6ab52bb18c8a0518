// A seeded generator of hostile API requests, shared by the fuzz test (test/rapi/fuzz.test.ts)
// and the bench's hostile run (bench/lib/hostile.ts): random routes of the RAPI and PVC tables,
// random methods, path parameters (existing objects, missing ones, odd characters), query
// strings and bodies (random JSON of random shapes, wrong types, wrong content types), as a
// writer, a reader or anonymously. It only describes requests; each caller sends them its way.
// (Imports are type-only: the bench's attacker process loads nothing of the test support.)

import type { CallOptions } from "./cluster.ts";

/** A route of either API: its pattern with parameters as `[name]`, and its methods. */
export interface RouteShape {
  api: "rapi" | "pvc";
  pattern: string;
  methods: string[];
}

/** mulberry32: small, fast, and the same sequence for the same seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A string that is sometimes a plausible value and often not. */
  string(): string {
    return this.pick<() => string>([
      () => this.pick(["", "x", "default", "node1.corral.test", "inst1.corral.test", "net1", "100", "vms", "up", "running", "file", "corral-marker+default", "hail", "ACCEPT", "in", "managed"]),
      () => this.pick(["ü\u0000", "../../etc/passwd", "%00", "a".repeat(1 + this.int(5000)), "\u202e", "'\"<>&", "(a+)+$", "[", "1e999", "-0", "NaN", "{}"]),
      () => Array.from({ length: this.int(20) }, () => String.fromCharCode(this.int(0x3000))).join(""),
    ])();
  }

  number(): number {
    return this.pick<() => number>([
      () => this.int(10) - 2, () => 1e308, () => -1e308, () => 2 ** 53 + 1, () => this.next() * 1e6, () => 4294967296, () => -0, () => 1024,
    ])();
  }

  /** Random JSON of random shape, nested up to `depth` levels. */
  json(depth: number): unknown {
    if (depth <= 0) return this.scalar();
    switch (this.int(6)) {
      case 0: return this.scalar();
      case 1: return Array.from({ length: this.int(4) }, () => this.json(depth - 1));
      case 2: return this.nested(depth);
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(6); i > 0; i--) o[this.pick([...KNOWN_KEYS, this.string()])] = this.json(depth - 1);
        return o;
      }
    }
  }

  /** One deep chain of arrays or objects, fewer than min(depth, cap) levels (the bench raises the cap to the server's limit). */
  nested(depth: number, cap = 50): unknown {
    let v: unknown = this.scalar();
    for (let i = this.int(Math.min(depth, cap)); i > 0; i--) v = this.chance(0.5) ? [v] : { [this.pick(KNOWN_KEYS)]: v };
    return v;
  }

  scalar(): unknown {
    return this.pick<() => unknown>([() => null, () => this.chance(0.5), () => this.number(), () => this.string()])();
  }
}

/** Body and query keys the handlers of both APIs read, so random values reach their checks. */
export const KNOWN_KEYS = [
  "__version__", "name", "mode", "disk_template", "disks", "nics", "os_type", "os", "pnode", "snode", "beparams", "hvparams", "osparams",
  "iallocator", "new_name", "nodes", "fields", "qfilter", "filter", "priority", "predicates", "action", "reason_trail", "network",
  "gateway", "network_mode", "network_link", "amount", "size", "role", "force", "dry_run", "ipolicy", "alloc_policy", "tags",
  "vni", "description", "nettype", "xml", "state", "node", "selector", "limit", "pool", "volume", "snapshot", "pgs", "macaddress",
  "ipaddress", "hostname", "rule", "direction", "order", "token", "target_node", "instances", "remote_node", "early_release",
];
export const QUERY_KEYS = ["dry-run", "force", "bulk", "tag", "fields", "lock", "static", "reason", "mode", "type", "storage_type", "output_fields", "name", "timeout", "auto-promote", "limit", "state", "node", "vni", "direction"];

export type Who = "writer" | "reader" | "anonymous";

export interface FuzzRequest {
  route: RouteShape;
  method: string;
  path: string;
  /** Credentials (RAPI: user writer, reader or nobody; PVC: an X-Api-Key), body and its Content-Type. */
  o: CallOptions;
  who: Who;
}

/** What the requests name: existing objects, missing ones, and the PVC API's token. */
export interface FuzzTargets {
  /** Path parameter values naming existing objects. */
  existing: Readonly<Record<string, string>>;
  /** Parameter values naming nothing that exists (digit parameters stay digits). */
  missing: Readonly<Record<string, string>>;
  pvcToken: string;
}

export function makeRequest(g: Gen, routes: readonly RouteShape[], who: Who, t: FuzzTargets): FuzzRequest {
  const route = g.pick(routes);
  const method = g.chance(0.85) ? g.pick(route.methods) : g.pick(["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]);
  const param = (name: string) =>
    g.pick<() => string>([
      () => t.existing[name] ?? "x", () => t.existing[name] ?? "x", () => t.missing[name] ?? "nosuch",
      () => encodeURIComponent(g.string()).slice(0, 300) || "x", () => String(g.number()).replace(/[^0-9a-z.-]/gi, "") || "0",
    ])();
  let path = route.pattern.replace(/\[([a-z_]+)\]/g, (_, name: string) => param(name));
  if (g.chance(0.3)) {
    const pairs = Array.from({ length: 1 + g.int(4) }, () => `${encodeURIComponent(g.pick(QUERY_KEYS))}=${encodeURIComponent(g.chance(0.5) ? g.pick(["0", "1", "x", ""]) : g.string()).slice(0, 500)}`);
    path += `?${pairs.join("&")}`;
  }
  const o: CallOptions = {};
  if (g.chance(0.6)) {
    const body = g.json(1 + g.int(6));
    o.rawBody = g.chance(0.05) ? "{\"unterminated\": [" : route.api === "pvc" && g.chance(0.4) ? new URLSearchParams(Object.fromEntries(Object.entries(typeof body === "object" && body ? body : { xml: g.string() }).map(([k, v]) => [k, JSON.stringify(v)]))).toString() : JSON.stringify(body);
    o.contentType = g.pick<string | null>(["application/json", "application/json", "application/json", "APPLICATION/JSON", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", null]);
  }
  if (who === "writer") {
    if (route.api === "rapi") o.user = "writer";
    else o.headers = { "X-Api-Key": t.pvcToken };
  } else if (who === "reader") {
    // PVC has no read-only users: its "reader" sends a wrong key.
    if (route.api === "rapi") o.user = g.chance(0.8) ? "reader" : "nobody"; // nobody: known, but with no access option
    else o.headers = { "X-Api-Key": g.pick(["wrong", "", t.pvcToken.slice(0, -1)]) };
  }
  return { route, method, path, o, who };
}

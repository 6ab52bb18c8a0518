// The rules of the house that no compiler checks (shared/DESIGN.md, issue 12): no import
// cycle among the modules of src/, no import from the HTTP layer (src/api/) into the logical
// units (src/ops/) or the node calls (src/rpc/), and no source file over 400 lines unless its
// first comment says why.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = dirname(fileURLToPath(import.meta.url));
const MAX_LINES = 400;

interface Module {
  /** Path relative to src/, with "/" separators. */
  path: string;
  text: string;
  /** Modules of src/ this one imports or re-exports from (type-only imports included). */
  imports: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [p] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"|\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/gm;

function readModules(): Map<string, Module> {
  const modules = new Map<string, Module>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const imports = [...text.matchAll(IMPORT)].map((m) => relative(SRC, resolve(dirname(file), m[1] ?? m[2])).split("\\").join("/"));
    const path = relative(SRC, file).split("\\").join("/");
    modules.set(path, { path, text, imports: imports.filter((i) => !i.startsWith("..")) });
  }
  return modules;
}

/** The strongly connected components with more than one module (Tarjan), each sorted. */
function importCycles(modules: Map<string, Module>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of modules.get(v)!.imports) {
      if (!modules.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const v of modules.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

const modules = readModules();

test("the source tree is read: modules and their imports", () => {
  assert.ok(modules.size > 100, `${modules.size} modules`);
  const master = modules.get("master/master.ts");
  assert.ok(master && master.imports.length > 5, "master/master.ts and its imports");
  assert.ok(modules.get("api/http/core.ts")?.imports.some((i) => i.startsWith("api/")));
});

test("the cycle finder finds a cycle", () => {
  const m = (path: string, imports: string[]): [string, Module] => [path, { path, text: "", imports }];
  assert.deepEqual(importCycles(new Map([m("a.ts", ["b.ts"]), m("b.ts", ["c.ts"]), m("c.ts", ["a.ts"]), m("d.ts", ["a.ts"])])), [["a.ts", "b.ts", "c.ts"]]);
  assert.deepEqual(importCycles(new Map([m("a.ts", ["b.ts"]), m("b.ts", [])])), []);
});

test("no import cycle among the modules of src/", () => {
  assert.deepEqual(importCycles(modules), []);
});

test("the HTTP layer imports neither logical units nor node calls: handlers read and submit", () => {
  const crossings = [...modules.values()]
    .filter((m) => m.path.startsWith("api/"))
    .flatMap((m) => m.imports.filter((i) => i.startsWith("ops/") || i.startsWith("rpc/")).map((i) => `${m.path} → ${i}`));
  assert.deepEqual(crossings, []);
});

test(`a source file over ${MAX_LINES} lines says why in its first comment`, () => {
  const unexplained = [...modules.values()].filter((m) => {
    const lines = m.text.split("\n");
    if (lines.length <= MAX_LINES) return false;
    const head = lines.slice(0, lines.findIndex((l) => !l.startsWith("//"))).join(" ");
    return !/\b(over|just over) \d+ lines\b/i.test(head);
  });
  assert.deepEqual(unexplained.map((m) => `${m.path} (${m.text.split("\n").length} lines)`), []);
});

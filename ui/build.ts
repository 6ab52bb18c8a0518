// Builds the web console into ui/dist with esbuild: the Preact app (TypeScript/JSX) with noVNC
// and xterm.js bundled into one script, one stylesheet, and the page. Run by
// scripts/install.sh; the master serves ui/dist under /ui/ (src/api/ui/mount.ts).
// `node ui/build.ts --watch` rebuilds on change while working on the console.

import { build, context, type BuildOptions } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");

const options: BuildOptions = {
  entryPoints: { app: join(here, "src", "main.tsx") },
  bundle: true,
  format: "esm",
  // noVNC awaits at module level (its H.264 probe): ES2022 modules have top-level await.
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  minify: true,
  sourcemap: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: out,
  logLevel: "warning",
  legalComments: "linked",
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
if (process.argv.includes("--watch")) {
  await (await context(options)).watch();
} else {
  await build(options);
}

// Suites that drive real programs (Ganeti's clients, htools, ansible, nft, dnsmasq) find them
// where Debian installs them, and decide in one place what a missing one means: outside CI the
// suite is skipped (a developer's machine may lack them), with CI=true it is replaced by one
// failing test naming what is missing, so CI can never be green while skipping what it claims
// to test.

import assert from "node:assert/strict";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { describe, test } from "node:test";

/** With CI=true a missing tool fails the run instead of skipping the suite. */
export const IN_CI = process.env.CI === "true";

/**
 * Where Debian puts the programs the suites use, besides $PATH: ganeti-htools-3.0 installs its
 * binaries under /usr/lib/ganeti/3.0/usr/bin (only Ganeti's own alternatives link them into
 * /usr/bin), and ip/nft/dnsmasq live in sbin directories that a non-root $PATH lacks.
 */
const DEBIAN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/lib/ganeti/3.0/usr/bin"];

function canAccess(file: string, mode: number): boolean {
  try {
    accessSync(file, mode);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of an executable, looked up in $PATH and then Debian's directories. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter((d) => d !== ""), ...DEBIAN_DIRS];
  return dirs.map((d) => join(d, name)).find((f) => canAccess(f, constants.X_OK));
}

export interface Needs {
  /** Executables, by name. */
  tools?: readonly string[];
  /** Files that a package installs (a Python module), with the package that has them. */
  files?: readonly { path: string; package: string }[];
  /** The suite changes network namespaces and runs nft/dnsmasq for real. */
  root?: boolean;
}

export interface Requirement {
  /** What is missing, in words ("hscan", "root", "… (python3-ganeti-rapi)"); empty when all is there. */
  readonly missing: readonly string[];
  /** The absolute path of a required tool; only valid when nothing is missing. */
  path(tool: string): string;
  /** describe() that runs when all is there, else skips (outside CI) or fails (CI=true). */
  describe(name: string, fn: () => void): void;
  /** test() likewise. */
  test(name: string, fn: () => Promise<void> | void): void;
}

export function requireTools(needs: Needs): Requirement {
  const paths = new Map<string, string>();
  const missing: string[] = [];
  for (const tool of needs.tools ?? []) {
    const found = findTool(tool);
    if (found) paths.set(tool, found);
    else missing.push(tool);
  }
  for (const f of needs.files ?? []) if (!canAccess(f.path, constants.R_OK)) missing.push(`${f.path} (${f.package})`);
  if (needs.root && process.getuid?.() !== 0) missing.push("root");
  const why = `missing: ${missing.join(", ")}`;
  const failing = (name: string) => test(`${name}: has what it needs`, () => assert.fail(`${why} (CI=true, so this is a failure, not a skip)`));
  return {
    missing,
    path(tool) {
      const p = paths.get(tool);
      if (!p) throw new Error(`${tool} is not installed`);
      return p;
    },
    describe(name, fn) {
      if (missing.length === 0) describe(name, fn);
      else if (IN_CI) failing(name);
      else describe(name, { skip: why }, fn);
    },
    test(name, fn) {
      if (missing.length === 0) test(name, fn);
      else if (IN_CI) failing(name);
      else test(name, { skip: why }, fn);
    },
  };
}

/** Several requirements as one: the first with something missing decides, else the suite runs. */
export function allOf(...reqs: readonly Pick<Requirement, "missing" | "describe">[]): Pick<Requirement, "missing" | "describe"> {
  return reqs.find((r) => r.missing.length > 0) ?? reqs[reqs.length - 1];
}

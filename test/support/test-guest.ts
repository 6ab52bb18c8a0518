// The test guest (scripts/test-guest.sh) for suites that boot real QEMU: where it is, and what
// its absence means. scripts/test.sh builds it before the suite and exports its directory in
// CORRAL_TEST_GUEST; a test file run by hand builds (or finds) it through the script itself.
// Like tools.ts: outside CI a missing QEMU or a guest that did not build skips the suite, with
// CI=true it is one failing test saying why.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { IN_CI, requireTools } from "./tools.ts";

export const TEST_GUEST_ENV = "CORRAL_TEST_GUEST";
const BUILD_SCRIPT = fileURLToPath(new URL("../../scripts/test-guest.sh", import.meta.url));

export interface TestGuest {
  dir: string;
  kernel: string;
  initrd: string;
}

function guestIn(dir: string): TestGuest | undefined {
  const guest = { dir, kernel: join(dir, "vmlinuz"), initrd: join(dir, "initramfs.cpio.gz") };
  return existsSync(guest.kernel) && existsSync(guest.initrd) ? guest : undefined;
}

/** The guest named by CORRAL_TEST_GUEST, else the one the build script builds or finds. */
export async function findTestGuest(): Promise<TestGuest> {
  const named = process.env[TEST_GUEST_ENV];
  if (named) {
    // Set but wrong is a broken set-up, not a reason to build somewhere else.
    const guest = guestIn(named);
    if (!guest) throw new Error(`${TEST_GUEST_ENV}=${named} holds no vmlinuz and initramfs.cpio.gz`);
    return guest;
  }
  const dir = await new Promise<string>((resolve, reject) => {
    // A first build downloads a kernel package (about 70 MB) and takes 10-30 s.
    execFile("bash", [BUILD_SCRIPT], { timeout: 600_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`scripts/test-guest.sh failed: ${stderr.trim().split("\n").slice(-5).join(" | ") || err.message}`));
      else resolve(stdout.trim().split("\n").at(-1) ?? "");
    });
  });
  const guest = guestIn(dir);
  if (!guest) throw new Error(`scripts/test-guest.sh printed '${dir}', which holds no guest`);
  return guest;
}

export interface GuestRequirement {
  /** What is missing, in words; empty when QEMU and the guest are there. */
  readonly missing: readonly string[];
  /** The guest; only valid when nothing is missing. */
  readonly guest: TestGuest;
  /** The absolute path of qemu-system-x86_64 or qemu-img. */
  path(tool: "qemu-system-x86_64" | "qemu-img"): string;
  /** describe() that runs when all is there, else skips (outside CI) or fails (CI=true). */
  describe(name: string, fn: () => void): void;
}

/** QEMU (Debian's qemu-system-x86 and qemu-utils) and the test guest, built if need be. */
export async function requireTestGuest(): Promise<GuestRequirement> {
  const tools = requireTools({ tools: ["qemu-system-x86_64", "qemu-img"] });
  const missing = [...tools.missing];
  let guest: TestGuest | undefined;
  // Without QEMU there is nothing to boot: do not spend a build on it.
  if (missing.length === 0) {
    try {
      guest = await findTestGuest();
    } catch (e) {
      missing.push(`the test guest (${(e as Error).message})`);
    }
  }
  const why = `missing: ${missing.join(", ")}`;
  return {
    missing,
    get guest() {
      if (!guest) throw new Error(why);
      return guest;
    },
    path: (tool) => tools.path(tool),
    describe(name, fn) {
      if (missing.length === 0) describe(name, fn);
      else if (IN_CI) test(`${name}: has what it needs`, () => assert.fail(`${why} (CI=true, so this is a failure, not a skip)`));
      else describe(name, { skip: why }, fn);
    },
  };
}

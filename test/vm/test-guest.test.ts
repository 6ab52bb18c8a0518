// The test guest (scripts/test-guest.sh) under raw QEMU, without Corral: it boots under TCG,
// reports its disk and NIC, takes its knobs from the kernel command line, sees a disk grow,
// and powers off on an ACPI power button. The kvm hypervisor's tests rely on exactly these
// markers, so this is where a broken guest shows up first.

import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { requireTestGuest } from "../support/test-guest.ts";

const qemu = await requireTestGuest();

const DISK_BYTES = 64 << 20;
const GROWN_BYTES = 96 << 20;
const MAC = "52:54:00:c0:44:01";
const IP = "192.0.2.10/24";
/** Under TCG a boot takes 8-12 s on an idle 2-core machine (QEMU-FACTS §4); more when busy. */
const BOOT_TIMEOUT_MS = 90_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends commands over QMP one by one and resolves with their answers: greeting, then
 * qmp_capabilities, then each command with an id (events may come before an answer and are
 * skipped). Only what this test needs; Corral's QMP client lives in src/node/hypervisor.
 */
function qmp(socket: string, commands: readonly { execute: string; arguments?: object }[], timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    const answers: unknown[] = [];
    let buffered = "";
    let greeted = false;
    const timer = setTimeout(() => fail(new Error(`QMP: no answer within ${timeoutMs} ms (${answers.length} answers so far)`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      conn.destroy();
      reject(e);
    };
    const send = (msg: object) => conn.write(`${JSON.stringify(msg)}\n`);
    const next = () => {
      const i = answers.length; // answers[0] is qmp_capabilities'
      if (i > commands.length) {
        clearTimeout(timer);
        conn.destroy();
        resolve(answers.slice(1));
      } else send(i === 0 ? { execute: "qmp_capabilities", id: 0 } : { ...commands[i - 1], id: i });
    };
    conn.on("error", fail);
    conn.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === "") continue;
        const msg = JSON.parse(line) as { QMP?: unknown; event?: string; id?: number; return?: unknown; error?: { desc: string } };
        if (msg.QMP !== undefined && !greeted) {
          greeted = true;
          next();
        } else if (msg.event === undefined && msg.id === answers.length) {
          if (msg.error) return fail(new Error(`QMP command ${msg.id}: ${msg.error.desc}`));
          answers.push(msg.return);
          next();
        }
      }
    });
  });
}

qemu.describe("the test guest under raw QEMU (TCG)", () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let spawnedAt: number;
  let diskMd5: string;
  const consoleLog = () => {
    try {
      return readFileSync(join(dir, "console.log"), "utf8");
    } catch {
      return ""; // QEMU has not created it yet
    }
  };
  const qemuLog = () => readFileSync(join(dir, "qemu.log"), "utf8").trim();

  /** Polls the console log until `pattern` appears; fails early if QEMU is gone. */
  async function waitForConsole(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(consoleLog());
      if (m) return m;
      if (child?.exitCode !== null || child?.signalCode !== null) {
        assert.fail(`QEMU exited before ${pattern} appeared. QEMU: ${qemuLog()}\nconsole:\n${consoleLog()}`);
      }
      if (Date.now() > deadline) assert.fail(`no ${pattern} within ${timeoutMs} ms. console:\n${consoleLog()}`);
      await sleep(200);
    }
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "corral-guest-"));
    const disk = join(dir, "disk.raw");
    execFileSync(qemu.path("qemu-img"), ["create", "-q", "-f", "raw", disk, String(DISK_BYTES)]);
    // Content the guest's md5 must match: a pattern in the first MiB, zeros after.
    const head = Buffer.alloc(1 << 20);
    for (let i = 0; i < head.length; i++) head[i] = (i * 7 + 3) & 0xff;
    const fd = openSync(disk, "r+");
    writeFileSync(fd, head);
    closeSync(fd);
    diskMd5 = createHash("md5").update(readFileSync(disk)).digest("hex");

    const log = openSync(join(dir, "qemu.log"), "w");
    spawnedAt = Date.now();
    child = spawn(
      qemu.path("qemu-system-x86_64"),
      [
        "-name", "corral-test-guest", "-accel", "tcg", "-machine", "pc", "-nodefaults", "-display", "none",
        "-m", "256", "-smp", "1",
        "-qmp", `unix:${join(dir, "qmp.sock")},server=on,wait=off`,
        "-chardev", `socket,id=ser0,path=${join(dir, "serial.sock")},server=on,wait=off,logfile=${join(dir, "console.log")}`,
        "-serial", "chardev:ser0",
        "-drive", `file=${disk},format=raw,if=none,id=disk0`,
        "-device", "virtio-blk-pci,drive=disk0,id=vd0",
        // restrict=on: the guest can reach nothing outside QEMU.
        "-netdev", "user,id=net0,restrict=on",
        "-device", `virtio-net-pci,netdev=net0,id=nic0,mac=${MAC}`,
        "-kernel", qemu.guest.kernel, "-initrd", qemu.guest.initrd,
        "-append", `console=ttyS0 quiet corral.ip=${IP} corral.md5=1 corral.dirty=8 corral.rate=4`,
      ],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    const proc = child;
    exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
  });

  after(async () => {
    const pid = child?.pid;
    if (pid !== undefined && child?.exitCode === null && child.signalCode === null) {
      // Kill only the QEMU this test started: the pid must still be it.
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        // already gone
      }
      if (cmdline.includes(join(dir, "qmp.sock"))) {
        process.kill(pid, "SIGKILL");
        await exited;
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("boots: markers, its disk and NIC, the knobs' results", async (t) => {
    const ready = await waitForConsole(/^CORRAL_READY uptime=([\d.]+)$/m, BOOT_TIMEOUT_MS);
    t.diagnostic(`spawn -> CORRAL_READY ${((Date.now() - spawnedAt) / 1000).toFixed(1)} s (guest uptime ${ready[1]} s)`);
    const log = consoleLog();
    assert.match(log, /^CORRAL_BOOT uptime=[\d.]+$/m);
    assert.doesNotMatch(log, /CORRAL_\w+_FAIL/);
    assert.match(log, new RegExp(`^CORRAL_DISK vda sectors=${DISK_BYTES / 512}$`, "m"));
    assert.match(log, new RegExp(`^CORRAL_NIC eth0 mac=${MAC}$`, "m"));
    assert.match(log, new RegExp(`^CORRAL_NET eth0 ip=${IP}$`, "m"));
    assert.match(log, new RegExp(`^CORRAL_MD5 vda ${diskMd5}$`, "m"));
    // Everything above is reported before READY.
    assert.ok(log.indexOf("CORRAL_MD5") < log.indexOf("CORRAL_READY"));
  });

  it("runs the dirtier and beats every 2 s", async () => {
    await waitForConsole(/^CORRAL_DIRTIER_START mb=8 rate=4$/m, 10_000);
    await waitForConsole(/^CORRAL_HB n=2 uptime=[\d.]+$/m, 10_000);
  });

  it("sees its disk grow (block_resize)", async () => {
    await qmp(join(dir, "qmp.sock"), [{ execute: "block_resize", arguments: { device: "disk0", size: GROWN_BYTES } }]);
    await waitForConsole(new RegExp(`^CORRAL_DISK_RESIZED vda sectors=${GROWN_BYTES / 512}$`, "m"), 10_000);
  });

  it("powers off on system_powerdown, saying so first", async () => {
    await qmp(join(dir, "qmp.sock"), [{ execute: "system_powerdown" }]);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 30_000, "still running after 30 s")))]);
    clearTimeout(timer); // a pending timer would hold the test process open
    assert.equal(code, 0, `QEMU: ${qemuLog()}`);
    assert.match(consoleLog(), /^CORRAL_POWERDOWN uptime=[\d.]+$/m);
  });
});

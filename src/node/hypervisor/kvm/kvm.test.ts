// The kvm driver against real QEMU under TCG with Corral's test guest (scripts/test-guest.sh).
// Boots are ~10 s each on 2 cores, so one booted VM serves several checks in order.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { after, before } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { requireTools, IN_CI } from "../../../../test/support/tools.ts";
import type { InstanceSpec } from "../../../rpc/calls.ts";
import { NodeAgent } from "../../agent/agent.ts";
import { diskSpec, instanceSpec } from "../../testkit.ts";
import type { HvEvent } from "../hypervisor.ts";
import { KvmHypervisor } from "./kvm.ts";
import { instanceFiles } from "./process.ts";

const tools = requireTools({ tools: ["qemu-system-x86_64"] });
const BOOT_MS = 60_000;

/** The test guest's directory (vmlinuz, initramfs.cpio.gz), built on first use. */
function testGuest(): string {
  return execFileSync(join(import.meta.dirname, "../../../../scripts/test-guest.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** A TCP port ≥ 5900 (a VNC display) that nothing listens on now. */
async function freeVncPort(): Promise<number> {
  for (let port = 5900 + 50 + (process.pid % 500); ; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer().once("error", () => resolve(false)).listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Console lines matching `pattern` after character `from`. */
async function consoleMatches(file: string, pattern: RegExp, from = 0): Promise<number> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.slice(from).split("\n").filter((l) => pattern.test(l)).length;
}

/** What `stream` sent until its text (latin1) matches `pattern`; fails after `timeoutMs` or at its end. */
function readUntil(stream: Duplex, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (pattern.test(text)) done();
    };
    const onEnd = () => done(new Error(`the stream ended before ${pattern}; it sent ${JSON.stringify(text.slice(-200))}`));
    const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms; the stream sent ${JSON.stringify(text.slice(-200))}`)), timeoutMs);
    function done(err?: Error) {
      clearTimeout(timer);
      stream.off("data", onData).off("end", onEnd).off("error", done);
      if (err) reject(err);
      else resolve(text);
    }
    stream.on("data", onData).once("end", onEnd).once("error", done);
  });
}

/** The RFB greeting a VNC console stream starts with (then closed). */
async function rfbGreeting(stream: Duplex): Promise<string> {
  try {
    return await readUntil(stream, /\n/, 5000);
  } finally {
    stream.destroy();
  }
}

/** Pids of live processes started with `pidfile` (to prove nothing is left behind). */
function qemusWithPidfile(pidfile: string): number[] {
  const out = execFileSync("ps", ["-eo", "pid=,stat="], { encoding: "utf8" });
  return out.split("\n").map((l) => l.trim().split(/\s+/)).filter(([pid, stat]) => pid && !stat.startsWith("Z")).map(([pid]) => Number(pid)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(pidfile);
    } catch {
      return false;
    }
  });
}

tools.describe("kvm hypervisor with real QEMU (TCG)", () => {
  let root: string;
  let guest: string;
  let hv: KvmHypervisor;
  const events: HvEvent[] = [];
  const drivers: KvmHypervisor[] = [];

  const newDriver = () => {
    const d = new KvmHypervisor({ stateDir: join(root, "kvm"), defaultAccelerator: "tcg" });
    d.onEvent((e) => events.push(e));
    drivers.push(d);
    return d;
  };
  const nextEvent = (instance: string, since: number, timeoutMs: number) =>
    waitFor(`an event of ${instance}`, timeoutMs, () => events.slice(since).find((e) => e.instance === instance));

  function spec(name: string, hvparams: Record<string, unknown> = {}, over: Partial<InstanceSpec> = {}): InstanceSpec {
    return instanceSpec({
      name, hypervisor: "kvm", uuid: "6c1b0a52-2f7e-4c57-9f0e-0f6d5c2a9e11", nics: [], disks: [], network_port: null,
      hvparams: {
        kvm_path: tools.path("qemu-system-x86_64"), kernel_path: join(guest, "vmlinuz"), initrd_path: join(guest, "initramfs.cpio.gz"),
        kernel_args: "quiet", root_path: "", serial_console: true, serial_speed: 115200, acpi: true, ...hvparams,
      },
      beparams: { maxmem: 128, minmem: 128, vcpus: 1 },
      ...over,
    });
  }
  const startSpec = (instance: InstanceSpec, paths: string[] = []) =>
    ({ instance, memory: 128, vcpus: 1, disks: paths.map((path) => ({ path, uris: [] })), paused: false });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "ckvm-"));
    try {
      guest = testGuest();
    } catch (err) {
      if (IN_CI) throw err;
      throw new Error(`the test guest could not be built: ${(err as Error).message}`);
    }
    hv = newDriver();
  });

  after(async () => {
    // Whatever a failed test left running: stopped by the driver (checked pids only).
    for (const d of drivers) {
      for (const vm of await d.listInstances().catch(() => [])) await d.stop(vm.name, true).catch(() => undefined);
      await d.close().catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  });

  const vm1 = "vm1.example.com";
  let vncPort: number;
  let disk0: string;

  tools.test("starts a VM: the guest boots, VNC answers RFB, info and node facts show it", async () => {
    vncPort = await freeVncPort();
    disk0 = join(root, "disk0.raw");
    await truncate(disk0, 0).catch(() => undefined);
    await writeFile(disk0, "");
    await truncate(disk0, 64 * 1024 * 1024);
    const t0 = Date.now();
    const running = await hv.start(startSpec(spec(vm1, { vnc_bind_address: "127.0.0.1" }, { network_port: vncPort, disks: [diskSpec({ uuid: "d0d0d0d0-0000-4000-8000-000000000000" })] }), [disk0]));
    const spawnMs = Date.now() - t0;
    assert.equal(running.state, "running");
    assert.equal(running.memory, 128);
    const files = instanceFiles(join(root, "kvm"), vm1);
    await waitFor("CORRAL_READY", BOOT_MS, () => consoleMatches(files.console, /CORRAL_READY/));
    console.log(`# start() ${spawnMs} ms, CORRAL_READY after ${Date.now() - t0} ms`);
    assert.match(await readFile(files.console, "utf8"), /CORRAL_DISK vda sectors=131072/);

    const info = await hv.instanceInfo(vm1);
    assert.equal(info?.state, "running");
    assert.equal(info?.id, running.id);
    assert.deepEqual((await hv.listInstances()).map((i) => i.name), [vm1]);
    const node = await hv.nodeInfo();
    assert.equal(node.memory_instances, 128);
    assert.ok(node.memory_free < node.memory_total - 128, JSON.stringify(node));

    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = connect(vncPort, "127.0.0.1");
      socket.once("data", (data) => (socket.destroy(), resolve(data.toString("latin1"))));
      socket.once("error", reject);
    });
    assert.match(greeting, /^RFB \d{3}\.\d{3}/);
    assert.deepEqual(hv.console(spec(vm1, { vnc_bind_address: "127.0.0.1", serial_console: false }, { network_port: vncPort }), "node1"),
      { instance: vm1, kind: "vnc", host: "127.0.0.1", port: vncPort, display: vncPort - 5900 });
    const serial = hv.console(spec(vm1), "node1");
    assert.equal(serial.kind, "ssh");
    assert.equal(serial.host, "node1");
    assert.ok(serial.command?.some((c) => c === `UNIX-CONNECT:${files.serial}`), JSON.stringify(serial));
  });

  tools.test("the agent's console channel reaches the VM's private VNC display and its serial console, one serial client at a time", async () => {
    const agent = new NodeAgent({ stateDir: join(root, "agent"), nodeName: "node1", hypervisors: [hv] });
    const files = instanceFiles(join(root, "kvm"), vm1);
    assert.ok(existsSync(files.vnc), "the console display's socket is in the instance's directory");
    assert.equal(await rfbGreeting(await agent.openConsole(vm1, "vnc")), "RFB 003.008\n");
    const serial = await agent.openConsole(vm1, "serial");
    try {
      // The console starts with its history: the boot marker, long printed, comes first.
      const seen = await readUntil(serial, /CORRAL_HB n=\d+/, 10_000); // printed every 2 s
      assert.match(seen, /CORRAL_BOOT uptime=/);
      await assert.rejects(agent.openConsole(vm1, "serial"), (err: Error) =>
        (assert.equal(err.message, `The serial console of instance ${vm1} is in use by another client (QEMU serves one at a time)`), true));
    } finally {
      serial.destroy();
    }
    const again = await waitFor("the serial console to be free again", 5000, () => agent.openConsole(vm1, "serial").catch(() => null));
    again.destroy();
    await assert.rejects(agent.openConsole("vm-none.example.com", "vnc"), /^Error: Instance vm-none\.example\.com is not running on node node1$/);
  });

  tools.test("a soft reboot resets the guest, which boots again", async () => {
    const files = instanceFiles(join(root, "kvm"), vm1);
    const from = (await readFile(files.console, "utf8")).length;
    await hv.softReboot(vm1);
    await waitFor("CORRAL_READY after the reset", BOOT_MS, () => consoleMatches(files.console, /CORRAL_READY/, from));
    assert.equal((await hv.instanceInfo(vm1))?.state, "running");
  });

  tools.test("resizeDisk grows a disk the guest then sees, and refuses a shrink", async () => {
    const files = instanceFiles(join(root, "kvm"), vm1);
    const from = (await readFile(files.console, "utf8")).length;
    await hv.resizeDisk(vm1, 0, { path: disk0, uris: [] }, 128);
    await waitFor("CORRAL_DISK_RESIZED", 10_000, () => consoleMatches(files.console, /CORRAL_DISK_RESIZED vda sectors=262144/, from));
    await assert.rejects(hv.resizeDisk(vm1, 0, { path: disk0, uris: [] }, 64), /Refusing to shrink disk 0 .* from 128 MiB to 64 MiB/);
  });

  tools.test("hotplugs a disk into the running guest and unplugs it", async () => {
    const files = instanceFiles(join(root, "kvm"), vm1);
    const extra = join(root, "disk1.raw");
    await writeFile(extra, "");
    await truncate(extra, 32 * 1024 * 1024);
    const disk = diskSpec({ uuid: "d1d1d1d1-0000-4000-8000-000000000001" });
    const from = (await readFile(files.console, "utf8")).length;
    await hv.hotplugDisk(vm1, "add", 1, disk, { path: extra, uris: [] });
    await waitFor("CORRAL_DISK_ADDED", 10_000, () => consoleMatches(files.console, /CORRAL_DISK_ADDED vdb sectors=65536/, from));
    await hv.hotplugDisk(vm1, "remove", 1, disk, null);
    await waitFor("CORRAL_DISK_REMOVED", 10_000, () => consoleMatches(files.console, /CORRAL_DISK_REMOVED vdb/, from));
  });

  tools.test("a new driver on the same state dir re-adopts the running VM", async () => {
    const pid = (await hv.instanceInfo(vm1))!.id;
    await hv.close();
    hv = newDriver();
    const info = await hv.instanceInfo(vm1);
    assert.equal(info?.id, pid);
    assert.equal(info?.state, "running");
    assert.ok((info?.uptime ?? 0) > 5, `uptime ${info?.uptime}`);
    assert.equal(await rfbGreeting(await hv.openConsole(vm1, "vnc")), "RFB 003.008\n", "the adopted VM's console display");
  });

  tools.test("failed starts (taken VNC port, missing kernel, missing disk) carry QEMU's message and leave nothing behind", async () => {
    const cases: [string, InstanceSpec, string[], RegExp][] = [
      ["vm-badvnc", spec("vm-badvnc", { vnc_bind_address: "127.0.0.1" }, { network_port: vncPort }), [], /Failed to start instance vm-badvnc: .*(Address already in use|Failed to start VNC server)/],
      ["vm-badkernel", spec("vm-badkernel", { kernel_path: join(root, "no-such-kernel") }), [], /could not open kernel file .*no-such-kernel/],
      ["vm-baddisk", spec("vm-baddisk", {}, { disks: [diskSpec()] }), [join(root, "no-such-disk")], /Could not open .*no-such-disk/],
    ];
    for (const [name, instance, disks, message] of cases) {
      await assert.rejects(hv.start(startSpec(instance, disks)), (err: Error) => (assert.match(err.message, message), true));
      const files = instanceFiles(join(root, "kvm"), name);
      assert.deepEqual(qemusWithPidfile(files.pidfile), [], `${name}: no QEMU left`);
      for (const f of [files.pidfile, files.qmp, files.serial, files.vnc, files.runtime]) assert.ok(!existsSync(f), `${name}: ${f} left behind`);
      assert.equal(await hv.instanceInfo(name), null);
    }
  });

  tools.test("a soft stop powers the guest off over ACPI; the exit is reported as requested and cleaned up", async () => {
    const since = events.length;
    const files = instanceFiles(join(root, "kvm"), vm1);
    await hv.stop(vm1, false);
    await waitFor("the VM to exit", 20_000, async () => (await hv.instanceInfo(vm1)) === null);
    const event = await nextEvent(vm1, since, 2000);
    assert.equal(event.kind, "stopped");
    assert.match(event.detail, /^requested/);
    assert.match(await readFile(files.console, "utf8"), /CORRAL_POWERDOWN/);
    // vnc.sock too, which QEMU leaves behind even when it exits cleanly.
    for (const f of [files.pidfile, files.qmp, files.serial, files.vnc, files.runtime]) assert.ok(!existsSync(f), `${f} left behind`);
    assert.ok(existsSync(files.console), "the console history stays");
  });

  tools.test("kill -9 of QEMU is reported as crashed within a second and cleaned up", async () => {
    const name = "vm-kill";
    const running = await hv.start(startSpec(spec(name)));
    const files = instanceFiles(join(root, "kvm"), name);
    await assert.rejects(hv.openConsole(name, "vnc"), /^Error: Instance vm-kill has no VNC console \(its hvparam vnc_bind_address is not set\)$/);
    const since = events.length;
    // Our own QEMU only: the pid must be the process started with this instance's pidfile.
    assert.ok(readFileSync(`/proc/${running.id}/cmdline`, "utf8").split("\0").includes(files.pidfile));
    const killedAt = Date.now();
    process.kill(running.id, "SIGKILL");
    const event = await nextEvent(name, since, 1000);
    console.log(`# crashed event after ${Date.now() - killedAt} ms`);
    assert.equal(event.kind, "crashed");
    assert.equal(await hv.instanceInfo(name), null);
    for (const f of [files.pidfile, files.qmp, files.serial, files.runtime]) assert.ok(!existsSync(f), `${f} left behind`);
  });

  tools.test("a guest that powers itself off: stopped/guest-shutdown, or user-down with user_shutdown", async () => {
    const since = events.length;
    await hv.start(startSpec(spec("vm-off", { kernel_args: "quiet corral.poweroff=1" })));
    await hv.start(startSpec(spec("vm-user", { kernel_args: "quiet corral.poweroff=1", user_shutdown: true })));
    const off = await nextEvent("vm-off", since, BOOT_MS + 10_000);
    assert.deepEqual([off.kind, off.detail], ["stopped", "guest-shutdown"]);
    assert.equal(await hv.instanceInfo("vm-off"), null);
    const user = await nextEvent("vm-user", since, BOOT_MS + 10_000);
    assert.deepEqual([user.kind, user.detail], ["user-down", "guest-shutdown"]);
    assert.equal((await hv.instanceInfo("vm-user"))?.state, "shutdown");
    await hv.stop("vm-user", false); // already off: the kept QEMU is ended
    assert.equal(await hv.instanceInfo("vm-user"), null);
  });

  tools.test("migrates a running VM to a second driver over loopback (precopy), heartbeat and console continue there", async () => {
    const name = "vm-mig";
    const target = new KvmHypervisor({ stateDir: join(root, "kvm-target"), defaultAccelerator: "tcg" });
    drivers.push(target);
    const port = await freeVncPort(); // any free port will do
    // VNC on a unix socket: both QEMUs on this one host can have it (a TCP port would be taken).
    const instance = spec(name, { migration_port: port, vnc_bind_address: join(root, "vm-mig-vnc.sock") });
    await hv.start(startSpec(instance));
    const sourceFiles = instanceFiles(join(root, "kvm"), name);
    await waitFor("CORRAL_BOOT", BOOT_MS, () => consoleMatches(sourceFiles.console, /CORRAL_BOOT/));
    const info = await hv.migrationInfo(name);
    await target.acceptInstance(instance, info, [], { storage: false, tls: false });
    assert.equal(await target.instanceInfo(name), null, "an incoming VM is not listed yet");
    const t0 = Date.now();
    await hv.migrate(name, "127.0.0.1", { live: true, bandwidth: 0, downtime: 300 });
    const status = await waitFor("the migration to end", 60_000, async () => {
      const s = (await hv.migrationStatus(name, 0)).status;
      return s === "active" ? null : s;
    });
    console.log(`# migration ${status} after ${Date.now() - t0} ms`);
    assert.equal(status, "completed");
    // Past the switch-over the source must not resume: the target runs the guest already.
    await assert.rejects(hv.finalizeMigrationSource(name, false), /its migration completed, the target runs it/);
    // A target agent that restarts before the job finalizes it takes the guest over as running.
    await target.close();
    const target2 = new KvmHypervisor({ stateDir: join(root, "kvm-target"), defaultAccelerator: "tcg" });
    drivers.push(target2);
    assert.equal((await target2.instanceInfo(name))?.state, "running");
    await target2.finalizeMigrationDst(instance, info, true);
    await hv.finalizeMigrationSource(name, true);
    assert.equal(await hv.instanceInfo(name), null);
    assert.ok(!existsSync(sourceFiles.vnc), "the source's console display is gone");
    assert.equal((await target2.instanceInfo(name))?.state, "running");
    const targetFiles = instanceFiles(join(root, "kvm-target"), name);
    await waitFor("a heartbeat on the target", BOOT_MS, () => consoleMatches(targetFiles.console, /CORRAL_HB/));
    assert.ok(existsSync(targetFiles.vnc), "the target's console display is in its own directory");
    assert.equal(await rfbGreeting(await target2.openConsole(name, "vnc")), "RFB 003.008\n");
    await target2.stop(name, true);
    assert.equal(await target2.instanceInfo(name), null);
  });

  tools.test("a migration target left waiting by an agent that died is removed by the next driver", async () => {
    const name = "vm-ghost";
    const dir = join(root, "kvm-ghost");
    const first = new KvmHypervisor({ stateDir: dir, defaultAccelerator: "tcg" });
    drivers.push(first);
    const instance = spec(name, { migration_port: await freeVncPort() });
    await first.acceptInstance(instance, JSON.stringify({ memory: 128, vcpus: 1, slots: {} }), [], { storage: false, tls: false });
    await first.close(); // as an agent killed mid-migration: its QEMU waits on
    const files = instanceFiles(dir, name);
    assert.equal(qemusWithPidfile(files.pidfile).length, 1, "the incoming QEMU outlived its driver");
    const second = new KvmHypervisor({ stateDir: dir, defaultAccelerator: "tcg" });
    drivers.push(second);
    assert.equal(await second.instanceInfo(name), null);
    await waitFor("the ghost QEMU to be gone", 10_000, () => qemusWithPidfile(files.pidfile).length === 0);
    assert.equal(existsSync(files.runtime), false);
    assert.equal(existsSync(files.pidfile), false);
  });
});
